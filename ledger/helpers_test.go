package ledger

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"payroll/batch"
)

// testLine builds line i: KES over Kopo Kopo, every tenth one TZS over
// KiotaPay.
func testLine(i int) batch.Line {
	l := batch.Line{
		Row:       i + 2,
		Reference: fmt.Sprintf("EMP%06d", i),
		Provider:  batch.KopoKopo,
		Dest:      batch.Destination{Type: batch.MobileWallet, Phone: batch.Phone("2547" + fmt.Sprintf("%08d", i))},
		Currency:  batch.KES,
		Amount:    batch.MoneyFromUnits(1000 + int64(i%7)),
		Requested: batch.MoneyFromUnits(1000 + int64(i%7)),
	}
	if i%10 == 9 {
		l.Provider, l.Currency = batch.KiotaPay, batch.TZS
		l.Dest.Phone = batch.Phone("2557" + fmt.Sprintf("%08d", i))
		l.Amount, l.Requested = batch.MoneyFromUnits(5000), batch.MoneyFromUnits(5000)
	}
	return l
}

func testLines(n int) []batch.Line {
	out := make([]batch.Line, n)
	for i := range out {
		out[i] = testLine(i)
	}
	return out
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func openTest(t testing.TB, path string) *DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "payroll.db")
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func spec(id string) ImportSpec {
	return ImportSpec{BatchID: id, File: id + ".csv", SheetHash: "h-" + id, ConfigFingerprint: "cfg"}
}

func mustImport(t testing.TB, db *DB, id string, lines []batch.Line, inv []batch.InvalidRow) batch.ImportReport {
	t.Helper()
	rep, err := db.Import(context.Background(), spec(id), lines, inv)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func mustLine(t testing.TB, db *DB, id, ref string) LineRecord {
	t.Helper()
	r, err := db.Line(context.Background(), id, ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustCheck(t testing.TB, db *DB) {
	t.Helper()
	if err := db.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	// Every write is journaled: a replay of the journal is this ledger.
	if db.j != nil {
		if _, err := db.CheckJournal(context.Background()); err != nil {
			t.Fatalf("CheckJournal: %v", err)
		}
	}
}

func mustClaim(t testing.TB, db *DB, id string, refs ...string) Claimed {
	t.Helper()
	cl, _, err := db.claim(context.Background(), id, refs)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func mustOutcome(t testing.TB, db *DB, o batch.Outcome) {
	t.Helper()
	if err := db.RecordOutcomes(context.Background(), []batch.Outcome{o}); err != nil {
		t.Fatal(err)
	}
}

func isErr(err, target error) bool { return errors.Is(err, target) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }
