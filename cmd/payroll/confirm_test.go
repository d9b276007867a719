package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"payroll/providers/sandbox"
)

// asTerminal makes stdin count as a terminal for the test.
func asTerminal(t *testing.T) {
	old := stdinIsTerminal
	stdinIsTerminal = func(io.Reader) bool { return true }
	t.Cleanup(func() { stdinIsTerminal = old })
}

func (h *harness) cliInput(input string, sub string, args ...string) (string, string, int) {
	h.t.Helper()
	all := append([]string{sub, "--config", h.cfg, "--ledger", h.db, "--report-dir", h.rep}, args...)
	var out, errOut syncBuffer
	code := execute(h.t.Context(), all, bytes.NewReader([]byte(input)), &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestRunAsksOnATerminal: on a terminal run shows what it will pay and
// asks; "no" sends nothing (exit 130) and the next run asks again; --yes
// and a non-terminal stdin (cron) do not ask.
func TestRunAsksOnATerminal(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	path := h.writeSheet("month.csv", append(kes(1, 3), tzs(1, 2)...))
	asTerminal(t)
	out, _, code := h.cliInput("n\n", "run", "--wait", "10s", path)
	if code != exitInterrupted {
		t.Fatalf("declined: exit %d\n%s", code, out)
	}
	for _, want := range []string{"About to pay 5 lines", "kopokopo", "kiotapay", "total", "Pay them now? [y/N]", "Nothing was sent"} {
		if !strings.Contains(out, want) {
			t.Errorf("the question lacks %q:\n%s", want, out)
		}
	}
	if k2, kp := h.sends(); k2+kp != 0 {
		t.Fatalf("declined, yet %d requests were sent", k2+kp)
	}
	out, _, code = h.cliInput("y\n", "run", "--wait", "10s", path)
	if code != exitOK || !strings.Contains(out, "Pay them now?") {
		t.Fatalf("confirmed: exit %d\n%s", code, out)
	}
	if k2, kp := h.sends(); k2 == 0 || kp != 2 {
		t.Errorf("confirmed: %d Kopo Kopo and %d KiotaPay requests", k2, kp)
	}
	// Nothing left to pay: nothing to ask.
	out, _, code = h.cliInput("", "run", "--wait", "5s", path)
	if code != exitOK || strings.Contains(out, "Pay them now?") {
		t.Errorf("settled batch: exit %d\n%s", code, out)
	}
	path2 := h.writeSheet("month2.csv", kes(10, 2))
	out, _, code = h.cliInput("", "run", "--yes", "--wait", "10s", path2)
	if code != exitOK || strings.Contains(out, "Pay them now?") {
		t.Errorf("--yes: exit %d\n%s", code, out)
	}
	stdinIsTerminal = func(io.Reader) bool { return false }
	path3 := h.writeSheet("month3.csv", kes(20, 2))
	out, _, code = h.cliInput("", "run", "--wait", "10s", path3)
	if code != exitOK || strings.Contains(out, "Pay them now?") {
		t.Errorf("no terminal: exit %d\n%s", code, out)
	}
}
