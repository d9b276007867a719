package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"payroll/ledger"
	"payroll/providers/sandbox"
)

// TestStatusWhileRunning: while a run holds the ledger and waits for
// results, status, report and check answer (through the running process)
// with a consistent snapshot, and a second writer is still refused.
func TestStatusWhileRunning(t *testing.T) {
	h := newHarness(t, sandbox.Options{ProcessingDelay: 8 * time.Second}, knobs{})
	path := h.writeSheet("slow.csv", append(kes(1, 30), tzs(1, 3)...))
	done := make(chan int, 1)
	var runOut string
	go func() {
		out, _, code := h.cli("run", "--wait", "30s", path)
		runOut = out
		done <- code
	}()
	// Wait until the run has sent everything and is waiting for results.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(liveSocket(h.db)); err == nil {
			k2, kp := h.sends()
			if k2 > 0 && kp == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the run never started waiting")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	out, errOut, code := h.cli("status", "slow")
	if code != exitOK {
		t.Fatalf("status during the run: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "33 lines") && !strings.Contains(out, "33") {
		t.Errorf("status during the run:\n%s", out)
	}
	if !strings.Contains(out, "accepted") {
		t.Errorf("status during the run shows no accepted line:\n%s", out)
	}
	t.Logf("status during the run:\n%s", out)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("status took %v", d)
	}
	// Writers still exclude each other.
	if _, errOut, code := h.cli("settle", "slow", "--wait", "1s"); code != exitLocked {
		t.Errorf("settle during the run: exit %d, want %d\n%s", code, exitLocked, errOut)
	}
	out, errOut, code = h.cli("status")
	if code != exitOK || !strings.Contains(out, "slow") {
		t.Errorf("status (all batches) during the run: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = h.cli("check")
	if code != exitOK || !strings.Contains(out, "chain intact") {
		t.Errorf("check during the run: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = h.cli("report", "slow", "--format", "csv")
	if code != exitOK {
		t.Errorf("report during the run: exit %d\n%s%s", code, out, errOut)
	}
	rows := h.reportRows("slow")
	if len(rows) != 33 {
		t.Errorf("report during the run has %d rows", len(rows))
	}
	select {
	case <-done:
		t.Fatal("the run ended before the checks did: they did not run during its wait")
	default:
	}
	if code := <-done; code != exitOK {
		t.Fatalf("the run: exit %d\n%s", code, runOut)
	}
	if _, err := os.Stat(liveSocket(h.db)); err == nil {
		t.Error("the socket outlived the run")
	}
	// With nobody holding the ledger, status opens it itself.
	h.mustCode(exitOK, "status", "slow")
	_ = ledger.JournalPath
}
