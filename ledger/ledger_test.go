package ledger

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"payroll/batch"
)

func TestReimport(t *testing.T) {
	ctx := context.Background()
	changed := func(l batch.Line) batch.Line { l.Amount = batch.MoneyFromUnits(7777); return l }
	tests := []struct {
		name  string
		setup func(t *testing.T, db *DB) // after importing lines 0..4
		sheet func() ([]batch.Line, []batch.InvalidRow)
		want  batch.ImportReport
		state map[string]batch.State
		check func(t *testing.T, db *DB)
	}{
		{
			name:  "unchanged",
			sheet: func() ([]batch.Line, []batch.InvalidRow) { return testLines(5), nil },
			want:  batch.ImportReport{Unchanged: 5},
		},
		{
			name: "added",
			sheet: func() ([]batch.Line, []batch.InvalidRow) {
				return testLines(7), nil
			},
			want:  batch.ImportReport{Unchanged: 5, Added: 2},
			state: map[string]batch.State{"EMP000006": batch.StatePending},
		},
		{
			name: "changed before send is updated",
			sheet: func() ([]batch.Line, []batch.InvalidRow) {
				ls := testLines(5)
				ls[2] = changed(ls[2])
				return ls, nil
			},
			want:  batch.ImportReport{Unchanged: 4, Updated: 1},
			state: map[string]batch.State{"EMP000002": batch.StatePending},
			check: func(t *testing.T, db *DB) {
				if r := mustLine(t, db, "b", "EMP000002"); !r.Line.Amount.Equal(batch.MoneyFromUnits(7777)) {
					t.Errorf("amount %s", r.Line.Amount)
				}
			},
		},
		{
			name: "changed after send: corrected if nothing may have paid, else a conflict",
			setup: func(t *testing.T, db *DB) {
				cl := mustClaim(t, db, "b", "EMP000001", "EMP000002")
				mustOutcome(t, db, batch.Outcome{BatchID: "b", Attempt: cl.ID, Refs: []string{"EMP000001"}, Kind: batch.OutcomeNotSent, Reason: "503"})
				mustOutcome(t, db, batch.Outcome{BatchID: "b", Attempt: cl.ID, Refs: []string{"EMP000002"}, Kind: batch.OutcomeAccepted, Provider: batch.KopoKopo, Reference: "loc"})
			},
			sheet: func() ([]batch.Line, []batch.InvalidRow) {
				ls := testLines(5)
				ls[1], ls[2] = changed(ls[1]), changed(ls[2])
				return ls, nil
			},
			// EMP000001's only attempt was refused before anything ran: the
			// sheet's change applies (a correction). EMP000002 may have been
			// paid: a conflict, never sent again.
			want:  batch.ImportReport{Unchanged: 3, Conflicts: 1, Corrected: 1},
			state: map[string]batch.State{"EMP000001": batch.StatePending, "EMP000002": batch.StateAccepted},
			check: func(t *testing.T, db *DB) {
				r := mustLine(t, db, "b", "EMP000002")
				if !r.Flagged(FlagSheetChanged) || r.Changed == nil || !r.Line.Amount.Equal(testLine(2).Amount) {
					t.Errorf("accepted line: flags %v changed %v amount %s", r.Flags, r.Changed, r.Line.Amount)
				}
				cl, _, _ := db.claim(ctx, "b", []string{"EMP000002"})
				if len(cl.Refs) != 0 {
					t.Error("conflict line claimed")
				}
				r = mustLine(t, db, "b", "EMP000001")
				if !r.Line.Amount.Equal(changed(testLine(1)).Amount) || !r.Flagged(FlagCorrected) || r.SetBy != 2 {
					t.Errorf("corrected line: amount %s flags %v set by import %d", r.Line.Amount, r.Flags, r.SetBy)
				}
			},
		},
		{
			name: "left the sheet: cancelled if never sent, kept if sent",
			setup: func(t *testing.T, db *DB) {
				cl := mustClaim(t, db, "b", "EMP000004")
				mustOutcome(t, db, batch.Outcome{BatchID: "b", Attempt: cl.ID, Refs: []string{"EMP000004"}, Kind: batch.OutcomeUnknown, Reason: "timeout"})
			},
			sheet: func() ([]batch.Line, []batch.InvalidRow) { return testLines(2), nil },
			want:  batch.ImportReport{Unchanged: 2, Cancelled: 2, Departed: 1},
			state: map[string]batch.State{"EMP000002": batch.StateCancelled, "EMP000004": batch.StateUnknown},
		},
		{
			name:  "cancelled line back in the sheet",
			setup: func(t *testing.T, db *DB) { mustImport(t, db, "b", testLines(3), nil) },
			sheet: func() ([]batch.Line, []batch.InvalidRow) { return testLines(5), nil },
			want:  batch.ImportReport{Unchanged: 3, Revived: 2},
			state: map[string]batch.State{"EMP000004": batch.StatePending},
		},
		{
			name: "invalid row fixed becomes pending; valid row broken becomes invalid",
			setup: func(t *testing.T, db *DB) {
				mustImport(t, db, "b", testLines(4), []batch.InvalidRow{{Row: 6, Reference: "EMP000004", Reasons: []string{"bad phone"}}})
			},
			sheet: func() ([]batch.Line, []batch.InvalidRow) {
				return append(testLines(5)[:3], testLine(4)), []batch.InvalidRow{{Row: 5, Reference: "EMP000003", Reasons: []string{"amount"}}}
			},
			want:  batch.ImportReport{Unchanged: 3, Revived: 1, Invalid: 1},
			state: map[string]batch.State{"EMP000004": batch.StatePending, "EMP000003": batch.StateInvalid},
		},
		{
			name: "invalid rows without reference",
			sheet: func() ([]batch.Line, []batch.InvalidRow) {
				return testLines(5), []batch.InvalidRow{{Row: 9, Reasons: []string{"x"}}}
			},
			want:  batch.ImportReport{Unchanged: 5, Invalid: 1},
			state: map[string]batch.State{"row-9": batch.StateInvalid},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, "")
			mustImport(t, db, "b", testLines(5), nil)
			if tc.setup != nil {
				tc.setup(t, db)
			}
			lines, inv := tc.sheet()
			got := mustImport(t, db, "b", lines, inv)
			if len(got.ConflictLines) != got.Conflicts {
				t.Errorf("%d conflicts listed, %d counted", len(got.ConflictLines), got.Conflicts)
			}
			got.BatchID, got.ConflictLines = "", nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("report %+v\nwant   %+v", got, tc.want)
			}
			for ref, st := range tc.state {
				if r := mustLine(t, db, "b", ref); r.State != st {
					t.Errorf("%s is %s, want %s", ref, r.State, st)
				}
			}
			if tc.check != nil {
				tc.check(t, db)
			}
			mustCheck(t, db)
			again := mustImport(t, db, "b", lines, inv) // idempotent
			if again.Added+again.Updated+again.Revived+again.Cancelled != 0 {
				t.Errorf("second identical import changed lines: %+v", again)
			}
			mustCheck(t, db)
		})
	}
}

