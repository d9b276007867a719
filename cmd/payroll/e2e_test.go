package main

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"payroll/batch"
	"payroll/providers/kopokopo"
	"payroll/providers/sandbox"
)

// TestE2ERunAgainstTruth pays 122 KES lines (3 Kopo Kopo chunks) and 5
// TZS lines (KiotaPay, one request each) on a sandbox the test owns, two of
// them failing, and checks the ledger and the report against the
// sandbox's record of truth. A re-run of the settled batch sends nothing
// and exits the same way.
func TestE2ERunAgainstTruth(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	sheet := kes(1, 120)
	sheet = append(sheet, row{"KFAIL1", "Fail One", "0712300999", "1500", "KES"})
	sheet = slices.Insert(sheet, 40, row{"KFAIL2", "Fail Two", "0712301999", "2500", "KES"})
	sheet = append(sheet, tzs(1, 4)...)
	sheet = slices.Insert(sheet, 10, row{"TFAIL", "Halima Massawe", "0652300999", "250000", "TZS"})
	path := h.writeSheet("nov.csv", sheet)

	out, _ := h.mustCode(exitUnsettled, "run", "--wait", "30s", path)
	if !strings.Contains(out, "Batch nov imported") {
		t.Errorf("stdout does not name the import:\n%s", out)
	}
	k2, kp := h.sends()
	if k2 != 3 || kp != 5 {
		t.Errorf("sends: kopokopo %d (want 3 chunks), kiotapay %d (want 5)", k2, kp)
	}
	recs := h.checkTruth("nov", truthOpts{})
	rows := h.checkReport("nov", sheet)
	if got := statuses(rows); got["paid"] != len(sheet)-3 || got["failed"] != 3 || len(got) != 2 {
		t.Errorf("statuses %v, want %d paid and 3 failed", got, len(sheet)-3)
	}
	for _, rec := range recs {
		want := batch.StatePaid
		if strings.Contains(rec.Ref, "FAIL") {
			want = batch.StateFailed
		}
		if rec.State != want {
			t.Errorf("line %s: %s, want %s", rec.Ref, rec.State, want)
		}
		if rec.State == batch.StatePaid && rec.Receipt == "" {
			t.Errorf("line %s: paid without a receipt", rec.Ref)
		}
		if len(rec.Attempts) != 1 {
			t.Errorf("line %s: %d attempts", rec.Ref, len(rec.Attempts))
		}
		// The report shows Kopo Kopo's request id, the ledger keeps the
		// Location it polls.
		wantRef := rec.ProviderRef
		if rec.Line.Provider == batch.KopoKopo {
			wantRef = kopokopo.ReferenceFromLocation(rec.ProviderRef)
		}
		if r := rows[rec.Ref]; r["provider_reference"] != wantRef || r["receipt"] != rec.Receipt {
			t.Errorf("line %s: report reference/receipt %q/%q, ledger %q/%q", rec.Ref, r["provider_reference"], r["receipt"], rec.ProviderRef, rec.Receipt)
		}
	}
	if st := h.sb.Stats(); st.Payouts != len(sheet) || st.Paid != len(sheet)-3 || st.Failed != 3 {
		t.Errorf("sandbox: %d payouts, %d paid, %d failed", st.Payouts, st.Paid, st.Failed)
	}

	// Re-run of the settled batch: nothing sent, same exit code.
	out, _ = h.mustCode(exitUnsettled, "run", "--wait", "30s", path)
	if !strings.Contains(out, "re-imported: 0 new, "+strconv.Itoa(len(sheet))+" unchanged") {
		t.Errorf("re-run stdout:\n%s", out)
	}
	if k2b, kpb := h.sends(); k2b != k2 || kpb != kp {
		t.Errorf("re-run sent: kopokopo %d→%d, kiotapay %d→%d", k2, k2b, kp, kpb)
	}
	h.checkTruth("nov", truthOpts{})
	h.checkReport("nov", sheet)
}

// TestE2EAllPaidExitsZero runs the repository's sample sheet (wallets,
// bank accounts, tills, paybills, KES and TZS) with no failing
// destination: exit 0, everything paid exactly once.
func TestE2EAllPaidExitsZero(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	h.sb.SetFailRule(func(string, string) bool { return false })
	sample := filepath.Join(samplesDir, "payroll-2026-11.csv")
	h.mustCode(exitOK, "run", "--wait", "30s", sample)
	recs := h.checkTruth("payroll-2026-11", truthOpts{})
	if len(recs) != 40 {
		t.Fatalf("%d lines, want 40", len(recs))
	}
	for _, rec := range recs {
		if rec.State != batch.StatePaid {
			t.Errorf("line %s: %s", rec.Ref, rec.State)
		}
	}
	rows := h.reportRows("payroll-2026-11")
	if len(rows) != 40 || rows[0]["reference"] != "EMP0001" || rows[39]["reference"] != "EMP0034" {
		t.Errorf("report rows: %d, first %v", len(rows), rows[0])
	}
}

// TestE2ESampleWithFailures runs the sample sheet with the sandbox's
// default fail rule (numbers ending in 999 fail): exit 4 and the failures
// are exactly the sample's 999 numbers.
func TestE2ESampleWithFailures(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	sample := filepath.Join(samplesDir, "payroll-2026-11.csv")
	h.mustCode(exitUnsettled, "run", "--wait", "30s", sample)
	recs := h.checkTruth("payroll-2026-11", truthOpts{})
	var failed []string
	for _, rec := range recs {
		if rec.State == batch.StateFailed {
			failed = append(failed, rec.Ref)
		}
	}
	if want := []string{"EMP0006", "EMP0018", "EMP0033"}; !slices.Equal(failed, want) {
		t.Errorf("failed %v, want %v", failed, want)
	}
}
