package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"payroll/batch"
	"payroll/providers/sandbox"
)

// TestE2EExactlyOnceUnderFaults: a Kopo Kopo send that is accepted and
// then answered 500, and one accepted and then dropped, leave their lines
// unknown; the sandbox paid each at most once; re-runs never resend them;
// an operator resolves one paid and one failed; retry sends new attempts
// only for the conclusively failed lines; the final ledger is the truth.
func TestE2EExactlyOnceUnderFaults(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{maxDest: 2})
	a := []row{
		{"A1", "Alpha One", "0712400001", "1100", "KES"},
		{"A2", "Alpha Two", "0712400999", "1200", "KES"}, // the sandbox fails it
	}
	b := []row{
		{"B1", "Bravo One", "0712500001", "2100", "KES"},
		{"B2", "Bravo Two", "0712500002", "2200", "KES"},
	}
	c := []row{
		{"C1", "Charlie One", "0712600001", "3100", "KES"},
		{"D1", "Delta One", "0712600999", "3200", "KES"}, // fails conclusively
	}

	// 1. Accepted, then 500: A1 and A2 unknown.
	h.sb.SetFaults(sandbox.KopoKopo, sandbox.Faults{ErrorAfter: sandbox.Trigger{Next: 1}})
	path := h.writeSheet("faults.csv", a)
	h.mustCode(exitUnsettled, "run", "--wait", "10s", path)
	// 2. The sheet grows; the new chunk is accepted and dropped: B1, B2
	// unknown. A1 and A2 are not sent again.
	h.sb.SetFaults(sandbox.KopoKopo, sandbox.Faults{DropAfter: sandbox.Trigger{Next: 1}})
	path = h.writeSheet("faults.csv", append(append([]row{}, a...), b...))
	h.mustCode(exitUnsettled, "run", "--wait", "10s", path)
	// 3. No faults; the sheet grows again: C1 paid, D1 failed.
	h.sb.SetFaults(sandbox.KopoKopo, sandbox.Faults{})
	sheet := append(append(append([]row{}, a...), b...), c...)
	path = h.writeSheet("faults.csv", sheet)
	h.mustCode(exitUnsettled, "run", "--wait", "10s", path)

	unknown := map[string]bool{"A1": true, "A2": true, "B1": true, "B2": true}
	recs := h.checkTruth("faults", truthOpts{unknownOK: unknown})
	want := map[string]batch.State{"A1": batch.StateUnknown, "A2": batch.StateUnknown, "B1": batch.StateUnknown,
		"B2": batch.StateUnknown, "C1": batch.StatePaid, "D1": batch.StateFailed}
	for _, rec := range recs {
		if rec.State != want[rec.Ref] {
			t.Errorf("line %s: %s, want %s", rec.Ref, rec.State, want[rec.Ref])
		}
		if n := len(h.payoutsOf(rec.Line)); n != 1 {
			t.Errorf("line %s: %d sandbox payouts, want 1", rec.Ref, n)
		}
	}
	if k2, _ := h.sends(); k2 != 3 {
		t.Errorf("%d kopokopo sends, want 3 (one per chunk, no resend)", k2)
	}

	// A re-run sends nothing: unknown lines wait for proof.
	h.mustCode(exitUnsettled, "run", "--wait", "10s", path)
	if k2, _ := h.sends(); k2 != 3 {
		t.Errorf("re-run: %d kopokopo sends, want 3", k2)
	}
	out, _ := h.mustCode(exitOK, "resolve", "faults", "A1", "--paid", "--note", "K2 dashboard shows the transfer")
	if !strings.Contains(out, "resolved as paid") {
		t.Errorf("resolve stdout: %s", out)
	}
	h.mustCode(exitOK, "resolve", "faults", "A2", "--failed", "--note", "K2 dashboard shows it failed")
	// Resolving a line that is not unknown is a usage error.
	h.mustCode(exitUsage, "resolve", "faults", "C1", "--failed", "--note", "wrong line")
	h.mustCode(exitUsage, "resolve", "faults", "B1", "--paid") // no note
	var notes []string
	for _, ev := range h.events("faults") {
		if strings.Contains(ev.Cause+ev.Note, "K2 dashboard") {
			notes = append(notes, ev.Ref+" "+string(ev.To)+" "+ev.Cause+ev.Note)
		}
	}
	if len(notes) != 2 || !strings.HasPrefix(notes[0], "A1 paid") || !strings.HasPrefix(notes[1], "A2 failed") {
		t.Errorf("operator events: %q", notes)
	}

	// retry: new attempts for A2 (resolved failed) and D1 (failed), never
	// for the unknown B1, B2. This time the sandbox pays them.
	h.sb.SetFailRule(func(string, string) bool { return false })
	before := map[string]int{}
	for _, rec := range h.lines("faults") {
		before[rec.Ref] = len(h.payoutsOf(rec.Line))
	}
	out, _ = h.mustCode(exitUnsettled, "retry", "--yes", "--wait", "10s", "faults")
	if !strings.Contains(out, "2 lines will be sent again") {
		t.Errorf("retry stdout:\n%s", out)
	}
	for _, rec := range h.lines("faults") {
		got := len(h.payoutsOf(rec.Line))
		wantNew := 0
		if rec.Ref == "A2" || rec.Ref == "D1" {
			wantNew = 1
		}
		if got-before[rec.Ref] != wantNew {
			t.Errorf("retry: line %s got %d new payouts, want %d", rec.Ref, got-before[rec.Ref], wantNew)
		}
	}
	recs = h.checkTruth("faults", truthOpts{unknownOK: unknown})
	want = map[string]batch.State{"A1": batch.StatePaid, "A2": batch.StatePaid, "B1": batch.StateUnknown,
		"B2": batch.StateUnknown, "C1": batch.StatePaid, "D1": batch.StatePaid}
	for _, rec := range recs {
		if rec.State != want[rec.Ref] {
			t.Errorf("after retry: line %s: %s, want %s", rec.Ref, rec.State, want[rec.Ref])
		}
	}
	rows := h.checkReport("faults", sheet)
	if rows["A2"]["attempts"] != "2" || rows["D1"]["attempts"] != "2" || rows["C1"]["attempts"] != "1" {
		t.Errorf("report attempts: A2 %s, D1 %s, C1 %s", rows["A2"]["attempts"], rows["D1"]["attempts"], rows["C1"]["attempts"])
	}
	// Nothing left to retry: unknown lines never are.
	out, _ = h.mustCode(exitOK, "retry", "--yes", "faults")
	if !strings.Contains(out, "nothing to retry") {
		t.Errorf("second retry:\n%s", out)
	}
	// The operator settles the dropped chunk from the provider's records.
	h.mustCode(exitOK, "resolve", "faults", "B1", "--paid", "--note", "seen paid")
	h.mustCode(exitOK, "resolve", "faults", "B2", "--paid", "--note", "seen paid")
	h.mustCode(exitOK, "run", "--wait", "10s", path)
	if k2, _ := h.sends(); k2 != 4 {
		t.Errorf("%d kopokopo sends in all, want 4 (A2 and D1 retried in one chunk)", k2)
	}
	for _, rec := range h.checkTruth("faults", truthOpts{unknownOK: unknown}) {
		if rec.State != batch.StatePaid {
			t.Errorf("at the end: line %s: %s", rec.Ref, rec.State)
		}
	}
}

