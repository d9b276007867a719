package ledger

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"reflect"
	"testing"

	"payroll/batch"
)

// rowsOf yields lines and invalid rows merged in sheet order, failing
// with err after n rows when err is not nil.
func rowsOf(lines []batch.Line, inv []batch.InvalidRow, n int, err error) iter.Seq2[ImportRow, error] {
	return func(yield func(ImportRow, error) bool) {
		i, j, k := 0, 0, 0
		for i < len(lines) || j < len(inv) {
			if err != nil && k == n {
				yield(ImportRow{}, err)
				return
			}
			k++
			if j == len(inv) || i < len(lines) && lines[i].Row < inv[j].Row {
				if !yield(ImportRow{Line: &lines[i]}, nil) {
					return
				}
				i++
				continue
			}
			if !yield(ImportRow{Invalid: &inv[j]}, nil) {
				return
			}
			j++
		}
	}
}

// batchSnapshot is what the ledger holds of a batch, without times and IDs.
func batchSnapshot(t *testing.T, db *DB, id string) string {
	t.Helper()
	var out string
	for r, err := range db.Lines(context.Background(), id) {
		if err != nil {
			t.Fatal(err)
		}
		r.Created, r.Updated = r.Updated, r.Created
		out += fmt.Sprintf("%d %s %s row=%d fp=%s inv=%v set=%d\n", r.Seq, r.Ref, r.State, r.Row(), r.Fingerprint, r.Invalid != nil, r.SetBy)
	}
	b, err := db.Batch(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return out + fmt.Sprintf("lines=%d counts=%v totals=%v sheet=%v imports=%d importing=%d file=%s",
		b.Lines, b.Counts, b.Totals, b.SheetTotals, b.Imports, b.Importing, b.File)
}

func importSheets() (first []batch.Line, inv []batch.InvalidRow, second []batch.Line) {
	first = testLines(200)
	inv = []batch.InvalidRow{{Row: 2, Reference: "BAD1"}, {Row: 52, Reference: first[10].Reference}, {Row: 402, Reference: ""}}
	for i := range first {
		first[i].Row = 2*i + 3 // even rows are left for the invalid ones
	}
	second = append([]batch.Line(nil), first[20:]...)
	second[5].Amount = batch.MoneyFromUnits(777) // changed before it was sent
	second = append(second, testLine(500))
	second[len(second)-1].Row = 600
	return first, inv, second
}

// TestImportPagedEqualsOneTransaction: a sheet imported a few rows to a
// transaction ends exactly as in one transaction, first import and
// re-import alike (lines changed, added, gone, invalid rows keyed the
// same way).
func TestImportPagedEqualsOneTransaction(t *testing.T) {
	ctx := context.Background()
	first, inv, second := importSheets()
	var snaps [2][2]string
	var reps [2][2]batch.ImportReport
	for i, page := range []int{1 << 20, 7} {
		func() {
			defer func(n int) { ImportPage = n }(ImportPage)
			ImportPage = page
			db := openTest(t, filepath.Join(t.TempDir(), "ledger.db"))
			var err error
			if reps[i][0], err = db.ImportStream(ctx, spec("b1"), rowsOf(first, inv, 0, nil)); err != nil {
				t.Fatal(err)
			}
			snaps[i][0] = batchSnapshot(t, db, "b1")
			mustCheck(t, db)
			if reps[i][1], err = db.ImportStream(ctx, spec("b1"), rowsOf(second, nil, 0, nil)); err != nil {
				t.Fatal(err)
			}
			snaps[i][1] = batchSnapshot(t, db, "b1")
			mustCheck(t, db)
		}()
	}
	for k := range 2 {
		if reps[1][k].BatchID != "b1" {
			t.Errorf("import %d: report of batch %q", k+1, reps[1][k].BatchID)
		}
		if snaps[0][k] != snaps[1][k] {
			t.Errorf("import %d: paged ledger differs from one transaction\none:\n%s\npaged:\n%s", k+1, snaps[0][k], snaps[1][k])
		}
		if !reflect.DeepEqual(reps[0][k], reps[1][k]) {
			t.Errorf("import %d: reports differ: %+v / %+v", k+1, reps[0][k], reps[1][k])
		}
	}
	// Import (all rows held) keys invalid rows the same way.
	db := openTest(t, filepath.Join(t.TempDir(), "ledger.db"))
	mustImport(t, db, "b1", first, inv)
	if got := batchSnapshot(t, db, "b1"); got != snaps[0][0] {
		t.Errorf("Import and ImportStream differ\nImport:\n%s\nImportStream:\n%s", got, snaps[0][0])
	}
	if r := mustLine(t, db, "b1", "row-52"); r.Invalid == nil {
		t.Error("an invalid row whose reference a valid line has is not keyed row-N")
	}
}

// TestImportInterrupted: an import that stops between pages (a read
// error, a kill) leaves the batch marked importing; none of its lines is
// claimed; importing the sheet again finishes it, and then every line is
// there once.
func TestImportInterrupted(t *testing.T) {
	ctx := context.Background()
	defer func(n int) { ImportPage = n }(ImportPage)
	ImportPage = 16
	db := openTest(t, filepath.Join(t.TempDir(), "ledger.db"))
	lines := testLines(100)
	boom := errors.New("disk read error")
	if _, err := db.ImportStream(ctx, spec("b1"), rowsOf(lines, nil, 50, boom)); !errors.Is(err, boom) {
		t.Fatalf("ImportStream = %v, want the read error", err)
	}
	b, err := db.Batch(ctx, "b1")
	if err != nil || b.Importing == 0 || b.Lines != 48 {
		t.Fatalf("after the interrupted import: %+v, %v; want importing with 3 pages (48 lines)", b, err)
	}
	mustCheck(t, db)
	if _, _, err := db.Claim(ctx, "b1", []string{lines[0].Reference}); !errors.Is(err, ErrImporting) {
		t.Fatalf("Claim of a batch whose import was interrupted = %v, want ErrImporting", err)
	}
	rep, err := db.ImportStream(ctx, spec("b1"), rowsOf(lines, nil, 0, nil))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 52 || rep.Unchanged != 48 || rep.Created {
		t.Fatalf("finishing import: %+v", rep)
	}
	b, _ = db.Batch(ctx, "b1")
	if b.Importing != 0 || b.Lines != 100 || b.Counts[batch.StatePending] != 100 || b.Imports != 1 {
		t.Fatalf("after finishing: %+v", b)
	}
	mustCheck(t, db)
	if _, claimed, err := db.Claim(ctx, "b1", []string{lines[0].Reference}); err != nil || len(claimed) != 1 {
		t.Fatalf("Claim after the import finished: %d lines, %v", len(claimed), err)
	}
}

// TestImportStreamDuplicateReference: rows read as they go are checked
// for a reference given twice, across pages too.
func TestImportStreamDuplicateReference(t *testing.T) {
	defer func(n int) { ImportPage = n }(ImportPage)
	ImportPage = 4
	db := openTest(t, filepath.Join(t.TempDir(), "ledger.db"))
	lines := testLines(10)
	lines[9].Reference = lines[2].Reference
	if _, err := db.ImportStream(context.Background(), spec("b1"), rowsOf(lines, nil, 0, nil)); !errors.Is(err, ErrInput) {
		t.Fatalf("a reference twice: %v, want ErrInput", err)
	}
}
