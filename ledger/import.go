package ledger

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"unicode/utf8"

	"payroll/batch"
)

// ImportSpec names the batch and the sheet being imported.
type ImportSpec struct {
	BatchID           string // --batch, or the sheet's file name without extension
	File              string // the sheet's file name, for the report
	SheetHash         string // sha256 hex of the sheet's bytes
	ConfigFingerprint string // of the config that validated the sheet
	// Derived: BatchID was made from File's name, not given (--batch). A
	// derived ID that belongs to a batch imported from another file name
	// is refused with ErrOtherFile rather than merged (docs/design.md §3).
	Derived bool
	// ExtraColumns are the sheet's other columns (batch.Validation's),
	// whose values each line's Extra holds; for the report.
	ExtraColumns []string
}

// ErrOtherFile means a derived batch ID names a batch of another file.
var ErrOtherFile = errors.New("the batch was imported from another file; pass --batch")

type importItem struct {
	ref  string
	row  int
	line *batch.Line
	inv  *batch.InvalidRow
	fp   string
}

type refSeq struct {
	ref string
	seq uint64
}

// checkKey rejects keys that would break the ledger's composite keys.
func checkKey(what, s string) error {
	if s == "" || len(s) > 512 || strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return fmt.Errorf("ledger: %s %q: must be 1-512 bytes of UTF-8 without NUL: %w", what, s, ErrInput)
	}
	return nil
}

// invalidKey is the key of an invalid row: its reference when it has a
// free one, else "row-N".
func invalidKey(inv *batch.InvalidRow, taken map[string]struct{}) string {
	if inv.Reference != "" && checkKey("", inv.Reference) == nil {
		if _, dup := taken[inv.Reference]; !dup {
			return inv.Reference
		}
	}
	return fmt.Sprintf("row-%d", inv.Row)
}

// Import records a sheet's lines, creating the batch or reconciling a
// re-import (docs/design.md §3):
//
//   - a line already there with the same fingerprint is left untouched;
//   - a new reference is added as pending (an invalid row as invalid);
//   - a changed line (same reference, new fingerprint) for which nothing
//     was ever sent (pending, invalid or cancelled, no attempts) is
//     updated; otherwise it becomes a conflict: the original is kept, the
//     sheet's version stored beside it, and it is never sent;
//   - a line that left the sheet and was never sent is cancelled;
//   - an invalid or cancelled row that is valid again becomes pending.
//
// References of valid lines must be unique. Invalid rows are keyed by
// their reference, or "row-N" when it is empty or taken. A sheet of up
// to ImportPage rows is one transaction; a larger one is imported as
// ImportStream imports it.
func (db *DB) Import(ctx context.Context, spec ImportSpec, lines []batch.Line, invalid []batch.InvalidRow) (batch.ImportReport, error) {
	rep := batch.ImportReport{BatchID: spec.BatchID}
	if err := checkKey("batch id", spec.BatchID); err != nil {
		return rep, err
	}
	items := make([]importItem, 0, len(lines)+len(invalid))
	taken := make(map[string]struct{}, len(lines)+len(invalid))
	for i := range lines {
		l := &lines[i]
		if err := checkKey("line reference", l.Reference); err != nil {
			return rep, err
		}
		if _, dup := taken[l.Reference]; dup {
			return rep, fmt.Errorf("ledger: reference %q appears twice: %w", l.Reference, ErrInput)
		}
		taken[l.Reference] = struct{}{}
		items = append(items, importItem{ref: l.Reference, row: l.Row, line: l})
	}
	for i := range invalid {
		inv := &invalid[i]
		k := invalidKey(inv, taken)
		if _, dup := taken[k]; dup {
			return rep, fmt.Errorf("ledger: invalid row %d: key %q appears twice: %w", inv.Row, k, ErrInput)
		}
		taken[k] = struct{}{}
		items = append(items, importItem{ref: k, row: inv.Row, inv: inv})
	}
	taken = nil
	// Sheet order; stable so that equal rows keep the caller's order.
	if !slices.IsSortedFunc(items, func(a, b importItem) int { return cmp.Compare(a.row, b.row) }) {
		slices.SortStableFunc(items, func(a, b importItem) int { return cmp.Compare(a.row, b.row) })
	}
	return db.importRows(ctx, spec, true, func(yield func(importItem, error) bool) {
		for _, it := range items {
			if !yield(it, nil) {
				return
			}
		}
	})
}

// ImportRow is one row of a sheet being imported: a valid line, or an
// invalid row.
type ImportRow struct {
	Line    *batch.Line
	Invalid *batch.InvalidRow
}

// ImportPage is how many rows one import transaction takes. A larger
// sheet is imported in several transactions, so that an import holds one
// page of lines, not the sheet (bbolt keeps every page a transaction
// writes in memory until it commits).
var ImportPage = 20000

// ImportStream is Import for a sheet read as it goes (a run reads it
// again from the file): rows come in sheet order, as batch.Validate gives
// them, so valid references are unique and no valid line follows an
// invalid row with its reference. Each page of ImportPage rows is one
// transaction, and the last one also cancels what left the sheet and
// records the import. Until it commits, the batch is marked as importing
// (Batch.Importing): none of its lines is claimed (ErrImporting), and
// importing the sheet again finishes the import; what an interrupted
// import committed is reconciled like any re-import.
func (db *DB) ImportStream(ctx context.Context, spec ImportSpec, rows iter.Seq2[ImportRow, error]) (batch.ImportReport, error) {
	if err := checkKey("batch id", spec.BatchID); err != nil {
		return batch.ImportReport{BatchID: spec.BatchID}, err
	}
	return db.importRows(ctx, spec, false, func(yield func(importItem, error) bool) {
		for r, err := range rows {
			switch {
			case err != nil:
				yield(importItem{}, err)
				return
			case r.Line != nil:
				if err := checkKey("line reference", r.Line.Reference); err != nil {
					yield(importItem{}, err)
					return
				}
				if !yield(importItem{ref: r.Line.Reference, row: r.Line.Row, line: r.Line}, nil) {
					return
				}
			case r.Invalid != nil:
				// The key is chosen in the transaction (takenHere).
				if !yield(importItem{row: r.Invalid.Row, inv: r.Invalid}, nil) {
					return
				}
			}
		}
	})
}

// ErrImporting means a batch's import was interrupted: nothing of it is
// sent until the sheet is imported again.
var ErrImporting = errors.New("the batch's import was interrupted; import the sheet again (run it) to finish it; nothing was sent")

// importState is what an import carries from one page's transaction to
// the next.
type importState struct {
	spec    ImportSpec
	checked bool // references and invalid rows' keys were checked up front (Import)
	rep     batch.ImportReport
	created bool
	start   uint64 // the batch's last line seq before this import
	last    uint64 // the last seq given out
	present []bool // existing line seq → in this sheet
	sheet   map[batch.Currency]batch.Money
	pages   int
}

// sheetSums is the sum of the valid lines of the pages committed so far.
func (st *importState) sheetSums() map[batch.Currency]batch.Money {
	if st.sheet == nil {
		st.sheet = map[batch.Currency]batch.Money{}
	}
	return st.sheet
}

// takenHere reports whether key was taken by an earlier row of this
// import: a line it added (a seq past start), or an existing line it
// reached (present); page holds this page's keys, not yet in the
// reference index.
func takenHere(b *bkt, key string, start uint64, present []bool, page map[string]struct{}) bool {
	if _, ok := page[key]; ok {
		return true
	}
	sk := b.refs.Get([]byte(key))
	if sk == nil {
		return false
	}
	seq := binary.BigEndian.Uint64(sk)
	return seq > start || seq < uint64(len(present)) && present[seq]
}