func TestImportRejectsDuplicateReferences(t *testing.T) {
	db := openTest(t, "")
	ls := testLines(3)
	ls[2].Reference = ls[0].Reference
	if _, err := db.Import(context.Background(), spec("b"), ls, nil); !isErr(err, ErrInput) {
		t.Fatalf("err = %v, want ErrInput", err)
	}
	if _, err := db.Batch(context.Background(), "b"); !isErr(err, ErrNotFound) {
		t.Fatalf("batch written: %v", err)
	}
}

// TestBusy: bbolt's flock is per open file description, so a second Open
// of the same file, in this process or another, fails fast with ErrBusy.
func TestBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payroll.db")
	db := openTest(t, path)
	_ = db
	start := time.Now()
	_, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if !isErr(err, ErrBusy) || !isErr(err, berrors.ErrTimeout) || !strings.Contains(err.Error(), "ledger busy: another payroll process holds "+path) {
		t.Fatalf("second Open: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %v", d)
	}
	if _, err := Open(path, Options{ReadOnly: true, Timeout: 50 * time.Millisecond}); !isErr(err, ErrBusy) {
		t.Errorf("read-only Open while a writer holds it: %v", err)
	}
	// Another process.
	cmd := exec.Command(os.Args[0], "-test.run=^TestBusyHelper$")
	cmd.Env = append(os.Environ(), "LEDGER_BUSY_PATH="+path, "GORACE=atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "BUSY") {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}
}

func TestBusyHelper(t *testing.T) {
	path := os.Getenv("LEDGER_BUSY_PATH")
	if path == "" {
		t.Skip("helper process for TestBusy")
	}
	if _, err := Open(path, Options{Timeout: 100 * time.Millisecond}); isErr(err, ErrBusy) {
		os.Stdout.WriteString("BUSY\n")
	} else {
		os.Stdout.WriteString("NOT BUSY: " + err.Error() + "\n")
	}
}

func TestSchemaMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payroll.db")
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b.Update(func(tx *bolt.Tx) error {
		m, _ := tx.CreateBucket(bktMeta)
		return m.Put(keySchema, []byte("payroll-ledger/99"))
	})
	b.Close()
	if _, err := Open(path, Options{}); !isErr(err, ErrSchema) {
		t.Fatalf("err = %v, want ErrSchema", err)
	}
}

func TestRecoveryOnOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "payroll.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustImport(t, db, "b", testLines(3), nil)
	mustClaim(t, db, "b", "EMP000000", "EMP000001")
	db.Close()
	db = openTest(t, path)
	if db.Stats().Recovered != 2 {
		t.Fatalf("recovered %d", db.Stats().Recovered)
	}
	for _, ref := range []string{"EMP000000", "EMP000001"} {
		if r := mustLine(t, db, "b", ref); r.State != batch.StateUnknown {
			t.Errorf("%s is %s", ref, r.State)
		}
	}
	var n int
	for e := range db.Events(ctx, "b") {
		if e.Cause == "crash-recovery" && e.From == batch.StateSending && e.To == batch.StateUnknown {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d crash-recovery events", n)
	}
	mustCheck(t, db)
}

func TestDuplicates(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	db, err := Open(filepath.Join(t.TempDir(), "payroll.db"), Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustImport(t, db, "april", testLines(3), nil)
	cl := mustClaim(t, db, "april", "EMP000000", "EMP000001", "EMP000002")
	mustOutcome(t, db, batch.Outcome{BatchID: "april", Attempt: cl.ID, Refs: []string{"EMP000000", "EMP000001"}, Kind: batch.OutcomeAccepted, Provider: batch.KopoKopo, Reference: "loc"})
	mustOutcome(t, db, batch.Outcome{BatchID: "april", Attempt: cl.ID, Refs: []string{"EMP000002"}, Kind: batch.OutcomeFailed, Reason: "bad"})
	c.t = c.t.Add(20 * 24 * time.Hour)
	may := testLines(3)
	may[1].Amount = batch.MoneyFromUnits(99) // different amount: not a duplicate
	mustImport(t, db, "may", may, nil)
	d, err := db.Duplicates(ctx, "may", 25*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 1 || d[0].Ref != "EMP000000" || d[0].OtherBatch != "april" || d[0].OtherState != batch.StateAccepted {
		t.Fatalf("duplicates %+v", d)
	}
	if d, _ := db.Duplicates(ctx, "may", 10*24*time.Hour); len(d) != 0 {
		t.Errorf("outside the window: %+v", d)
	}
	if d, _ := db.Duplicates(ctx, "april", 25*24*time.Hour); len(d) != 0 {
		t.Errorf("own batch, nothing re-typed: %+v", d)
	}
}

// TestDuplicatesSameBatch: the guard covers the batch itself. A reference
// re-typed or a row copied under a new reference in a later import is
// held; two rows of one import paying the same destination and amount
// (the sheet asked for both) are not.
func TestDuplicatesSameBatch(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "")
	win := 25 * 24 * time.Hour
	ls := testLines(3)
	twin := ls[0]
	twin.Reference, twin.Row = "BONUS-0", 5
	mustImport(t, db, "b", append(ls, twin), nil)
	cl := mustClaim(t, db, "b", "EMP000000", "EMP000001")
	mustOutcome(t, db, batch.Outcome{BatchID: "b", Attempt: cl.ID, Refs: []string{"EMP000000", "EMP000001"}, Kind: batch.OutcomeAccepted, Provider: batch.KopoKopo, Reference: "loc"})
	if d, err := db.Duplicates(ctx, "b", win); err != nil || len(d) != 0 {
		t.Fatalf("twins of one import: %+v %v", d, err)
	}
	// Re-import with the references re-cased and a row copied under a new
	// reference: EMP000000/1 left the sheet (sent), the new ones are new.
	re := testLines(3)
	for i := range re {
		re[i].Reference = strings.ToLower(re[i].Reference)
	}
	cp := ls[1]
	cp.Reference, cp.Row = "COPY-1", 9
	re = append(re, twin, cp)
	rep := mustImport(t, db, "b", re, nil)
	if rep.Added != 4 || rep.Departed != 2 {
		t.Fatalf("import %+v", rep)
	}
	d, err := db.Duplicates(ctx, "b", win)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, x := range d {
		got[x.Ref] = x.OtherRef
		if x.OtherBatch != "b" || x.OtherRow == 0 || x.OtherState != batch.StateAccepted {
			t.Errorf("duplicate %+v", x)
		}
	}
	// BONUS-0 is still the twin the first import asked for: not held.
	want := map[string]string{"emp000000": "EMP000000", "emp000001": "EMP000001", "COPY-1": "EMP000001"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("held %v, want %v", got, want)
	}
	if err := db.AllowDuplicates(ctx, "b", d); err != nil {
		t.Fatal(err)
	}
	if r := mustLine(t, db, "b", "COPY-1"); !r.Flagged(FlagDuplicateAllowed) || r.Blocked() {
		t.Errorf("allowed duplicate: flags %v, blocked %v", r.Flags, r.Blocked())
	}
	if cl := mustClaim(t, db, "b", "COPY-1"); len(cl.Refs) != 1 {
		t.Errorf("an allowed duplicate is claimable: %+v", cl)
	}
	mustCheck(t, db)
}

func TestSummaryAndUnsettled(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "")
	mustImport(t, db, "b", testLines(20), []batch.InvalidRow{{Row: 40, Provider: "kopokopo", Currency: "KES", Reasons: []string{"x"}}})
	var refs []string
	for _, l := range testLines(20) {
		if l.Provider == batch.KopoKopo {
			refs = append(refs, l.Reference)
		}
	}
	cl := mustClaim(t, db, "b", refs...)
	mustOutcome(t, db, batch.Outcome{BatchID: "b", Attempt: cl.ID, Refs: refs, Kind: batch.OutcomeAccepted, Provider: batch.KopoKopo, Reference: "https://k2/transfers/1"})
	u, err := db.Unsettled(ctx, "b")
	if err != nil || len(u) != 1 || u[0].Lines != 18 {
		t.Fatalf("unsettled %v %v", u, err)
	}
	l := testLine(3)
	res, err := db.Settle(ctx, []batch.Result{{Provider: batch.KopoKopo, Reference: "https://k2/transfers/1", Identity: l.Dest.Identity(), Amount: l.Amount, Status: batch.StatePaid, Receipt: "R", Source: "callback"}})
	if err != nil || res[0].Action != batch.Applied || res[0].LineRef != l.Reference {
		t.Fatalf("settle %+v %v", res, err)
	}
	sum, err := db.Summary(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	got := map[batch.State]int{}
	for _, r := range sum {
		got[r.State] += r.Count
	}
	want := map[batch.State]int{batch.StatePending: 2, batch.StateAccepted: 17, batch.StatePaid: 1, batch.StateInvalid: 1}
	for s, n := range want {
		if got[s] != n {
			t.Errorf("%s: %d, want %d (%+v)", s, got[s], n, sum)
		}
	}
	if bs, err := db.Batches(ctx); err != nil || len(bs) != 1 || bs[0].Counts[batch.StateAccepted] != 17 {
		t.Errorf("batches %+v %v", bs, err)
	}
	mustCheck(t, db)
}

// TestCheckFindsBrokenInvariant: Check notices a line whose state was
// changed behind the ledger's back.
func TestCheckFindsBrokenInvariant(t *testing.T) {
	db := lineIn(t, batch.StatePending)
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		lines := tx.Bucket(bktBatch).Bucket([]byte("b")).Bucket(bktLines)
		v := append([]byte(nil), lines.Get(seqKey(1))...)
		v[1] = stateCodes[batch.StatePaid]
		return lines.Put(seqKey(1), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Check(context.Background()); !isErr(err, ErrInvariant) {
		t.Fatalf("Check = %v", err)
	}
}

// TestFailedRowRemovedAndBack: a failed line removed from the sheet is
// cancelled (nothing was paid); put back, it is pending and claimable;
// a line that may have paid is never cancelled, so never revived.
func TestFailedRowRemovedAndBack(t *testing.T) {
	db := openTest(t, "")
	mustImport(t, db, "b", testLines(3), nil)
	cl := mustClaim(t, db, "b", "EMP000000", "EMP000001")
	mustOutcome(t, db, batch.Outcome{BatchID: "b", Attempt: cl.ID, Refs: []string{"EMP000000"}, Kind: batch.OutcomeFailed, Reason: "bad"})
	mustOutcome(t, db, batch.Outcome{BatchID: "b", Attempt: cl.ID, Refs: []string{"EMP000001"}, Kind: batch.OutcomeUnknown, Reason: "timeout"})
	rep := mustImport(t, db, "b", testLines(3)[2:], nil)
	if rep.Cancelled != 1 || rep.Departed != 1 {
		t.Fatalf("import without them: %+v", rep)
	}
	if r := mustLine(t, db, "b", "EMP000000"); r.State != batch.StateCancelled {
		t.Errorf("failed line removed: %s, want cancelled", r.State)
	}
	if r := mustLine(t, db, "b", "EMP000001"); r.State != batch.StateUnknown {
		t.Errorf("unknown line removed: %s, want unknown", r.State)
	}
	mustImport(t, db, "b", testLines(3), nil)
	if r := mustLine(t, db, "b", "EMP000000"); r.State != batch.StatePending {
		t.Errorf("failed line back: %s, want pending", r.State)
	}
	cl = mustClaim(t, db, "b", "EMP000000", "EMP000001")
	if len(cl.Refs) != 1 || cl.Refs[0] != "EMP000000" {
		t.Errorf("claimed %v, want only the failed line put back", cl.Refs)
	}
	mustCheck(t, db)
}
