package ledger

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"payroll/batch"
)

// codecRecords are line records covering every field of the encoding.
func codecRecords() []*LineRecord {
	now := time.Date(2026, 11, 23, 10, 4, 5, 123456789, time.UTC)
	l := testLine(9)
	full := batch.Line{Row: 70000, Reference: "other", RefDerived: true, Name: "N", FirstName: "F", LastName: "L",
		Provider: "mpesa-x", Currency: "USD",
		Dest: batch.Destination{Type: "swift", Phone: "254711000111", Network: "Safaricom", BankBranchRef: "B1",
			AccountName: "AN", AccountNumber: "0123", TillNumber: "555", PaybillNumber: "888", PaybillAccount: "ACC-1"},
		Amount: batch.MustMoney("1,234,567.89"), Requested: batch.MustMoney("1234568.5"),
		Description: "d", Occasion: "o", Narration: "n", ServiceCode: "s"}
	changed := testLine(10)
	changed.Amount = batch.MustMoney("0.01")
	inv := &batch.InvalidRow{Row: 5, Reference: "R5", Amount: "abc", Reasons: []string{"amount: bad", "phone: bad"}}
	return []*LineRecord{
		{State: batch.StatePending, Ref: l.Reference, Line: l, Fingerprint: l.Fingerprint(), Created: now, Updated: now},
		{State: batch.StateInvalid, Ref: "row-5", Invalid: inv, Created: now, Updated: now.Add(time.Hour)},
		{State: batch.StateConflict, Ref: "x", Line: full, Fingerprint: full.Fingerprint(), Changed: &changed,
			ChangedInvalid: inv, Flags: []string{FlagSheetChanged, FlagMismatch}, ProviderRef: "loc/1", Receipt: "R",
			FailureReason: "why", Created: now, Updated: now.Add(time.Second),
			Attempts: []Attempt{
				{ID: "a1", Started: now, Ended: now.Add(time.Millisecond), Outcome: batch.OutcomeAccepted, ProviderRef: "loc/1", ClientRef: "py1-a1", Result: batch.StateFailed, Error: "e"},
				{ID: "a2", Started: now, Outcome: batch.OutcomeUnknown, Result: "odd"},
			}},
	}
}

// TestCodecRoundTrip: every field survives encoding (compared through
// JSON, which shows amounts and times as text).
func TestCodecRoundTrip(t *testing.T) {
	for i, r := range codecRecords() {
		v := encodeRecord(r)
		got, err := decodeRecord("b", 7, v)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if got.State != r.State || got.Fingerprint != r.Fingerprint || got.BatchID != "b" || got.Seq != 7 {
			t.Errorf("%d: header %v %q", i, got.State, got.Fingerprint)
		}
		want, _ := json.Marshal(r)
		have, _ := json.Marshal(got)
		if !bytes.Equal(want, have) {
			t.Errorf("%d:\n got %s\nwant %s", i, have, want)
		}
		if !got.Line.Amount.Equal(r.Line.Amount) || !got.Line.Requested.Equal(r.Line.Requested) {
			t.Errorf("%d: amounts %v %v", i, got.Line.Amount, got.Line.Requested)
		}
		if !bytes.Equal(encodeRecord(got), v) {
			t.Errorf("%d: re-encoding differs", i)
		}
		if h, err := peekRecord(v); err != nil || h.row != r.Row() {
			t.Errorf("%d: peek %+v %v", i, h, err)
		}
	}
}

// TestCodecCorrupt: truncated or damaged values are errors, never panics.
func TestCodecCorrupt(t *testing.T) {
	for _, r := range codecRecords() {
		v := encodeRecord(r)
		for n := range len(v) {
			if _, err := decodeRecord("b", 1, v[:n]); !isErr(err, ErrInvariant) {
				t.Fatalf("truncated to %d: err = %v", n, err)
			}
		}
		for i := hdrLen; i < len(v); i++ {
			w := bytes.Clone(v)
			w[i] ^= 0xff
			decodeRecord("b", 1, w) // must not panic
		}
		if _, err := decodeRecord("b", 1, append(bytes.Clone(v), 0)); !isErr(err, ErrInvariant) {
			t.Fatalf("trailing byte: err = %v", err)
		}
	}
}

func TestMoneyCents(t *testing.T) {
	for _, s := range []string{"0.01", "0.5", "12", "1000.00", "999999999999.99", "1,000.10"} {
		m := batch.MustMoney(s)
		c, ok := moneyCentsOf(m)
		if !ok || !moneyFromCents(c).Equal(m) || !moneyFromCents(-c).Equal(batch.Money{}.Sub(m)) {
			t.Errorf("%s: %d %v", s, c, ok)
		}
	}
}