// importRows imports rows in sheet order, ImportPage to a transaction.
// One row is read past a full page to know whether the page is the last.
func (db *DB) importRows(ctx context.Context, spec ImportSpec, checked bool, rows iter.Seq2[importItem, error]) (batch.ImportReport, error) {
	fail := func(err error) (batch.ImportReport, error) {
		return batch.ImportReport{BatchID: spec.BatchID}, fmt.Errorf("ledger: import %q: %w", spec.BatchID, err)
	}
	next, stop := iter.Pull2(rows)
	defer stop()
	size := max(ImportPage, 1)
	st := &importState{spec: spec, checked: checked, rep: batch.ImportReport{BatchID: spec.BatchID}}
	page := make([]importItem, 0, min(size, 1024))
	var ahead []importItem
	for {
		page = append(page[:0], ahead...)
		ahead = ahead[:0]
		end := false
	fill:
		for {
			it, err, ok := next()
			switch {
			case !ok:
				end = true
				break fill
			case err != nil:
				return fail(err)
			case len(page) == size: // full, and not the last page
				ahead = append(ahead, it)
				break fill
			}
			page = append(page, it)
		}
		if err := db.importPage(ctx, st, page, end); err != nil {
			return fail(err)
		}
		if end {
			return st.rep, nil
		}
	}
}

// importPage imports one page of rows in one transaction; last finishes
// the import (what left the sheet, the batch's record, the event). st
// changes only when the page's function succeeds; any error ends the
// whole import, so a page that fails to commit leaves nothing behind.
func (db *DB) importPage(ctx context.Context, st *importState, items []importItem, last bool) error {
	spec := st.spec
	return db.update(ctx, "import", func(t *txn) error {
		rep := st.rep
		rep.ConflictLines = slices.Clone(rep.ConflictLines)
		b, err := t.batch(spec.BatchID)
		if err == nil && st.pages == 0 && spec.Derived && b.meta.File != spec.File {
			return fmt.Errorf("batch %s was imported from %s, not %s: %w", spec.BatchID, b.meta.File, spec.File, ErrOtherFile)
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err // a damaged batch record is not a new batch
		}
		created := st.created
		if err != nil {
			if b, err = t.createBatch(spec.BatchID); err != nil {
				return err
			}
			created = true
			rep.Created = true
			b.meta.File = spec.File  // an interrupted import resumes under its own file name
			b.refs.FillPercent = 1.0 // refs are inserted sorted into an empty bucket
		}
		t.importNo = b.meta.Imports + 1
		cur, start, present := st.last, st.start, st.present
		if st.pages == 0 {
			if k, _ := b.lines.Cursor().Last(); k != nil {
				cur = binary.BigEndian.Uint64(k)
			}
			start = cur
			if !created {
				present = make([]bool, cur+1)
			}
		}
		inPage := make(map[string]struct{}, len(items))
		taken := func(key string) bool { return takenHere(b, key, start, present, inPage) }
		added := make([]refSeq, 0, len(items))
		totals := newMoneySums()
		sheet := newMoneySums()
		for i := range items {
			if i&0xfff == 0 {
				if err := t.ctx.Err(); err != nil {
					return err
				}
			}
			it := &items[i]
			switch {
			case it.line != nil && !st.checked:
				// Rows read as they go: references were not checked up front.
				if taken(it.ref) {
					return fmt.Errorf("ledger: reference %q appears twice: %w", it.ref, ErrInput)
				}
			case it.inv != nil && it.ref == "":
				it.ref = fmt.Sprintf("row-%d", it.inv.Row)
				if r := it.inv.Reference; r != "" && checkKey("", r) == nil && !taken(r) {
					it.ref = r
				}
				if taken(it.ref) {
					return fmt.Errorf("ledger: invalid row %d: key %q appears twice: %w", it.inv.Row, it.ref, ErrInput)
				}
			}
			inPage[it.ref] = struct{}{}
			if it.line != nil {
				if it.fp == "" {
					it.fp = it.line.Fingerprint()
				}
				sheet.add(it.line.Currency, it.line.Amount)
			}
			var sk []byte
			if !created {
				sk = b.refs.Get([]byte(it.ref))
			}
			if sk == nil {
				cur++
				if err := t.add(b, cur, it, totals, &rep); err != nil {
					return err
				}
				if err := t.setExtras(b, cur, spec.ExtraColumns, lineExtra(it)); err != nil {
					return err
				}
				added = append(added, refSeq{it.ref, cur})
				continue
			}
			seq := binary.BigEndian.Uint64(sk)
			if seq < uint64(len(present)) {
				present[seq] = true
			}
			if err := t.reimport(b, seq, it, &rep); err != nil {
				return err
			}
			if err := t.setExtras(b, seq, spec.ExtraColumns, lineExtra(it)); err != nil {
				return err
			}
		}
		totals.into(b.meta.Totals)
		byRef := func(a, b refSeq) int { return strings.Compare(a.ref, b.ref) }
		if !slices.IsSortedFunc(added, byRef) {
			slices.SortFunc(added, byRef)
		}
		for _, a := range added {
			t.key = append(t.key[:0], a.ref...) // bbolt copies keys, not values
			if err := b.refs.Put(t.key, t.keep(binary.BigEndian.AppendUint64(t.buf[:0], a.seq))); err != nil {
				return err
			}
		}
		m := b.meta
		commit := func() {
			sheet.into(st.sheetSums())
			st.rep, st.created, st.start, st.present, st.last = rep, created, start, present, cur
			st.pages++
		}
		if !last {
			m.Importing = t.importNo
			t.touch(b.id)
			commit()
			return nil
		}
		if !created {
			if err := t.departed(b, present, &rep); err != nil {
				return err
			}
		}
		if m.File != spec.File || !slices.Equal(m.ExtraColumns, spec.ExtraColumns) {
			t.bump(b)
		}
		m.File, m.SheetHash, m.ConfigFingerprint = spec.File, spec.SheetHash, spec.ConfigFingerprint
		m.Imports++
		m.Importing = 0
		m.ExtraColumns = spec.ExtraColumns
		m.SheetTotals = map[batch.Currency]batch.Money{}
		for c, v := range st.sheetSums() {
			m.SheetTotals[c] = v
		}
		sheet.into(m.SheetTotals)
		t.touch(b.id)
		if err := t.event(b, Event{Cause: "import", Note: fmt.Sprintf(
			"file=%s sha256=%s added=%d unchanged=%d updated=%d revived=%d conflicts=%d cancelled=%d invalid=%d departed=%d",
			spec.File, spec.SheetHash, rep.Added, rep.Unchanged, rep.Updated, rep.Revived, rep.Conflicts, rep.Cancelled, rep.Invalid, rep.Departed)}); err != nil {
			return err
		}
		commit()
		return nil
	})
}

