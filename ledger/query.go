package ledger

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"payroll/batch"
)

// pageSize is how many records an iterator reads per read transaction.
// Iterators never hold a transaction while the caller runs, so a caller
// may write to the ledger from inside the loop.
const pageSize = 1024

// Batch returns a batch's metadata, or an error wrapping ErrNotFound.
func (db *DB) Batch(ctx context.Context, id string) (Batch, error) {
	var m Batch
	err := db.view(func(t *txn) error {
		p, err := t.meta(id)
		if err == nil {
			m = *p
		}
		return err
	})
	return m, err
}

// Counts returns the number of the batch's lines per state (kept in the
// batch record: no line is read).
func (db *DB) Counts(ctx context.Context, batchID string) (map[batch.State]int, error) {
	b, err := db.Batch(ctx, batchID)
	if err != nil {
		return nil, err
	}
	return b.Counts, nil
}

var _ batch.StateCounter = (*DB)(nil)

// Batches returns every batch's metadata, ordered by batch ID.
func (db *DB) Batches(ctx context.Context) ([]Batch, error) {
	var out []Batch
	err := db.view(func(t *txn) error {
		return t.tx.Bucket(bktBatches).ForEach(func(k, _ []byte) error {
			m, err := t.meta(string(k))
			if err == nil {
				out = append(out, *m)
			}
			return err
		})
	})
	return out, err
}

// Line returns one line by reference.
func (db *DB) Line(ctx context.Context, batchID, ref string) (LineRecord, error) {
	var r LineRecord
	err := db.view(func(t *txn) error {
		b, err := t.batch(batchID)
		if err != nil {
			return err
		}
		p, err := t.get(b, ref)
		if err == nil {
			r = *p
		}
		return err
	})
	return r, err
}

// Lines yields the batch's lines in ledger order: sheet order of the first
// import, with lines added by later imports after them (LineRecord.Row
// gives the row in the latest sheet). It reads in pages, holding no
// transaction while the loop body runs. An error ends the sequence.
func (db *DB) Lines(ctx context.Context, batchID string) iter.Seq2[LineRecord, error] {
	return db.records(ctx, batchID, scan{extras: true})
}

// scan says which records records yields.
type scan struct {
	extras bool                   // with their extra columns
	states []batch.State          // only lines in these states (all if empty); read from the header, before decoding
	keep   func(*LineRecord) bool // only those keep accepts (all if nil)
}

// records yields the batch's lines like Lines, those s selects. A page is
// pageSize records read, yielded or not, so that no read transaction is
// long.
func (db *DB) records(ctx context.Context, batchID string, s scan) iter.Seq2[LineRecord, error] {
	return func(yield func(LineRecord, error) bool) {
		var after []byte
		for {
			var page []LineRecord
			end := false
			err := db.view(func(t *txn) error {
				b, err := t.batch(batchID)
				if err != nil {
					return err
				}
				var k, v []byte
				c := b.lines.Cursor()
				if after == nil {
					k, v = c.First()
				} else if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
				read := 0
				for ; k != nil && read < pageSize; k, v = c.Next() {
					read++
					after = append(after[:0], k...)
					if len(s.states) > 0 {
						h, err := peekRecord(b, v)
						if err != nil {
							return err
						}
						if !slices.Contains(s.states, h.state) {
							continue
						}
					}
					r, err := decodeRecord(b, binary.BigEndian.Uint64(k), v)
					if err != nil {
						return err
					}
					if s.keep != nil && !s.keep(r) {
						continue
					}
					if s.extras && b.extras.Bucket != nil {
						if ev := b.extras.Get(k); ev != nil {
							if err := json.Unmarshal(ev, &r.Extra); err != nil {
								return &DamagedError{Path: b.path, Batch: b.id, Ref: r.Ref, Detail: "extra columns: " + err.Error()}
							}
						}
					}
					page = append(page, *r)
				}
				end = k == nil
				return nil
			})
			if err == nil {
				err = ctx.Err()
			}
			if err != nil {
				yield(LineRecord{}, err)
				return
			}
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
			if end {
				return
			}
		}
	}
}