// TestE2ETransientFaults: 429 with Retry-After and 503 before accepting
// are retried in place; every line is accepted and paid exactly once.
func TestE2ETransientFaults(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{maxDest: 3})
	f := sandbox.Faults{RateLimited: sandbox.Trigger{Next: 2}, RetryAfter: 200 * time.Millisecond, Unavailable: sandbox.Trigger{Next: 1}}
	h.sb.SetFaults(sandbox.KopoKopo, f)
	h.sb.SetFaults(sandbox.KiotaPay, f)
	sheet := append(kes(1, 6), tzs(1, 3)...)
	path := h.writeSheet("transient.csv", sheet)
	start := time.Now()
	h.mustCode(exitOK, "run", "--wait", "20s", path)
	recs := h.checkTruth("transient", truthOpts{})
	for _, rec := range recs {
		if rec.State != batch.StatePaid || len(rec.Attempts) != 1 || len(h.payoutsOf(rec.Line)) != 1 {
			t.Errorf("line %s: %s, %d attempts, %d payouts", rec.Ref, rec.State, len(rec.Attempts), len(h.payoutsOf(rec.Line)))
		}
	}
	// 2 chunks + 3 refused for Kopo Kopo; 3 + 3 refused for KiotaPay.
	if k2, kp := h.sends(); k2 != 5 || kp != 6 {
		t.Errorf("sends: kopokopo %d (want 5), kiotapay %d (want 6)", k2, kp)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("the run took %v: Retry-After was not honoured", d)
	}
	h.checkReport("transient", sheet)
}

