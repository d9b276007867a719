package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers/sandbox"
)

// buildBinary builds the payroll command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "payroll")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// procResult is the outcome of one payroll process.
type procResult struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// runBinary runs the built binary with the harness's config, ledger and
// report directory; the environment holds the sandbox's credentials.
func (h *harness) runBinary(bin, sub string, args ...string) procResult {
	h.t.Helper()
	all := append([]string{sub, "--config", h.cfg, "--ledger", h.db, "--report-dir", h.rep}, args...)
	cmd := exec.Command(bin, all...)
	cmd.Dir = h.dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := procResult{stdout: out.String(), stderr: errOut.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		h.t.Fatalf("%s: %v", sub, err)
	}
	return r
}

// totalRequests is every request the sandbox served, of any route.
func totalRequests(sb *sandbox.Sandbox) int {
	n := 0
	for _, v := range sb.Stats().Requests {
		n += v
	}
	return n
}

// TestBinaryOverlap runs the real binary: two `payroll run` processes of
// the same batch started together: exactly one proceeds and pays, the
// other exits 11 within a few seconds having sent nothing. A re-run of
// the settled batch makes no provider call at all. An edited sheet
// (amounts changed on paid lines) produces conflicts, not payments
// (exit 4, the sandbox's payouts unchanged).
func TestBinaryOverlap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	h := newHarness(t, sandbox.Options{}, knobs{maxDest: 5})
	// Slow sends, so that the two processes surely overlap.
	slow := sandbox.Faults{Latency: 300 * time.Millisecond}
	h.sb.SetFaults(sandbox.KopoKopo, slow)
	h.sb.SetFaults(sandbox.KiotaPay, slow)
	sheet := append(kes(1, 10), tzs(1, 3)...)
	path := h.writeSheet("overlap.csv", sheet)

	var wg sync.WaitGroup
	res := make([]procResult, 2)
	startGate := make(chan struct{})
	for i := range res {
		wg.Go(func() {
			<-startGate
			res[i] = h.runBinary(bin, "run", "--wait", "30s", path)
		})
	}
	close(startGate)
	wg.Wait()
	var winner, loser *procResult
	for i := range res {
		switch res[i].code {
		case exitOK:
			winner = &res[i]
		case exitLocked:
			loser = &res[i]
		}
	}
	if winner == nil || loser == nil {
		t.Fatalf("exits %d and %d, want one 0 and one 11\n1: %s\n%s\n2: %s\n%s", res[0].code, res[1].code,
			res[0].stdout, res[0].stderr, res[1].stdout, res[1].stderr)
	}
	if loser.took > 5*time.Second || loser.took >= winner.took {
		t.Errorf("the locked-out process took %v (the winner %v)", loser.took, winner.took)
	}
	if !strings.Contains(loser.stderr, "ledger busy") {
		t.Errorf("locked-out stderr: %s", loser.stderr)
	}
	t.Logf("overlap: winner exit 0 in %v, loser exit 11 in %v", winner.took.Round(time.Millisecond), loser.took.Round(time.Millisecond))
	recs := h.checkTruth("overlap", truthOpts{})
	for _, rec := range recs {
		if rec.State != batch.StatePaid || len(h.payoutsOf(rec.Line)) != 1 || len(rec.Attempts) != 1 {
			t.Errorf("line %s: %s, %d payouts, %d attempts", rec.Ref, rec.State, len(h.payoutsOf(rec.Line)), len(rec.Attempts))
		}
	}
	if st := h.sb.Stats(); st.KopoKopo.Sends != 2 || st.KiotaPay.Sends != 3 {
		t.Errorf("sends: kopokopo %d (want 2 chunks), kiotapay %d (want 3)", st.KopoKopo.Sends, st.KiotaPay.Sends)
	}

	// A re-run of the settled batch calls no provider at all.
	before := totalRequests(h.sb)
	if r := h.runBinary(bin, "run", "--wait", "30s", path); r.code != exitOK {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	if after := totalRequests(h.sb); after != before {
		t.Errorf("re-run of a settled batch made %d provider requests: %v", after-before, h.sb.Stats().Requests)
	}

	// Edited sheet: two paid lines change amount, one changes phone.
	payouts := len(h.sb.Truth())
	edited := append([]row{}, sheet...)
	edited[0].amount = "9999"
	edited[11].amount = "777000"
	edited[3].phone = "0712888888"
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	h.writeSheet("overlap.csv", edited)
	r := h.runBinary(bin, "run", "--wait", "30s", path)
	if r.code != exitUnsettled {
		t.Fatalf("edited sheet: exit %d, want %d\n%s\n%s", r.code, exitUnsettled, r.stdout, r.stderr)
	}
	if n := len(h.sb.Truth()); n != payouts {
		t.Errorf("edited sheet: sandbox payouts %d → %d", payouts, n)
	}
	conflicts := map[string]bool{}
	for _, rec := range h.lines("overlap") {
		// A sent line keeps its state (states only go forward), holds the
		// sheet's new version beside it and is flagged; the report shows
		// it as a conflict.
		if rec.State == batch.StateConflict || rec.Changed != nil {
			conflicts[rec.Ref] = true
			if !rec.Flagged(ledger.FlagSheetChanged) || rec.State != batch.StatePaid {
				t.Errorf("line %s: %s, flags %v, want paid and flagged %s", rec.Ref, rec.State, rec.Flags, ledger.FlagSheetChanged)
			}
		}
	}
	for _, i := range []int{0, 3, 11} {
		if !conflicts[edited[i].ref] {
			t.Errorf("line %s: not a conflict after its sheet row changed", edited[i].ref)
		}
	}
	if len(conflicts) != 3 {
		t.Errorf("conflicts %v, want 3", conflicts)
	}
	// The report keeps what happened (paid, at the old amount and
	// destination) and says the row changed after it was sent.
	for _, rw := range h.reportRows("overlap") {
		if conflicts[rw["reference"]] != (rw["flags"] == "sheet-changed" && strings.Contains(rw["failure_reason"], "changed in the sheet after it was sent")) {
			t.Errorf("report row %s: status %s, failure_reason %q", rw["reference"], rw["status"], rw["failure_reason"])
		}
	}
	if st := h.sb.Stats(); st.KopoKopo.Sends != 2 || st.KiotaPay.Sends != 3 {
		t.Errorf("after the edited sheet: sends kopokopo %d, kiotapay %d", st.KopoKopo.Sends, st.KiotaPay.Sends)
	}
}