// PendingLines yields the batch's pending lines of provider p (of every
// provider when p is empty), what a run sends, in ledger order and in
// pages like Lines: a run reads them as it sends, never all at once.
func (db *DB) PendingLines(ctx context.Context, batchID string, p batch.ProviderName) iter.Seq2[batch.Line, error] {
	sc := scan{states: []batch.State{batch.StatePending}}
	if p != "" {
		sc.keep = func(r *LineRecord) bool { return r.Line.Provider == p }
	}
	return func(yield func(batch.Line, error) bool) {
		for r, err := range db.records(ctx, batchID, sc) {
			if !yield(r.Line, err) || err != nil {
				return
			}
		}
	}
}

// Verify reads every record of the batch and checks its sum: a damaged
// batch is an error (DamagedError naming the line), and nothing in it may
// be sent. run and retry call it before sending.
func (db *DB) Verify(ctx context.Context, batchID string) error {
	for _, err := range db.Lines(ctx, batchID) {
		if err != nil {
			return err
		}
	}
	return nil
}

// Views yields the batch's lines as batch.LineView, like Lines.
func (db *DB) Views(ctx context.Context, batchID string) iter.Seq2[batch.LineView, error] {
	return func(yield func(batch.LineView, error) bool) {
		for r, err := range db.Lines(ctx, batchID) {
			if err != nil {
				yield(batch.LineView{}, err)
				return
			}
			if !yield(r.View(), nil) {
				return
			}
		}
	}
}

// Events yields the batch's event log in order, in pages like Lines.
func (db *DB) Events(ctx context.Context, batchID string) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		var next uint64 = 1
		for {
			var page []Event
			err := db.view(func(t *txn) error {
				b, err := t.batch(batchID)
				if err != nil {
					return err
				}
				c := b.events.Cursor()
				for k, v := c.Seek(seqKey(next)); k != nil && len(page) < pageSize; k, v = c.Next() {
					var e Event
					if err := json.Unmarshal(v, &e); err != nil {
						return err
					}
					e.Seq = binary.BigEndian.Uint64(k)
					next = e.Seq + 1
					page = append(page, e)
				}
				return nil
			})
			if err == nil {
				err = ctx.Err()
			}
			if err != nil {
				yield(Event{}, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if len(page) < pageSize {
				return
			}
		}
	}
}

// SummaryRow is the count and total of a batch's lines in one state, for
// one provider and currency. Invalid rows have no amount; their provider
// and currency are as the sheet wrote them.
type SummaryRow struct {
	State    batch.State
	Provider batch.ProviderName
	Currency batch.Currency
	Count    int
	Total    batch.Money
}

// Summary counts and totals a batch's lines per state × provider ×
// currency, ordered by state (batch.States order), provider, currency.
func (db *DB) Summary(ctx context.Context, batchID string) ([]SummaryRow, error) {
	type key struct {
		s batch.State
		p batch.ProviderName
		c batch.Currency
	}
	acc := map[key]*SummaryRow{}
	for r, err := range db.Lines(ctx, batchID) {
		if err != nil {
			return nil, err
		}
		k := key{r.State, r.Line.Provider, r.Line.Currency}
		if r.Invalid != nil {
			k.p, k.c = batch.ProviderName(r.Invalid.Provider), batch.Currency(r.Invalid.Currency)
		}
		row := acc[k]
		if row == nil {
			row = &SummaryRow{State: k.s, Provider: k.p, Currency: k.c}
			acc[k] = row
		}
		row.Count++
		if r.Invalid == nil {
			row.Total = row.Total.Add(r.Line.Amount)
		}
	}
	out := make([]SummaryRow, 0, len(acc))
	for _, r := range acc {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b SummaryRow) int {
		return cmp.Or(cmp.Compare(slices.Index(batch.States, a.State), slices.Index(batch.States, b.State)),
			cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Currency, b.Currency))
	})
	return out, nil
}

