package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers/sandbox"
)

// cliCtx is cli with the caller's context (cancelled like SIGTERM).
func (h *harness) cliCtx(ctx context.Context, sub string, args ...string) (string, string, int) {
	h.t.Helper()
	all := append([]string{sub, "--config", h.cfg, "--ledger", h.db, "--report-dir", h.rep}, args...)
	var out, errOut syncBuffer
	code := execute(ctx, all, bytes.NewReader(nil), &out, &errOut)
	return out.String(), errOut.String(), code
}

// batches lists the ledger's batch IDs ("" and no error if there is no
// ledger file).
func (h *harness) batchIDs() []string {
	h.t.Helper()
	if _, err := os.Stat(h.db); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var ids []string
	h.withDB(func(db *ledger.DB) {
		bs, err := db.Batches(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		for _, b := range bs {
			ids = append(ids, b.ID)
		}
	})
	return ids
}

// TestInterruptedRunAdvice: SIGTERM while KiotaPay lines are being sent.
// The summary says the lines never sent need `payroll run`; settle says so
// too and sends nothing; run sends exactly the rest.
func TestInterruptedRunAdvice(t *testing.T) {
	h := newHarness(t, sandbox.Options{FailRule: func(string, string) bool { return false }}, knobs{rate: 4})
	sheet := tzs(1, 12)
	path := h.writeSheet("tz-nov.csv", sheet)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { // SIGTERM once some lines went out, at 4 a second
		for ctx.Err() == nil {
			if _, kp := h.sends(); kp >= 3 {
				cancel()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	out, errOut, code := h.cliCtx(ctx, "run", "--wait", "10s", path)
	cancel()
	if code != exitInterrupted {
		t.Fatalf("interrupted run: exit %d, want 130\n%s%s", code, out, errOut)
	}
	_, kp := h.sends()
	if kp == 0 || kp >= len(sheet) {
		t.Fatalf("%d of %d lines sent before the interruption; the test needs some of each", kp, len(sheet))
	}
	if !strings.Contains(out, "never sent: run `payroll run tz-nov.csv` again") {
		t.Errorf("summary after the interruption does not say run finishes the rest:\n%s", out)
	}
	if strings.Contains(out, "still pending: run `payroll settle") {
		t.Errorf("summary sends the operator to settle for lines never sent:\n%s", out)
	}
	// status gives the same advice.
	if out, _ := h.mustCode(exitOK, "status", "tz-nov"); !strings.Contains(out, "never sent: run `payroll run tz-nov.csv` again") ||
		!strings.Contains(out, "never sent: payroll run sends it") {
		t.Errorf("status does not say run sends the lines never sent:\n%s", out)
	}
	// settle: waits for what was sent, says what it cannot do, sends nothing.
	out, errOut, code = h.cli("settle", "--wait", "10s", "tz-nov")
	if code != exitPending {
		t.Errorf("settle: exit %d, want 5 (lines never sent are still pending)\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "settle never sends a payout: `payroll run tz-nov.csv`") {
		t.Errorf("settle does not say that run sends the rest:\n%s", errOut)
	}
	if _, kp2 := h.sends(); kp2 != kp {
		t.Errorf("settle sent %d requests", kp2-kp)
	}
	// run: sends exactly the lines never sent.
	h.mustCode(exitOK, "run", "--wait", "20s", path)
	if _, kp3 := h.sends(); kp3 != len(sheet) {
		t.Errorf("%d KiotaPay sends in all, want %d (one per line)", kp3, len(sheet))
	}
	h.checkTruth("tz-nov", truthOpts{})
}

// TestKiotaPayReferencePerAttempt: the referenceId sent to KiotaPay is
// new for every attempt: two months of the same employees and a retry
// never repeat one, and none is the bare employee reference.
func TestKiotaPayReferencePerAttempt(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	oct := tzs(1, 3)
	nov := tzs(1, 3) // same references and phones, next month's amounts
	for i := range nov {
		nov[i].amount = strconv.Itoa(200000 + 1000*i)
	}
	nov[2].phone = "0652300999" // fails at the sandbox (the 999 rule)
	h.mustCode(exitOK, "run", "--wait", "20s", h.writeSheet("oct.csv", oct))
	h.mustCode(exitUnsettled, "run", "--wait", "20s", h.writeSheet("nov.csv", nov))
	h.sb.SetFailRule(func(string, string) bool { return false })
	h.mustCode(exitOK, "retry", "--yes", "--wait", "20s", "nov")

	seen := map[string]bool{}
	truth := h.sb.Truth()
	if len(truth) != 7 {
		t.Fatalf("%d payouts, want 7 (3 + 3 + 1 retry)", len(truth))
	}
	for _, p := range truth {
		ref := p.ClientReference
		switch {
		case ref == "":
			t.Errorf("payout %s sent without a referenceId", p.Reference)
		case seen[ref]:
			t.Errorf("referenceId %s sent twice", ref)
		case strings.HasPrefix(ref, "T0"):
			t.Errorf("referenceId %s is the employee reference", ref)
		case len(ref) > 36:
			t.Errorf("referenceId %s is longer than 36 characters", ref)
		}
		seen[ref] = true
	}
	// The ledger stored each one with its attempt.
	stored := map[string]bool{}
	for _, id := range []string{"oct", "nov"} {
		for _, rec := range h.lines(id) {
			for _, a := range rec.Attempts {
				stored[a.ClientRef] = true
			}
		}
	}
	for ref := range seen {
		if !stored[ref] {
			t.Errorf("referenceId %s is in no attempt of the ledger", ref)
		}
	}
	if v := h.sb.Violations(); len(v) > 0 {
		t.Errorf("sandbox violations: %+v", v)
	}
}

// TestReportPathGuard: a report that would overwrite the sheet (the batch
// ID is the file name, --report-dir its folder) stops the run before the
// ledger is touched.
func TestReportPathGuard(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	path := h.writeSheet("nov-staff.csv", kes(1, 3))
	before, _ := os.ReadFile(path)
	all := []string{"run", "--config", h.cfg, "--ledger", h.db, "--report-dir", h.dir, "--wait", "5s", path}
	var out, errOut syncBuffer
	code := execute(t.Context(), all, bytes.NewReader(nil), &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), "would overwrite") {
		t.Errorf("exit %d, want 2 naming the overwrite\n%s", code, errOut.String())
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the sheet was overwritten")
	}
	if ids := h.batchIDs(); len(ids) != 0 {
		t.Errorf("batches %v left behind", ids)
	}
	if k2, kp := h.sends(); k2+kp != 0 {
		t.Errorf("%d requests sent", k2+kp)
	}
	// The ledger as a report path is refused the same way.
	h.db = filepath.Join(h.rep, "nov-staff.json")
	h.mustCode(exitUsage, "run", path)
}

// TestBatchIDRules: a bad explicit --batch is a usage error before
// anything; a derived ID is made safe; a derived ID that belongs to a batch
// of another file name is refused.
func TestBatchIDRules(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	path := h.writeSheet("nov.csv", kes(1, 2))
	for _, id := range []string{"../escape", "a/b", `a\b`, strings.Repeat("x", 300), "line\nbreak", "rtl\u202eexe", ".hidden", ""} {
		if id == "" {
			continue
		}
		_, errOut, code := h.cli("run", "--batch", id, path)
		if code != exitUsage || !strings.Contains(errOut, "batch ID must be") {
			t.Errorf("--batch %q: exit %d, want 2\n%s", id, code, errOut)
		}
	}
	if ids := h.batchIDs(); len(ids) != 0 {
		t.Errorf("batches %v created by refused IDs", ids)
	}
	// "nov staff.csv" and "nov_staff.csv" both derive nov_staff.
	a := h.writeSheet("nov staff.csv", kes(1, 2))
	h.mustCode(exitOK, "run", "--wait", "20s", a)
	b := h.writeSheet("nov_staff.csv", kes(10, 2))
	_, errOut, code := h.cli("run", "--wait", "20s", b)
	if code != exitUsage || !strings.Contains(errOut, "was imported from nov staff.csv") || !strings.Contains(errOut, "--batch") {
		t.Errorf("derived ID of another file: exit %d\n%s", code, errOut)
	}
	if ids := h.batchIDs(); len(ids) != 1 || ids[0] != "nov_staff" {
		t.Errorf("batches %v, want [nov_staff]", ids)
	}
	if k2, _ := h.sends(); k2 != 1 {
		t.Errorf("%d Kopo Kopo requests, want 1", k2)
	}
	// With --batch the second file is its own batch.
	h.mustCode(exitOK, "run", "--batch", "nov-staff-2", "--wait", "20s", b)
}

// TestPreflightLeavesNoBatch: whatever pre-flight finds wrong, the sheet
// never reaches the ledger and nothing is sent.
func TestPreflightLeavesNoBatch(t *testing.T) {
	cases := []struct {
		name  string
		setup func(h *harness) func()
		code  int
		say   string
	}{
		{"missing credentials", func(h *harness) func() {
			t.Setenv("KOPOKOPO_CLIENT_SECRET", "")
			return nil
		}, exitUsage, "missing credentials"},
		{"missing public_url", func(h *harness) func() {
			b, _ := os.ReadFile(h.cfg)
			s := strings.Replace(string(b), "public_url", "#public_url", 1)
			os.WriteFile(h.cfg, []byte(s), 0o600)
			return nil
		}, exitUsage, "callbacks.public_url is required"},
		{"report directory not writable", func(h *harness) func() {
			os.WriteFile(h.rep, []byte("a file where the directory should be"), 0o600)
			return nil
		}, exitError, "report directory"},
		{"callback port taken", func(h *harness) func() {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(h.port))
			if err != nil {
				t.Fatal(err)
			}
			return func() { ln.Close() }
		}, exitError, "cannot listen"},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "-"), func(t *testing.T) {
			h := newHarness(t, sandbox.Options{}, knobs{})
			path := h.writeSheet("nov.csv", kes(1, 3))
			if done := tc.setup(h); done != nil {
				defer done()
			}
			_, errOut, code := h.cli("run", "--wait", "5s", path)
			if code != tc.code || !strings.Contains(errOut, tc.say) {
				t.Errorf("exit %d, want %d saying %q\n%s", code, tc.code, tc.say, errOut)
			}
			if ids := h.batchIDs(); len(ids) != 0 {
				t.Errorf("batches %v left behind", ids)
			}
			if k2, kp := h.sends(); k2+kp != 0 {
				t.Errorf("%d requests sent", k2+kp)
			}
		})
	}
}

// TestDiskFullMidRun fills a small tmpfs under the ledger while a run
// sends: the ledger's error is the one reported, the summary is still
// printed, nobody is paid twice, and the lines whose acceptance could not
// be recorded are the in-flight requests only (they are unknown after the
// next open, never resent). Needs root (mount); skipped otherwise.
func TestDiskFullMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	mnt := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).Run(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	h := newHarness(t, sandbox.Options{FailRule: func(string, string) bool { return false }}, knobs{maxDest: 10})
	h.db = filepath.Join(mnt, "payroll.db")
	h.rep = filepath.Join(mnt, "reports")
	const n = 3000
	path := h.writeSheet("full.csv", kes(1, n))
	out, errOut, code := h.cli("run", "--wait", "20s", path)
	if code != exitError {
		t.Fatalf("exit %d, want 1 (disk full)\n%s%s", code, out, errOut)
	}
	t.Logf("first run:\n%s\n%s", out, lastLines(errOut, 6))
	if !strings.Contains(errOut, "no space left on device") {
		t.Errorf("the ledger's error is not reported:\n%s", errOut)
	}
	if !strings.Contains(out, "Batch full (full.csv)") {
		t.Errorf("no summary after the disk filled:\n%s", out)
	}
	// Free the disk (the reports were what could be dropped) and look.
	os.RemoveAll(h.rep)
	if err := exec.Command("mount", "-o", "remount,size=64m", mnt).Run(); err != nil {
		t.Fatal(err)
	}
	recs := h.lines("full")
	unknown := 0
	for _, rec := range recs {
		if rec.State == batch.StateUnknown {
			unknown++
		}
	}
	k2, _ := h.sends()
	t.Logf("disk full after %d requests: %d of %d lines unknown (accepted, outcome not recorded); at most %d requests of %d lines were in flight",
		k2, unknown, n, 4, 10)
	if unknown > 4*10 {
		t.Errorf("%d lines unknown: more than the requests in flight (4 × 10)", unknown)
	}
	// Re-running sends only what was never sent; nobody twice.
	out, errOut, code = h.cli("run", "--wait", "20s", path)
	if code != exitUnsettled {
		t.Errorf("re-run: exit %d, want 4 (unknown lines await resolve)\n%s%s", code, out, errOut)
	}
	h.checkTruth("full", truthOpts{unknownOK: allRefs(recs)})
}

func allRefs(recs []ledger.LineRecord) map[string]bool {
	m := map[string]bool{}
	for _, r := range recs {
		m[r.Ref] = true
	}
	return m
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(ls[max(0, len(ls)-n):], "\n")
}

// TestUsageErrorsAreTyped: cobra's own errors (an unknown command, a
// wrong number of arguments, an unknown flag) are usage errors by type,
// not by matching their text.
func TestUsageErrorsAreTyped(t *testing.T) {
	for _, args := range [][]string{
		{"pay"},                           // unknown command
		{"run"},                           // missing argument
		{"status", "a", "b"},              // too many
		{"validate", "--frobnicate", "x"}, // unknown flag
		{"resolve", "b", "r", "--paid"},   // no note
	} {
		_, errOut, code := run(t, args...)
		if code != exitUsage {
			t.Errorf("payroll %v: exit %d, want 2\n%s", args, code, errOut)
		}
		if !strings.HasPrefix(errOut, "payroll: ") {
			t.Errorf("payroll %v: stderr %q does not name the error", args, errOut)
		}
	}
}

// TestSettleInterruptedExits130: settle stopped by a signal while it
// waits exits 130 (state is safe), not 5.
func TestSettleInterruptedExits130(t *testing.T) {
	h := newHarness(t, sandbox.Options{ProcessingDelay: time.Hour}, knobs{poll: "1h"})
	path := h.writeSheet("wait.csv", kes(1, 2))
	h.mustCode(exitPending, "run", "--wait", "0", path)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(time.Second, cancel) // settle is waiting by then (poll_interval 1h)
	out, errOut, code := h.cliCtx(ctx, "settle", "--wait", "1m", "wait")
	if code != exitInterrupted {
		t.Errorf("interrupted settle: exit %d, want 130\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "interrupted: run settle again") {
		t.Errorf("stderr does not say how to go on:\n%s", errOut)
	}
}
