package ledger

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
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
		r.BatchID, r.Seq = "b", 7
		v := encodeRecord(r)
		got, err := decodeRecord(testBkt, 7, v)
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
		if h, err := peekRecord(testBkt, v); err != nil || h.row != r.Row() {
			t.Errorf("%d: peek %+v %v", i, h, err)
		}
	}
}

var testBkt = &bkt{id: "b", path: "test.db"}

// TestCodecCorrupt: truncated or damaged values are damage, never panics,
// and never decode: every single-byte change anywhere in a record, the
// state byte included, fails its checksum.
func TestCodecCorrupt(t *testing.T) {
	for _, r := range codecRecords() {
		r.BatchID, r.Seq = "b", 1
		v := encodeRecord(r)
		for n := range len(v) {
			if _, err := decodeRecord(testBkt, 1, v[:n]); !isErr(err, ErrDamaged) {
				t.Fatalf("truncated to %d: err = %v", n, err)
			}
		}
		for i := range len(v) {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				w := bytes.Clone(v)
				w[i] ^= x
				if _, err := decodeRecord(testBkt, 1, w); !isErr(err, ErrDamaged) {
					t.Fatalf("byte %d ^ %#x decoded: %v", i, x, err)
				}
			}
		}
		if _, err := decodeRecord(testBkt, 1, append(bytes.Clone(v), 0)); !isErr(err, ErrDamaged) {
			t.Fatalf("trailing byte: err = %v", err)
		}
		// The same record under another key or batch is damage too.
		if _, err := decodeRecord(testBkt, 2, v); !isErr(err, ErrDamaged) {
			t.Fatalf("record moved to another line: err = %v", err)
		}
		if _, err := decodeRecord(&bkt{id: "c"}, 1, v); !isErr(err, ErrDamaged) {
			t.Fatalf("record moved to another batch: err = %v", err)
		}
	}
}

// TestStateCodes pins the on-disk state codes: a reorder of batch.States
// must not change the meaning of every existing ledger.
func TestStateCodes(t *testing.T) {
	want := map[batch.State]byte{"pending": 1, "sending": 2, "accepted": 3, "paid": 4, "failed": 5,
		"unknown": 6, "invalid": 7, "conflict": 8, "cancelled": 9}
	if len(stateCodes) != len(want) || len(batch.States) != len(want) {
		t.Fatalf("%d codes, %d states, want %d", len(stateCodes), len(batch.States), len(want))
	}
	for s, c := range want {
		if stateCodes[s] != c || codeStates[c] != s {
			t.Errorf("state %s: code %d, want %d", s, stateCodes[s], c)
		}
	}
}

// TestRecordGolden pins the encoding of a record: testdata/record-v3.hex.
func TestRecordGolden(t *testing.T) {
	r := codecRecords()[2]
	r.BatchID, r.Seq = "nov-2026", 42
	got := hex.EncodeToString(encodeRecord(r)) + "\n"
	path := filepath.Join("testdata", "record-v3.hex")
	if os.Getenv("LEDGER_UPDATE_GOLDEN") != "" {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (LEDGER_UPDATE_GOLDEN=1 go test ./ledger to write it)", err)
	}
	if got != string(want) {
		t.Errorf("record encoding changed: a format change needs a new version and a migration\n got %s\nwant %s", got, want)
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