// add stores a new line (pending, or invalid for an invalid row), adding
// its amount to totals.
func (t *txn) add(b *bkt, seq uint64, it *importItem, totals moneySums, rep *batch.ImportReport) error {
	r := LineRecord{BatchID: b.id, Seq: seq, Ref: it.ref, Created: t.now, Updated: t.now, SetBy: t.importNo}
	if it.line != nil {
		r.Line, r.Fingerprint, r.State = *it.line, it.fp, batch.StatePending
		totals.add(r.Line.Currency, r.Line.Amount)
		rep.Added++
	} else {
		r.Invalid, r.State = it.inv, batch.StateInvalid
		rep.Invalid++
	}
	b.meta.Lines++
	b.meta.Counts[r.State]++
	t.bump(b)
	t.buf = appendRecord(t.buf[:0], &r)
	t.key = binary.BigEndian.AppendUint64(t.key[:0], seq)
	return b.lines.putLine(t.key, t.keep(t.buf), &r)
}

// moneySums adds amounts per currency in integer cents, without the
// allocations of Money.Add, falling back to Money for any amount that is
// not a whole number of cents.
type moneySums struct {
	cents map[batch.Currency]int64
	rest  map[batch.Currency]batch.Money
}

func newMoneySums() moneySums {
	return moneySums{cents: map[batch.Currency]int64{}, rest: map[batch.Currency]batch.Money{}}
}

func (s moneySums) add(c batch.Currency, m batch.Money) {
	v, ok := moneyCentsOf(m) // |v| < 2^60
	if !ok {
		s.rest[c] = s.rest[c].Add(m)
		return
	}
	n := s.cents[c]
	if n > 1<<61 || n < -(1<<61) {
		s.rest[c] = s.rest[c].Add(moneyFromCents(n))
		n = 0
	}
	s.cents[c] = n + v
}

