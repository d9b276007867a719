package batch

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Validation runs as a pipeline of three goroutines, a batch of rows at a
// time: one reads the sheet (CSV parsing, cell checks), one checks each row
// on its own (phone, amount, text rules) and hashes its keys for the
// duplicate checks, and the caller's applies the rules across rows in
// sheet order and records the outcome. On two cores a million-row CSV
// validates in about half the time it takes on one. Nothing of the outcome
// depends on the timing: finish sees the rows in order, and check reads
// only the config, the mapping, the indexes' seed and caches that are safe
// for concurrent use.

// itemKind says what a pipeline item carries.
type itemKind uint8

const (
	itemRow   itemKind = iota // a row to check and finish
	itemWhole                 // a row that could not be split into cells: readErrs only
	itemEnd                   // the sheet cannot be read further: readErrs (none at io.EOF)
	itemFatal                 // err is not a row problem: validation fails with it
)

type rowItem struct {
	kind     itemKind
	rec      Record
	readErrs []error
	err      error
	// Set by check.
	line    Line
	errs    []error
	curText string
	// The line's keys in the duplicate indexes (set by check when the
	// line has no error, the rows finish takes to crossRow): its
	// reference's hash (if it has one) and its payee fingerprint's.
	refHash, payeeHash uint64
	// rowsHint, on one item early in the sheet, is the sheet's estimated
	// rows (see csvSheet.rowsHint).
	rowsHint int
}

const (
	pipeBatch = 128
	// hintAfter is the data rows read before the sheet's size is
	// estimated from them.
	hintAfter = 4096
)

// rowsHinter is a Sheet that can estimate its rows.
type rowsHinter interface{ rowsHint() int }

func (v *validator) run(ctx context.Context, s Sheet) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait() // the sheet is closed after Validate returns: no reader may be left
	}()
	free := make(chan []rowItem, 8)
	read := make(chan []rowItem, 4)
	checked := make(chan []rowItem, 4)
	send := func(ch chan<- []rowItem, b []rowItem) bool {
		select {
		case ch <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	wg.Go(func() {
		defer close(read)
		readSheet(ctx, s, free, func(b []rowItem) bool { return send(read, b) })
	})
	wg.Go(func() {
		defer close(checked)
		for b := range read {
			for i := range b {
				if b[i].kind == itemRow {
					v.check(&b[i])
				}
			}
			if !send(checked, b) {
				return
			}
		}
	})
	for b := range checked {
		v.touch(b)
		for i := range b {
			it := &b[i]
			switch it.kind {
			case itemFatal:
				return it.err
			case itemEnd:
				v.out.Errors = append(v.out.Errors, it.readErrs...)
				return nil
			case itemWhole:
				// The row could not be split into cells (wrong number of
				// cells, a stray quote): its cells are unknown, so checking
				// them would only add misleading errors.
				v.out.Rows++
				v.out.Errors = append(v.out.Errors, it.readErrs...)
				v.out.Invalid = append(v.out.Invalid, invalidRow(&it.rec, &Line{Row: it.rec.Row}, "", it.readErrs))
			case itemRow:
				if it.rowsHint > 0 {
					v.refs.reserve(it.rowsHint)
					v.payees.reserve(it.rowsHint)
				}
				v.out.Rows++
				v.finish(it)
				if v.sinkErr != nil {
					return nil // ValidateWith returns it
				}
			}
		}
		select {
		case free <- b[:0]:
		default:
		}
	}
	// The reader stopped without an end item: the context was canceled.
	return ctx.Err()
}

// readSheet reads rows into batches and hands each to emit, until the end
// of the sheet, a fatal error, or emit refuses.
func readSheet(ctx context.Context, s Sheet, free chan []rowItem, emit func([]rowItem) bool) {
	var b []rowItem
	next := func() *rowItem {
		if b == nil {
			select {
			case b = <-free:
			default:
				b = make([]rowItem, 0, pipeBatch)
			}
		}
		b = append(b, rowItem{})
		return &b[len(b)-1]
	}
	hinter, _ := s.(rowsHinter)
	rows := 0
	for {
		rec, err := s.Next(ctx)
		it := next()
		switch {
		case errors.Is(err, io.EOF):
			it.kind = itemEnd
		case err != nil:
			errs, ok := rowErrors(err)
			switch {
			case !ok:
				it.kind, it.err = itemFatal, err
			case rec.Row == 0: // fatal: the sheet cannot be read further
				it.kind, it.readErrs = itemEnd, errs
			case wholeRow(errs):
				it.kind, it.rec, it.readErrs = itemWhole, rec, errs
			default:
				it.kind, it.rec, it.readErrs = itemRow, rec, errs
			}
		default:
			it.kind, it.rec = itemRow, rec
			if rows++; rows == hintAfter && hinter != nil {
				it.rowsHint = hinter.rowsHint()
			}
		}
		if it.kind == itemEnd || it.kind == itemFatal {
			emit(b)
			return
		}
		if len(b) == pipeBatch {
			if !emit(b) {
				return
			}
			b = nil
		}
	}
}

// touch reads the table slot where each checked row of b will be looked
// up. The loads do not depend on each other, so the processor overlaps
// their cache misses, and finish then finds the slots in cache: the
// indexes' tables are many megabytes at a million rows, and waiting for
// each row's slots in turn was a tenth of validating's time.
func (v *validator) touch(b []rowItem) {
	var sum byte
	for i := range b {
		if it := &b[i]; it.kind == itemRow && len(it.errs) == 0 { // check hashed its keys
			if it.line.Reference != "" {
				sum += v.refs.peek(it.refHash)
			}
			sum += v.payees.peek(it.payeeHash)
		}
	}
	v.touched += sum // kept, so that the loads are not left out
}