// TestE2ETokenExpiry: tokens of both providers expire every third
// authenticated request mid-batch; the clients fetch new ones and resend
// (a 401 proves nothing ran); every line is paid exactly once.
func TestE2ETokenExpiry(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{maxDest: 2})
	f := sandbox.Faults{ExpireTokens: sandbox.Trigger{Every: 3}}
	h.sb.SetFaults(sandbox.KopoKopo, f)
	h.sb.SetFaults(sandbox.KiotaPay, f)
	sheet := append(kes(1, 10), tzs(1, 6)...)
	path := h.writeSheet("tokens.csv", sheet)
	h.mustCode(exitOK, "run", "--wait", "20s", path)
	recs := h.checkTruth("tokens", truthOpts{})
	for _, rec := range recs {
		if rec.State != batch.StatePaid || len(h.payoutsOf(rec.Line)) != 1 {
			t.Errorf("line %s: %s, %d payouts", rec.Ref, rec.State, len(h.payoutsOf(rec.Line)))
		}
	}
	if st := h.sb.Stats(); st.Payouts != len(sheet) {
		t.Errorf("%d payouts for %d lines", st.Payouts, len(sheet))
	}
	h.checkReport("tokens", sheet)
}

// TestE2EPacing: KiotaPay's rate limit and the per-phone interval hold
// against a sandbox that enforces them: one phone paid three different
// amounts gets them at least per_phone_interval apart, and no send goes
// beyond the rate.
func TestE2EPacing(t *testing.T) {
	traffic := sandbox.Traffic{RateLimit: 12, Burst: 10, MinPhoneInterval: 250 * time.Millisecond}
	h := newHarness(t, sandbox.Options{KiotaPay: sandbox.KiotaPayOptions{Traffic: traffic}}, knobs{rate: 10, phone: "300ms"})
	sheet := tzs(1, 6)
	for i, amt := range []string{"110000", "120000", "130000"} {
		sheet = append(sheet, row{"SAME" + strconv.Itoa(i), "Rehema Mrema", "0652399001", amt, "TZS"})
	}
	path := h.writeSheet("pace.csv", sheet)
	h.mustCode(exitOK, "run", "--wait", "20s", path)
	h.checkTruth("pace", truthOpts{})
	st := h.sb.Stats()
	if st.KiotaPay.Sends != len(sheet) {
		t.Errorf("%d sends for %d lines", st.KiotaPay.Sends, len(sheet))
	}
	if st.KiotaPay.PhoneRepeats != 2 || st.KiotaPay.MinPhoneSpacing < 250*time.Millisecond {
		t.Errorf("one phone: %d repeats, closest %v apart", st.KiotaPay.PhoneRepeats, st.KiotaPay.MinPhoneSpacing)
	}
	if st.KiotaPay.MaxPerSecond > 15 {
		t.Errorf("%d sends in one second", st.KiotaPay.MaxPerSecond)
	}
}

// TestE2ERejectedChunkIsBisected: Kopo Kopo refuses every request (400:
// the till is not the account's); the runner splits each chunk down to
// single lines, each line fails conclusively with the provider's reason,
// nothing is paid, and a re-run sends nothing (only retry would).
func TestE2ERejectedChunkIsBisected(t *testing.T) {
	h := newHarness(t, sandbox.Options{KopoKopo: sandbox.KopoKopoOptions{SourceIdentifiers: []string{"9999"}}}, knobs{maxDest: 4})
	sheet := append(kes(1, 4), tzs(1, 1)...)
	path := h.writeSheet("reject.csv", sheet)
	h.mustCode(exitUnsettled, "run", "--wait", "10s", path)
	for _, rec := range h.checkTruth("reject", truthOpts{}) {
		want := batch.StateFailed
		if rec.Line.Provider == batch.KiotaPay {
			want = batch.StatePaid
		}
		if rec.State != want {
			t.Errorf("line %s: %s, want %s", rec.Ref, rec.State, want)
		}
		if want == batch.StateFailed && !strings.Contains(strings.ToLower(rec.FailureReason), "source identifier") {
			t.Errorf("line %s: failure reason %q does not say why", rec.Ref, rec.FailureReason)
		}
	}
	// 4 lines: the chunk, its 2 halves, their 4 single lines.
	k2, _ := h.sends()
	if k2 != 7 {
		t.Errorf("%d kopokopo sends, want 7", k2)
	}
	h.mustCode(exitUnsettled, "run", "--wait", "10s", path)
	if k2b, _ := h.sends(); k2b != k2 {
		t.Errorf("re-run resent failed lines: %d → %d", k2, k2b)
	}
	h.checkReport("reject", sheet)
}