// Duplicates lists the batch's pending lines that look like payments
// already made within window before now (docs/design.md §3, the duplicate
// guard).
func (db *DB) Duplicates(ctx context.Context, batchID string, window time.Duration) ([]batch.Duplicate, error) {
	var out []batch.Duplicate
	since := db.now().Add(-window)
	err := db.view(func(t *txn) error {
		b, err := t.batch(batchID)
		if err != nil {
			return err
		}
		payees := t.tx.Bucket(bktPayees).Cursor()
		seqs, err := scanStates(b, batch.StatePending)
		if err != nil {
			return err
		}
		for i, seq := range seqs {
			if i&0xfff == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			r, err := t.getSeq(b, seq)
			if err != nil {
				return err
			}
			prefix := append([]byte(r.Line.PayeeKey()), 0)
			for k, v := payees.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = payees.Next() {
				rest := k[len(prefix):]
				j := bytes.IndexByte(rest, 0)
				if j < 0 || len(v) != 9 {
					return damaged(t.path, "bad payee index entry")
				}
				other, otherRef := string(rest[:j]), string(rest[j+1:])
				when := time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
				if when.Before(since) || other == batchID && otherRef == r.Ref {
					continue
				}
				ob, err := t.batch(other)
				if err != nil {
					return err
				}
				o, err := t.get(ob, otherRef)
				if err != nil {
					return err
				}
				if other == batchID && o.SetBy == r.SetBy {
					continue // one import asked for both: allowed, warned at import
				}
				out = append(out, batch.Duplicate{Ref: r.Ref, Row: r.Row(), OtherBatch: other, OtherRef: otherRef,
					OtherRow: o.Row(), OtherState: codeStates[v[8]], When: when})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: duplicates of %s: %w", batchID, err)
	}
	return out, nil
}

// AllowDuplicates marks the batch's pending lines refs as sent despite the
// duplicate guard (--allow-duplicates): a flag for the report and an
// event naming the earlier payment, in one transaction.
func (db *DB) AllowDuplicates(ctx context.Context, batchID string, dups []batch.Duplicate) error {
	err := db.update(ctx, "allow-duplicates", func(t *txn) error {
		b, err := t.batch(batchID)
		if err != nil {
			return err
		}
		for _, d := range dups {
			r, err := t.get(b, d.Ref)
			if err != nil {
				return err
			}
			if err := t.event(b, Event{Ref: r.Ref, Cause: "allow-duplicates", Note: fmt.Sprintf(
				"operator allowed a payment like batch %s row %d (%s, %s)", d.OtherBatch, d.OtherRow, d.OtherRef, d.OtherState)}); err != nil {
				return err
			}
			r.addFlag(FlagDuplicateAllowed)
			if err := t.save(b, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: allow duplicates in %s: %w", batchID, err)
	}
	return nil
}

// Check runs bbolt's consistency check and the ledger's invariants over
// every batch: counts per state add up to the lines and match the
// batch's metadata; per currency the lines' amounts add up to the
// imported totals; no
// line has more than one attempt that was accepted (or unknown) and not
// settled failed; the in-flight index names exactly the sending lines; every
// reference index entry points at its line. It returns all problems
// joined, each wrapping ErrInvariant, or nil.
func (db *DB) Check(ctx context.Context) (cerr error) {
	defer faultsPanic()()
	defer guard(db.path, &cerr)
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("ledger: "+format+": %w", append(a, ErrInvariant)...))
	}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			bad("bbolt: %v", err)
		}
		t := &txn{tx: tx, ctx: ctx, metas: map[string]*Batch{}, path: db.path, legacy: db.legacy}
		inflight := map[string]bool{}
		if err := tx.Bucket(bktInflight).ForEach(func(k, _ []byte) error {
			inflight[string(k)] = true
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bktBatches).ForEach(func(k, _ []byte) error {
			b, err := t.batch(string(k))
			if err != nil {
				bad("batch %q: %v", k, err)
				return nil
			}
			checkBatch(t, b, inflight, bad)
			return ctx.Err()
		})
	})
	if err != nil {
		return fmt.Errorf("ledger: check: %w", err)
	}
	return joinErrors(errs)
}

func checkBatch(t *txn, b *bkt, inflight map[string]bool, bad func(string, ...any)) {
	counts := map[batch.State]int{}
	totals := map[batch.Currency]batch.Money{}
	n := 0
	c := b.lines.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq := binary.BigEndian.Uint64(k)
		r, err := decodeRecord(b, seq, v)
		if err != nil {
			bad("batch %q line #%d: %v", b.id, seq, err)
			continue
		}
		n++
		counts[r.State]++
		if r.Fingerprint != "" {
			totals[r.Line.Currency] = totals[r.Line.Currency].Add(r.Line.Amount)
			if r.Fingerprint != r.Line.Fingerprint() {
				bad("batch %q line %q: stored fingerprint does not match its data", b.id, r.Ref)
			}
		}
		if sk := b.refs.Get([]byte(r.Ref)); sk == nil || binary.BigEndian.Uint64(sk) != seq {
			bad("batch %q line %q: reference index does not point at it", b.id, r.Ref)
		}
		if (r.State == batch.StateSending) != inflight[string(inflightKey(b.id, seq))] {
			bad("batch %q line %q: state %s disagrees with the in-flight index", b.id, r.Ref, r.State)
		}
		checkAttempts(b.id, r, bad)
	}
	if n != b.meta.Lines {
		bad("batch %q: %d line records, metadata says %d", b.id, n, b.meta.Lines)
	}
	sum := 0
	for _, s := range batch.States {
		sum += counts[s]
		if counts[s] != b.meta.Counts[s] {
			bad("batch %q: %d lines %s, metadata says %d", b.id, counts[s], s, b.meta.Counts[s])
		}
	}
	if sum != n {
		bad("batch %q: states count %d lines of %d", b.id, sum, n)
	}
	for cur, want := range b.meta.Totals {
		if !totals[cur].Equal(want) {
			bad("batch %q: %s lines sum to %s, import recorded %s", b.id, cur, totals[cur], want)
		}
	}
	for cur, got := range totals {
		if _, ok := b.meta.Totals[cur]; !ok && !got.IsZero() {
			bad("batch %q: %s lines sum to %s, import recorded none", b.id, cur, got)
		}
	}
	if n := b.refs.Stats().KeyN; n != b.meta.Lines {
		bad("batch %q: %d references for %d lines", b.id, n, b.meta.Lines)
	}
}

// checkAttempts: at most one attempt that may have paid (accepted or
// unknown, not settled failed): invariant 1, one accepted payout per line.
func checkAttempts(batchID string, r *LineRecord, bad func(string, ...any)) {
	accepted := 0
	for i, a := range r.Attempts {
		if a.mayHavePaid() {
			accepted++
		}
		if i < len(r.Attempts)-1 && a.Outcome == 0 {
			bad("batch %q line %q: attempt %s has no outcome but is not the last", batchID, r.Ref, a.ID)
		}
	}
	if accepted > 1 {
		bad("batch %q line %q: %d attempts accepted (or unknown) and not failed", batchID, r.Ref, accepted)
	}
	if a := r.Current(); a != nil && a.Outcome == 0 && r.State != batch.StateSending {
		bad("batch %q line %q: current attempt has no outcome but line is %s", batchID, r.Ref, r.State)
	}
}

// ByProviderRef returns the lines a provider reference covers (one for a
// KiotaPay requestId, a chunk for a Kopo Kopo location), or an error
// wrapping ErrNotFound.
func (db *DB) ByProviderRef(ctx context.Context, p batch.ProviderName, ref string) ([]LineRecord, error) {
	var out []LineRecord
	err := db.view(func(t *txn) error {
		v := t.tx.Bucket(bktProvRefs).Get(provKey(p, ref))
		if v == nil {
			return fmt.Errorf("ledger: provider reference %s %q: %w", p, ref, ErrNotFound)
		}
		var pr provRef
		if err := json.Unmarshal(v, &pr); err != nil {
			return damaged(t.path, "provider reference index entry: %v", err)
		}
		b, err := t.batch(pr.Batch)
		if err != nil {
			return err
		}
		for _, seq := range pr.Seqs {
			r, err := t.getSeq(b, seq)
			if err != nil {
				return err
			}
			out = append(out, *r)
		}
		return nil
	})
	return out, err
}
