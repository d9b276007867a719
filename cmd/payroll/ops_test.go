package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers/sandbox"
)

// TestE2ELedgerBusy: while another holder has the ledger open, run and
// status exit 11 and nothing is sent.
func TestE2ELedgerBusy(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	path := h.writeSheet("busy.csv", kes(1, 2))
	db, err := ledger.Open(h.db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, errOut := h.mustCode(exitLocked, "run", "--wait", "5s", path)
	if !strings.Contains(errOut, "ledger busy") {
		t.Errorf("run stderr: %s", errOut)
	}
	h.mustCode(exitLocked, "status")
	h.mustCode(exitLocked, "settle", "--wait", "1s")
	if k2, kp := h.sends(); k2+kp != 0 {
		t.Errorf("sent %d+%d requests with the ledger busy", k2, kp)
	}
	db.Close()
	h.mustCode(exitOK, "run", "--wait", "10s", path)
	h.checkTruth("busy", truthOpts{})
}

// TestE2EInvalidSheet: one invalid row stops the run before anything is
// sent (exit 3); with --skip-invalid the valid rows are paid and the
// invalid one is reported as invalid (exit 4).
func TestE2EInvalidSheet(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	sheet := append(kes(1, 3), row{"BAD", "Bad Amount", "0712999001", "12.345", "KES"})
	sheet = append(sheet, tzs(1, 1)...)
	path := h.writeSheet("inv.csv", sheet)
	_, errOut := h.mustCode(exitInvalid, "run", "--wait", "10s", path)
	if !strings.Contains(errOut, "row 5") {
		t.Errorf("the error does not name the row:\n%s", errOut)
	}
	if st := h.sb.Stats(); st.KopoKopo.Sends+st.KiotaPay.Sends != 0 || st.Payouts != 0 {
		t.Errorf("an invalid sheet sent requests: %+v", st)
	}
	if _, err := os.Stat(h.db); err == nil {
		// The ledger may exist, but the batch must not have been sent.
		for _, rec := range h.lines("inv") {
			if rec.State != batch.StatePending && rec.State != batch.StateInvalid {
				t.Errorf("line %s: %s", rec.Ref, rec.State)
			}
		}
	}

	h.mustCode(exitUnsettled, "run", "--skip-invalid", "--wait", "10s", path)
	recs := h.checkTruth("inv", truthOpts{})
	if len(recs) != len(sheet) {
		t.Errorf("%d lines, sheet has %d rows", len(recs), len(sheet))
	}
	rows := h.checkReport("inv", sheet)
	if r := rows["BAD"]; r["status"] != "invalid" || r["failure_reason"] == "" || r["row"] != "5" {
		t.Errorf("invalid row in the report: %v", r)
	}
	if got := statuses(rows); got["paid"] != 4 || got["invalid"] != 1 {
		t.Errorf("statuses %v", got)
	}
}

// TestE2ECrossBatchDuplicate: the same sheet under another batch ID stops
// before sending (exit 3); with --allow-duplicates it pays.
func TestE2ECrossBatchDuplicate(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	sheet := append(kes(1, 3), tzs(1, 1)...)
	path := h.writeSheet("dup.csv", sheet)
	h.mustCode(exitOK, "run", "--wait", "10s", path)
	h.checkTruth("dup", truthOpts{})
	k2, kp := h.sends()

	_, errOut := h.mustCode(exitInvalid, "run", "--batch", "B", "--wait", "10s", path)
	if !strings.Contains(errOut, "batch dup") || !strings.Contains(errOut, "--allow-duplicates") {
		t.Errorf("duplicate stderr:\n%s", errOut)
	}
	if k2b, kpb := h.sends(); k2b != k2 || kpb != kp {
		t.Errorf("the duplicate batch sent: kopokopo %d→%d, kiotapay %d→%d", k2, k2b, kp, kpb)
	}
	// Running B again is refused again (its lines are still pending).
	h.mustCode(exitInvalid, "run", "--batch", "B", "--wait", "10s", path)

	// Paying the same people the same amounts again is legitimate here:
	// a fresh sandbox, so that its duplicate detector stays meaningful.
	h.useSandbox(sandbox.Options{Seed: 2})
	h.mustCode(exitOK, "run", "--batch", "B", "--allow-duplicates", "--wait", "10s", path)
	for _, rec := range h.checkTruth("B", truthOpts{}) {
		if rec.State != batch.StatePaid {
			t.Errorf("batch B line %s: %s", rec.Ref, rec.State)
		}
	}
	h.checkReport("B", sheet)
}

// TestE2EEditedSheetConflict: after a run, paid rows' amounts are changed
// in the sheet; the re-run records them as conflicts, does not pay them
// again, pays a newly added row, and exits 4 (it exited 0, "Every line is
// paid", before finalCode counted such rows as conflicts).
func TestE2EEditedSheetConflict(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	sheet := append(kes(1, 3), tzs(1, 2)...)
	path := h.writeSheet("edit.csv", sheet)
	h.mustCode(exitOK, "run", "--wait", "10s", path)
	edited := append([]row{}, sheet...)
	edited[1].amount = "9999"
	edited[3].amount = "777000"
	edited = append(edited, kes(50, 1)...)
	h.writeSheet("edit.csv", edited)
	k2, kp := h.sends()
	out, _ := h.mustCode(exitUnsettled, "run", "--wait", "10s", path)
	if !strings.Contains(out, "2 conflicts") || !strings.Contains(out, "conflict: row 3 (K0002)") {
		t.Errorf("re-run stdout:\n%s", out)
	}
	if k2b, kpb := h.sends(); k2b != k2+1 || kpb != kp {
		t.Errorf("sends: kopokopo %d→%d (want one for the new row), kiotapay %d→%d (want none)", k2, k2b, kp, kpb)
	}
	// The ledger keeps what really happened (paid: states never go back)
	// and records the sheet's new version beside it as a conflict.
	for _, rec := range h.checkTruth("edit", truthOpts{}) {
		if rec.State != batch.StatePaid {
			t.Errorf("line %s: %s, want paid", rec.Ref, rec.State)
		}
		changed := rec.Ref == "K0002" || rec.Ref == "T0001"
		if changed != rec.Flagged(ledger.FlagSheetChanged) || changed != (rec.Changed != nil) {
			t.Errorf("line %s: flags %v, changed %v", rec.Ref, rec.Flags, rec.Changed)
		}
		if n := len(h.sb.Payouts(rec.Line.Dest.Identity())); n != 1 {
			t.Errorf("line %s: %d payouts to its destination", rec.Ref, n)
		}
	}
	rows := h.checkReport("edit", edited)
	// The report shows the money that moved (paid, the old amount) and
	// says that the row as the sheet now has it was not paid.
	for _, ref := range []string{"K0002", "T0001"} {
		if r := rows[ref]; r["status"] != "paid" || !strings.Contains(r["failure_reason"], "changed in the sheet after it was sent") {
			t.Errorf("conflict row: %v", r)
		}
	}
	if r := rows["K0002"]; r["amount"] != "1020.00" {
		t.Errorf("K0002 reported as %s, paid 1020.00", r["amount"])
	}
	// A third run changes nothing and exits the same way.
	h.mustCode(exitUnsettled, "run", "--wait", "10s", path)
	if k2c, kpc := h.sends(); k2c != k2+1 || kpc != kp {
		t.Errorf("third run sent")
	}
}

// TestE2ELogsHideNumbersAndSecrets runs a batch with faults that make
// every code path log (retries, unknowns, refused and mismatched
// callbacks, failures) with --log-format json, then status, and checks
// that no output names a full phone number or any credential.
func TestE2ELogsHideNumbersAndSecrets(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{maxDest: 2, poll: "100ms"})
	f := sandbox.Faults{RateLimited: sandbox.Trigger{Next: 1}, RetryAfter: 50 * time.Millisecond, CallbackForged: sandbox.Trigger{Every: 2},
		CallbackWrongAmount: sandbox.Trigger{Every: 3}, ExpireTokens: sandbox.Trigger{Every: 4}}
	h.sb.SetFaults(sandbox.KopoKopo, f)
	h.sb.SetFaults(sandbox.KiotaPay, f)
	sheet := callbackSheet()
	path := h.writeSheet("logs.csv", sheet)
	var all strings.Builder
	collect := func(out, errOut string) {
		all.WriteString(out)
		all.WriteString(errOut)
	}
	collect(h.mustCode(exitUnsettled, "run", "--log-format", "json", "--wait", "10s", path))
	h.sb.SetFaults(sandbox.KopoKopo, sandbox.Faults{ErrorAfter: sandbox.Always})
	edited := append(append([]row{}, sheet...), row{"LATE", "Late Comer", "0712777111", "4321", "KES"})
	h.writeSheet("logs.csv", edited)
	collect(h.mustCode(exitUnsettled, "run", "--log-format", "json", "--wait", "10s", path))
	collect(h.mustCode(exitUnsettled, "retry", "--log-format", "json", "--yes", "--wait", "10s", "logs"))
	collect(h.mustCode(exitOK, "status", "--log-format", "json", "logs"))
	collect(h.mustCode(exitOK, "status", "--log-format", "json"))
	collect(h.mustCode(exitOK, "report", "--log-format", "json", "logs"))
	text := all.String()
	if !strings.Contains(text, `"level":"WARN"`) {
		t.Errorf("no warning logged: the test exercised nothing\n%s", text)
	}
	c := h.sb.Credentials()
	for _, s := range []string{c.KopoKopoClientID, c.KopoKopoClientSecret, c.KopoKopoAPIKey, c.KiotaPayAPIKey, c.KiotaPayAPISecret} {
		if strings.Contains(text, s) {
			t.Errorf("output contains a credential %q", s)
		}
	}
	full := regexp.MustCompile(`25[45]\d{9}`)
	for _, r := range edited {
		p, err := batch.ParsePhone(r.phone, map[string]string{"KES": "KE", "TZS": "TZ"}[r.currency])
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range []string{p.Digits(), r.phone, "+" + p.Digits()} {
			if strings.Contains(text, form) {
				t.Errorf("output contains the full number %s", form)
			}
		}
	}
	if m := full.FindAllString(text, -1); len(m) > 0 {
		t.Errorf("output contains 12-digit numbers: %v", m)
	}
}