// into adds the sums to dst, creating an entry for every currency seen.
func (s moneySums) into(dst map[batch.Currency]batch.Money) {
	for c, n := range s.cents {
		dst[c] = dst[c].Add(moneyFromCents(n))
	}
	for c, m := range s.rest {
		dst[c] = dst[c].Add(m)
	}
}

// neverSent reports whether nothing was ever sent for the line.
func neverSent(r *LineRecord) bool {
	switch r.State {
	case batch.StatePending, batch.StateInvalid, batch.StateCancelled:
		return len(r.Attempts) == 0
	}
	return false
}

// setLine replaces a never-sent line's data, keeping Totals right.
func (t *txn) setLine(b *bkt, r *LineRecord, it *importItem) {
	if r.Fingerprint != "" {
		b.meta.Totals[r.Line.Currency] = b.meta.Totals[r.Line.Currency].Sub(r.Line.Amount)
	}
	if it.line != nil {
		r.Line, r.Fingerprint, r.Invalid = *it.line, it.fp, nil
		b.meta.Totals[r.Line.Currency] = b.meta.Totals[r.Line.Currency].Add(r.Line.Amount)
	} else {
		r.Line, r.Fingerprint, r.Invalid = batch.Line{}, "", it.inv
	}
	r.Changed, r.ChangedInvalid = nil, nil
	r.SetBy = t.importNo
}

// reimport reconciles one sheet line with the line already stored.
func (t *txn) reimport(b *bkt, seq uint64, it *importItem, rep *batch.ImportReport) error {
	v := b.lines.Get(seqKey(seq))
	if v == nil {
		return &DamagedError{Path: b.path, Batch: b.id, Ref: it.ref, Detail: fmt.Sprintf("the reference index points at missing line #%d", seq)}
	}
	h, err := peekRecord(b, v)
	if err != nil {
		return err
	}
	// Fast path: same valid line, nothing to revive.
	if it.line != nil && bytes.Equal(h.fp, []byte(it.fp)) && h.state != batch.StateCancelled {
		rep.Unchanged++
		if h.row != it.row { // rows moved in the sheet: keep the report's row numbers right
			r, err := decodeRecord(b, seq, v)
			if err != nil {
				return err
			}
			r.Line.Row = it.row
			return t.save(b, r)
		}
		return nil
	}
	r, err := decodeRecord(b, seq, v)
	if err != nil {
		return err
	}
	imp := Event{Cause: "import"}
	if it.line != nil && r.Fingerprint == it.fp { // cancelled, back unchanged
		r.Line.Row = it.row
		r.SetBy = t.importNo
		rep.Revived++
		return t.move(b, r, batch.StatePending, trImport, imp)
	}
	if it.inv != nil && r.State == batch.StateInvalid { // still invalid
		rep.Invalid++
		if r.Invalid != nil && string(mustJSON(r.Invalid)) == string(mustJSON(it.inv)) {
			return nil
		}
		r.Invalid = it.inv
		return t.save(b, r)
	}
	if neverSent(r) {
		from := r.State
		t.setLine(b, r, it)
		switch {
		case it.inv != nil:
			rep.Invalid++
			return t.move(b, r, batch.StateInvalid, trImport, imp)
		case from == batch.StatePending:
			rep.Updated++
			if err := t.event(b, Event{Ref: r.Ref, Cause: "import", Note: "line changed in the sheet before it was sent: updated"}); err != nil {
				return err
			}
			return t.save(b, r)
		default:
			rep.Revived++
			return t.move(b, r, batch.StatePending, trImport, imp)
		}
	}
	if r.State != batch.StateConflict && !r.MayHavePaid() && !r.Blocked() {
		return t.correct(b, r, it, rep)
	}
	// An attempt may have paid this line: never apply the change.
	rep.Conflicts++
	c := batch.Conflict{Ref: r.Ref, Row: it.row, State: r.State, Old: r.Line, New: it.line, NewInvalid: it.inv}
	rep.ConflictLines = append(rep.ConflictLines, c)
	same := (it.line != nil && r.Changed != nil && r.Changed.Fingerprint() == it.fp) ||
		(it.inv != nil && r.ChangedInvalid != nil)
	r.Changed, r.ChangedInvalid = it.line, it.inv
	note := "line changed in the sheet after it was sent: not applied, never sent again"
	switch r.State {
	case batch.StatePending, batch.StateInvalid, batch.StateCancelled:
		imp.Note = note
		return t.move(b, r, batch.StateConflict, trImport, imp)
	}
	if same {
		return nil // already recorded by an earlier import
	}
	if r.State == batch.StateConflict {
		if err := t.event(b, Event{Ref: r.Ref, Cause: "import", Note: "conflicting line changed again in the sheet", Flagged: true}); err != nil {
			return err
		}
		return t.save(b, r)
	}
	return t.flag(b, r, FlagSheetChanged, Event{Cause: "import", Note: note})
}

