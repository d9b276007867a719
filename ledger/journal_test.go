package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"payroll/batch"
)

// journalWorkload leaves a closed ledger with two batches that went
// through import, claims, outcomes, results, a resolve, a retry and a
// re-import, and returns its lines by batch.
func journalWorkload(t *testing.T) (string, map[string][]LineRecord) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "payroll.db")
	db := openTest(t, path)
	lines := testLines(20)
	mustImport(t, db, "b1", lines, nil)
	cl := mustClaim(t, db, "b1", "EMP000000", "EMP000001", "EMP000002")
	mustOutcome(t, db, batch.Outcome{BatchID: "b1", Attempt: cl.ID, Refs: []string{"EMP000000", "EMP000001"}, Kind: batch.OutcomeAccepted, Provider: batch.KopoKopo, Reference: "loc-1"})
	mustOutcome(t, db, batch.Outcome{BatchID: "b1", Attempt: cl.ID, Refs: []string{"EMP000002"}, Kind: batch.OutcomeUnknown, Provider: batch.KopoKopo, Reason: "timeout"})
	cl = mustClaim(t, db, "b1", "EMP000009")
	mustOutcome(t, db, batch.Outcome{BatchID: "b1", Attempt: cl.ID, Refs: []string{"EMP000009"}, Kind: batch.OutcomeAccepted, Provider: batch.KiotaPay, Reference: "req-9"})
	if _, err := db.Settle(ctx, []batch.Result{
		{Provider: batch.KopoKopo, Reference: "loc-1", Identity: lines[0].Dest.Identity(), Amount: lines[0].Amount, Status: batch.StatePaid, Receipt: "R0", Source: "callback"},
		{Provider: batch.KopoKopo, Reference: "loc-1", Identity: lines[1].Dest.Identity(), Amount: lines[1].Amount, Status: batch.StateFailed, Reason: "no such wallet", Source: "poll"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Resolve(ctx, "b1", "EMP000002", true, "R2", "checked with the provider"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Retry(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	mustImport(t, db, "b2", testLines(5), nil)
	lines[3].Amount = batch.MoneyFromUnits(1234)
	lines[3].Requested = lines[3].Amount
	mustImport(t, db, "b1", lines[:19], nil)
	mustCheck(t, db)
	got := map[string][]LineRecord{}
	for _, id := range []string{"b1", "b2"} {
		for r, err := range db.Lines(ctx, id) {
			if err != nil {
				t.Fatal(err)
			}
			got[id] = append(got[id], r)
		}
	}
	st := db.Stats()
	if st.JournalSyncs == 0 || st.JournalSyncs > st.Commits {
		t.Errorf("%d journal fsyncs for %d commits", st.JournalSyncs, st.Commits)
	}
	db.Close()
	return path, got
}

func readJournal(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(JournalPath(path))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func writeJournal(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(JournalPath(path), bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func checkJournal(t *testing.T, path string) error {
	t.Helper()
	db, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.CheckJournal(context.Background())
	return err
}

func TestJournalFormat(t *testing.T) {
	path, _ := journalWorkload(t)
	fi, err := os.Stat(JournalPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600", fi.Mode().Perm())
	}
	var prev string
	ops := map[string]bool{}
	for i, raw := range readJournal(t, path) {
		var l struct {
			Seq  uint64 `json:"seq"`
			Prev string `json:"prev"`
			Op   string `json:"op"`
			Ops  []struct {
				Event *Event    `json:"event"`
				Line  *lineView `json:"line"`
			} `json:"ops"`
		}
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		if l.Seq != uint64(i+1) || l.Prev != prev {
			t.Fatalf("line %d: seq %d prev %q, want %d %q", i+1, l.Seq, l.Prev, i+1, prev)
		}
		prev = sum(bytes.TrimSuffix(raw, []byte("\n")))
		ops[l.Op] = true
		for _, o := range l.Ops {
			if o.Line != nil && o.Line.Ref == "" {
				t.Errorf("line %d: a line view without a reference", i+1)
			}
		}
	}
	for _, op := range []string{"base", "import", "claim", "outcomes", "settle", "resolve", "retry"} {
		if !ops[op] {
			t.Errorf("no %q commit in the journal (have %v)", op, ops)
		}
	}
}

func TestJournalTamper(t *testing.T) {
	path, _ := journalWorkload(t)
	if err := checkJournal(t, path); err != nil {
		t.Fatalf("untouched: %v", err)
	}
	orig := readJournal(t, path)

	// An edited entry in the middle: the next entry's prev names it.
	lines := slicesClone(orig)
	k := len(lines) / 2
	lines[k] = bytes.Replace(lines[k], []byte(`"op":"`), []byte(`"op":"x`), 1)
	writeJournal(t, path, lines)
	err := checkJournal(t, path)
	var je *JournalError
	if !errors.As(err, &je) || je.Seq != uint64(k+1) {
		t.Fatalf("edited entry %d: %v", k+1, err)
	}
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "was edited") {
		t.Errorf("message: %v", err)
	}

	// The last entry edited: it is not the one the ledger applied, and a
	// writing open refuses too.
	lines = slicesClone(orig)
	n := len(lines) - 1
	lines[n] = bytes.Replace(lines[n], []byte(`"at":"2`), []byte(`"at":"3`), 1)
	writeJournal(t, path, lines)
	if err := checkJournal(t, path); !errors.As(err, &je) || je.Seq != uint64(n+1) {
		t.Fatalf("edited last entry %d: %v", n+1, err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrJournal) {
		t.Fatalf("writing open with an edited head: %v", err)
	}

	// A forged chain: a value changed and every hash after it recomputed,
	// the ledger's head rewritten to match. Only the replay shows it, and
	// check names the record and the entry that wrote it.
	lines = slicesClone(orig)
	var target int
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"op":"resolve"`)) {
			target = i
		}
	}
	lines[target] = bytes.Replace(lines[target], []byte(`"receipt":"R2"`), []byte(`"receipt":"XX"`), 1)
	var jl jline
	if err := json.Unmarshal(lines[target], &jl); err != nil {
		t.Fatal(err)
	}
	// The authoritative value is the base64 record: change the receipt there.
	forged := false
	for i := range jl.Ops {
		if bytes.Contains(jl.Ops[i].V, []byte("R2")) {
			jl.Ops[i].V = bytes.Replace(jl.Ops[i].V, []byte("R2"), []byte("XX"), 1)
			forged = true
		}
	}
	if !forged {
		t.Fatal("no record with the receipt in the resolve commit")
	}
	lines[target] = reencode(t, lines[target], jl.Ops)
	prev := ""
	var head jhead
	off := int64(0)
	for i := range lines {
		lines[i] = rechain(t, lines[i], prev)
		prev = sum(bytes.TrimSuffix(lines[i], []byte("\n")))
		head = jhead{Seq: uint64(i + 1), Sum: prev, Start: off, End: off + int64(len(lines[i]))}
		off = head.End
	}
	writeJournal(t, path, lines)
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Update(func(tx *bolt.Tx) error {
		old, _, _ := readHead(tx)
		head.Commit = old.Commit
		return putHead(tx, head)
	})
	b.Close()
	err = checkJournal(t, path)
	if !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), "batch b1 line EMP000002") || !strings.Contains(err.Error(), "journal entry") {
		t.Fatalf("forged chain: %v", err)
	}
}

func slicesClone(in [][]byte) [][]byte {
	out := make([][]byte, len(in))
	for i := range in {
		out[i] = bytes.Clone(in[i])
	}
	return out
}

// reencode replaces a journal line's ops with ops (the line's other
// fields kept).
func reencode(t *testing.T, raw []byte, ops []jop) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(ops)
	m["ops"] = js
	out, _ := json.Marshal(m)
	return append(out, '\n')
}

func rechain(t *testing.T, raw []byte, prev string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["prev"], _ = json.Marshal(prev)
	out, _ := json.Marshal(m)
	return append(out, '\n')
}

func TestJournalRecover(t *testing.T) {
	ctx := context.Background()
	path, want := journalWorkload(t)
	before, err := os.ReadFile(JournalPath(path))
	if err != nil {
		t.Fatal(err)
	}

	// The ledger lost: a writing open refuses to start a new one.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), "payroll recover") {
		t.Fatalf("open with the ledger gone: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the refused open created a ledger")
	}
	rep, err := Recover(ctx, path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Commits == 0 || rep.Moved != "" {
		t.Errorf("report %+v", rep)
	}
	assertLines(t, path, want)

	// The ledger damaged: recover keeps it aside.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, fi.Size()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("open of a zeroed ledger: %v", err)
	}
	rep, err = Recover(ctx, path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Moved == "" {
		t.Error("the damaged ledger was not kept")
	} else if _, err := os.Stat(rep.Moved); err != nil {
		t.Error(err)
	}
	assertLines(t, path, want)
	after, _ := os.ReadFile(JournalPath(path))
	if !bytes.Equal(before, after) {
		t.Error("recover changed the journal")
	}

	// An edited journal is not recovered from.
	lines := readJournal(t, path)
	lines[1] = bytes.Replace(lines[1], []byte(`"op":"`), []byte(`"op":"y`), 1)
	writeJournal(t, path, lines)
	if _, err := Recover(ctx, path, time.Now()); !errors.Is(err, ErrJournal) {
		t.Fatalf("recover from an edited journal: %v", err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrJournal) {
		t.Fatalf("open with an edited journal: %v", err)
	}
	os.WriteFile(JournalPath(path), after, 0o600)
	assertLines(t, path, want) // the ledger was left alone
}

func assertLines(t *testing.T, path string, want map[string][]LineRecord) {
	t.Helper()
	db := openTest(t, path)
	defer db.Close()
	mustCheck(t, db)
	for id, ls := range want {
		var got []LineRecord
		for r, err := range db.Lines(context.Background(), id) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		}
		if !reflect.DeepEqual(got, ls) {
			t.Errorf("batch %s: lines differ after recover", id)
		}
	}
}

func TestJournalTornAndMissing(t *testing.T) {
	path, want := journalWorkload(t)
	orig, _ := os.ReadFile(JournalPath(path))

	// A torn last commit (the process died while appending): cut off.
	torn := append(bytes.Clone(orig), []byte(`{"seq":999,"prev":"ab`)...)
	os.WriteFile(JournalPath(path), torn, 0o600)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := db.Stats().JournalCut; got != int64(len(torn)-len(orig)) {
		t.Errorf("cut %d bytes, want %d", got, len(torn)-len(orig))
	}
	db.Close()
	if after, _ := os.ReadFile(JournalPath(path)); !bytes.Equal(after, orig) {
		t.Error("the torn commit was not cut exactly")
	}
	assertLines(t, path, want)

	// A ledger one commit behind its journal (killed between the
	// journal's fsync and bbolt's commit) is brought up by replay; two
	// commits behind is refused.
	old, _ := os.ReadFile(path)
	db = openTest(t, path)
	mustImport(t, db, "b3", testLines(3), nil)
	db.Close()
	oneAhead, _ := os.ReadFile(JournalPath(path))
	db = openTest(t, path)
	mustImport(t, db, "b4", testLines(3), nil)
	db.Close()
	twoAhead, _ := os.ReadFile(JournalPath(path))
	os.WriteFile(path, old, 0o600)
	if _, err := Open(path, Options{}); !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), "more than one commit ahead") {
		t.Fatalf("two commits ahead: %v", err)
	}
	os.WriteFile(JournalPath(path), oneAhead, 0o600)
	db = openTest(t, path)
	if db.Stats().Replayed == 0 {
		t.Error("one commit ahead: nothing replayed")
	}
	if _, err := db.Batch(context.Background(), "b3"); err != nil {
		t.Errorf("replayed import: %v", err)
	}
	mustCheck(t, db)
	db.Close()
	_ = twoAhead

	// The journal missing while the ledger has applied it: refused.
	os.Rename(JournalPath(path), JournalPath(path)+".away")
	if _, err := Open(path, Options{}); !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("open without the journal: %v", err)
	}
	if err := checkJournal(t, path); !errors.Is(err, ErrJournal) {
		t.Fatalf("check without the journal: %v", err)
	}
	os.Remove(JournalPath(path))
	os.Rename(JournalPath(path)+".away", JournalPath(path))

	// Another ledger's journal: refused.
	other, _ := journalWorkload(t)
	data, _ := os.ReadFile(JournalPath(other))
	os.WriteFile(JournalPath(path), data, 0o600)
	if _, err := Open(path, Options{}); !errors.Is(err, ErrJournal) {
		t.Fatalf("open with another ledger's journal: %v", err)
	}
}

// TestJournalConcurrentWriters: writes from many goroutines (a run's
// sender and its callback receiver) each get their own journal commit,
// in the order bbolt commits them.
func TestJournalConcurrentWriters(t *testing.T) {
	db := openTest(t, "")
	mustImport(t, db, "b", testLines(64), nil)
	st0 := db.Stats()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				ref := testLine(g*8 + i).Reference
				cl, _, err := db.claim(context.Background(), "b", []string{ref})
				if err != nil {
					t.Error(err)
					return
				}
				o := batch.Outcome{BatchID: "b", Attempt: cl.ID, Refs: []string{ref}, Kind: batch.OutcomeUnknown, Provider: batch.KopoKopo}
				if err := db.RecordOutcomes(context.Background(), []batch.Outcome{o}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	mustCheck(t, db)
	if st := db.Stats(); st.JournalSyncs-st0.JournalSyncs != st.Commits-st0.Commits || st.Commits-st0.Commits != 128 {
		t.Errorf("%d journal fsyncs for %d commits, want 128 each", st.JournalSyncs-st0.JournalSyncs, st.Commits-st0.Commits)
	}
}

// TestRecoverRefusesAnOlderJournal: a journal restored from an older
// backup, next to a ledger that applied more, is not recovered from: the
// rebuilt ledger would not know what was paid since, and a re-run would
// pay it again.
func TestRecoverRefusesAnOlderJournal(t *testing.T) {
	ctx := context.Background()
	path, _ := journalWorkload(t)
	older, _ := os.ReadFile(JournalPath(path))
	db := openTest(t, path)
	cl := mustClaim(t, db, "b2", "EMP000000")
	mustOutcome(t, db, batch.Outcome{BatchID: "b2", Attempt: cl.ID, Refs: []string{"EMP000000"}, Kind: batch.OutcomeAccepted, Provider: batch.KopoKopo, Reference: "loc-9"})
	db.Close()
	before, _ := os.ReadFile(path)
	os.WriteFile(JournalPath(path), older, 0o600)
	_, err := Recover(ctx, path, time.Now())
	if !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), "older or truncated copy") {
		t.Fatalf("recover from an older journal: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Error("the ledger was touched")
	}
	// With the ledger damaged past opening, nothing can be compared: the
	// report says so (Checked false) and the CLI warns.
	os.WriteFile(path, make([]byte, len(before)), 0o600)
	rep, err := Recover(ctx, path, time.Now())
	if err != nil || rep.Checked || rep.Last == "" {
		t.Fatalf("recover with no readable ledger: %+v %v", rep, err)
	}
}

// TestRecoverSkipsATornCommit: the journal ends inside a commit of many
// lines (the process died while appending it): recover rebuilds the
// ledger as it was before that commit, none of it half applied.
func TestRecoverSkipsATornCommit(t *testing.T) {
	ctx := context.Background()
	path, want := journalWorkload(t)
	db := openTest(t, path)
	defer func(n int) { ImportPage = n }(ImportPage)
	ImportPage = 1 << 20
	mustImport(t, db, "big", testLines(40000), nil) // one commit of many journal lines
	db.Close()
	lines := readJournal(t, path)
	var l jline
	if err := json.Unmarshal(lines[len(lines)-1], &l); err != nil || l.Op != "import" || !l.End {
		t.Fatalf("last line: %+v %v", l.Op, err)
	}
	first := len(lines) - 1
	for first > 0 {
		var p jline
		json.Unmarshal(lines[first-1], &p)
		if p.End {
			break
		}
		first--
	}
	if len(lines)-first < 70 {
		t.Fatalf("the import is %d journal lines, want several", len(lines)-first)
	}
	writeJournal(t, path, lines[:first+66]) // 66 complete lines of the import, no end
	os.Remove(path)
	rep, err := Recover(ctx, path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Torn == 0 {
		t.Error("the torn commit was not reported")
	}
	assertLines(t, path, want)
	db = openTest(t, path)
	if _, err := db.Batch(ctx, "big"); !errors.Is(err, ErrNotFound) {
		t.Errorf("batch big after recover: %v", err)
	}
}
