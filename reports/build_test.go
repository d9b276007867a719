package reports

import (
	"slices"
	"strings"
	"testing"
	"time"

	"payroll/batch"
)

func TestRowOf(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	paid := batch.Line{Row: 3, Reference: "EMP1", Name: "Achieng Barasa", Provider: batch.KopoKopo, Currency: batch.KES,
		Amount: batch.MustMoney("2000"), Requested: batch.MustMoney("2000"),
		Dest: batch.Destination{Type: batch.MobileWallet, Phone: "254712345678"}}
	changed := paid
	changed.Amount, changed.Dest.Phone = batch.MustMoney("2500"), "254712345679"
	for _, tc := range []struct {
		name  string
		view  batch.LineView
		check func(t *testing.T, r Row)
	}{
		{"paid, then changed in the sheet", batch.LineView{Row: 4, Ref: "EMP1", Line: paid, State: batch.StatePaid, Attempts: 1,
			ProviderRef: "https://sandbox.kopokopo.com/api/v2/send_money/3f782963-1da0-4787-a4b5-77a4d41bdf07", Receipt: "QCL1",
			Flags: []string{"corrected"}, SheetChanged: true, Changed: &changed, SentAt: at, SettledAt: at.Add(time.Minute), Updated: at},
			func(t *testing.T, r Row) {
				if r.Row != 4 || r.Status != StatusPaid || r.ProviderReference != "3f782963-1da0-4787-a4b5-77a4d41bdf07" {
					t.Errorf("row %d status %s reference %s", r.Row, r.Status, r.ProviderReference)
				}
				if !slices.Equal(r.Flags, []string{"corrected", FlagSheetChanged}) || !r.SheetAmount.Equal(batch.MustMoney("2500")) {
					t.Errorf("flags %v sheet_amount %s", r.Flags, r.SheetAmount)
				}
				if !strings.Contains(r.FailureReason, "the sheet now says 254712345679 2500.00") || !r.Amount.Equal(paid.Amount) {
					t.Errorf("failure_reason %q amount %s: want what was paid, and the sheet's new values", r.FailureReason, r.Amount)
				}
			}},
		{"accepted shows pending, awaiting", batch.LineView{Line: paid, State: batch.StateAccepted, SentAt: at},
			func(t *testing.T, r Row) {
				if r.Status != StatusPending || !r.Awaiting || r.SentAt.IsZero() {
					t.Errorf("%+v", r)
				}
			}},
		{"never sent", batch.LineView{Line: paid, State: batch.StatePending},
			func(t *testing.T, r Row) {
				if r.Status != StatusPending || r.Awaiting || !r.SentAt.IsZero() {
					t.Errorf("%+v", r)
				}
			}},
		{"invalid", batch.LineView{Row: 9, Ref: "row-9", State: batch.StateInvalid,
			Invalid: &batch.InvalidRow{Row: 9, Amount: "1e4", Currency: "KES", Reasons: []string{"amount: exponent", "phone: invalid"}}},
			func(t *testing.T, r Row) {
				if r.Status != StatusInvalid || r.AmountText != "1e4" || r.FailureReason != "amount: exponent; phone: invalid" {
					t.Errorf("%+v", r)
				}
			}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "-"), func(t *testing.T) { tc.check(t, RowOf(&tc.view)) })
	}
}

func TestVerdict(t *testing.T) {
	rows := func(st ...Status) *Report {
		r := &Report{}
		for _, s := range st {
			r.Rows = append(r.Rows, Row{Status: s})
		}
		return r
	}
	changed := rows(StatusPaid)
	changed.Rows[0].Flags = []string{FlagSheetChanged}
	for _, tc := range []struct {
		r    *Report
		want Verdict
	}{
		{rows(StatusPaid, StatusCancelled), AllPaid},
		{rows(StatusPaid, StatusFailed), Unsettled},
		{rows(StatusPaid, StatusInvalid), Unsettled},
		{changed, Unsettled},
		{rows(StatusUnknown, StatusPending), Pending},
	} {
		if got := tc.r.Verdict(); got != tc.want {
			t.Errorf("%v: verdict %d, want %d", tc.r.Rows, got, tc.want)
		}
	}
}