// departed handles lines that are no longer in the sheet.
func (t *txn) departed(b *bkt, present []bool, rep *batch.ImportReport) error {
	c := b.lines.Cursor()
	var cancel []uint64
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq := binary.BigEndian.Uint64(k)
		if seq >= uint64(len(present)) {
			break // added by this import
		}
		if present[seq] {
			continue
		}
		h, err := peekRecord(b, v)
		if err != nil {
			return err
		}
		switch h.state {
		case batch.StatePending, batch.StateInvalid:
			cancel = append(cancel, seq)
		case batch.StateCancelled:
		case batch.StateFailed:
			// A failed line the operator removed: cancelled when no
			// attempt may have paid it (nothing was paid, nothing will be).
			r, err := decodeRecord(b, seq, v)
			if err != nil {
				return err
			}
			if r.MayHavePaid() || r.Blocked() {
				rep.Departed++
			} else {
				cancel = append(cancel, seq)
			}
		default:
			rep.Departed++
		}
	}
	for _, seq := range cancel { // not while iterating: move writes to the bucket
		r, err := t.getSeq(b, seq)
		if err != nil {
			return err
		}
		rep.Cancelled++
		note := "line left the sheet before it was sent"
		if r.State == batch.StateFailed {
			note = "failed line left the sheet: nothing was paid, nothing will be"
		}
		if err := t.move(b, r, batch.StateCancelled, trImport, Event{Cause: "import", Note: note}); err != nil {
			return err
		}
	}
	return nil
}

// correct applies the sheet's version of a line that was sent, but whose
// every attempt proved it paid nothing (refused before anything ran,
// failed conclusively, or settled or resolved as failed): the operator
// fixed the phone, account or amount, so the line is pending again and
// gets a new attempt; an invalid version makes it invalid. The event log
// records the correction.
func (t *txn) correct(b *bkt, r *LineRecord, it *importItem, rep *batch.ImportReport) error {
	from := r.State
	was := r.Line
	t.setLine(b, r, it)
	r.dropFlag(FlagSheetChanged)
	if it.inv != nil {
		rep.Invalid++
		ev := Event{Cause: "correction", Note: "line changed in the sheet after every attempt failed; the new version is invalid"}
		if from == batch.StateInvalid {
			ev.Ref = r.Ref
			if err := t.event(b, ev); err != nil {
				return err
			}
			return t.save(b, r)
		}
		return t.move(b, r, batch.StateInvalid, trImport, ev)
	}
	rep.Corrected++
	r.addFlag(FlagCorrected)
	r.FailureReason = ""
	ev := Event{Cause: "correction", Note: fmt.Sprintf("corrected in the sheet after every attempt failed (%s %s %s → %s %s %s): a new attempt is allowed",
		was.Dest.Masked(), was.Amount, was.Currency, r.Line.Dest.Masked(), r.Line.Amount, r.Line.Currency)}
	if from == batch.StatePending {
		ev.Ref = r.Ref
		if err := t.event(b, ev); err != nil {
			return err
		}
		return t.save(b, r)
	}
	return t.move(b, r, batch.StatePending, trImport, ev)
}

func lineExtra(it *importItem) []string {
	if it.line == nil {
		return nil
	}
	return it.line.Extra
}