// TestE2EKiotaPayLostResponses: a KiotaPay send accepted then answered
// 500, and one accepted then dropped, leave their lines unknown; re-runs
// never resend them; the other lines are paid once.
func TestE2EKiotaPayLostResponses(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	h.sb.SetFaults(sandbox.KiotaPay, sandbox.Faults{ErrorAfter: sandbox.Trigger{Next: 1}, DropAfter: sandbox.Trigger{Next: 1}})
	sheet := tzs(1, 5)
	path := h.writeSheet("kplost.csv", sheet)
	h.mustCode(exitUnsettled, "run", "--wait", "10s", path)
	var unknown []string
	for _, rec := range h.lines("kplost") {
		if rec.State == batch.StateUnknown {
			unknown = append(unknown, rec.Ref)
		}
	}
	if len(unknown) != 2 {
		t.Fatalf("unknown lines %v, want 2", unknown)
	}
	lost := map[string]bool{unknown[0]: true, unknown[1]: true}
	h.checkTruth("kplost", truthOpts{unknownOK: lost})
	_, kp := h.sends()
	h.mustCode(exitUnsettled, "run", "--wait", "10s", path)
	h.mustCode(exitOK, "retry", "--yes", "kplost")
	if _, kpb := h.sends(); kpb != kp || kp != 5 {
		t.Errorf("kiotapay sends %d, then %d after a re-run and a retry; want 5", kp, kpb)
	}
	for _, rec := range h.checkTruth("kplost", truthOpts{unknownOK: lost}) {
		if n := len(h.payoutsOf(rec.Line)); n != 1 {
			t.Errorf("line %s: %d payouts", rec.Ref, n)
		}
	}
}

// TestE2EInterruptedRunResumes: the run is interrupted while requests are
// in flight; it exits 130, the requests in flight are recorded, and a
// re-run pays the rest: everyone exactly once.
func TestE2EInterruptedRunResumes(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{maxDest: 2})
	h.sb.SetFaults(sandbox.KopoKopo, sandbox.Faults{Latency: 300 * time.Millisecond})
	sheet := kes(1, 16) // 8 chunks, 4 in flight
	path := h.writeSheet("intr.csv", sheet)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(150*time.Millisecond, cancel)
	var out, errOut syncBuffer
	code := execute(ctx, []string{"run", "--config", h.cfg, "--ledger", h.db, "--report-dir", h.rep, "--wait", "10s", path},
		bytes.NewReader(nil), &out, &errOut)
	if code != exitInterrupted {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitInterrupted, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "run the same command again to resume") {
		t.Errorf("stderr:\n%s", errOut.String())
	}
	states := map[batch.State]int{}
	for _, rec := range h.lines("intr") {
		states[rec.State]++
	}
	if states[batch.StateSending] != 0 || states[batch.StateUnknown] != 0 || states[batch.StatePending] == 0 {
		t.Errorf("after the interrupt: %v (want none sending or unknown, some pending)", states)
	}
	k2, _ := h.sends()
	h.mustCode(exitOK, "run", "--wait", "10s", path)
	k2b, _ := h.sends()
	if k2b-k2 != states[batch.StatePending]/2 {
		t.Errorf("the re-run sent %d requests for %d pending lines", k2b-k2, states[batch.StatePending])
	}
	for _, rec := range h.checkTruth("intr", truthOpts{}) {
		if rec.State != batch.StatePaid || len(rec.Attempts) != 1 {
			t.Errorf("line %s: %s, %d attempts", rec.Ref, rec.State, len(rec.Attempts))
		}
	}
	h.checkReport("intr", sheet)
}
