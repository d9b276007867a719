package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"payroll/batch"
)

// Claimed is the result of Claim: the attempt committed as intent, and
// the lines that were not claimed because they were not pending.
type Claimed struct {
	ID      string   // the attempt's ID (uuid v7), shared by the claimed lines
	BatchID string   //
	Refs    []string // claimed lines, now sending, in the order asked
	Skipped []Skip   // lines not claimed
}

// Skip is a line Claim did not claim, with its state at the time.
type Skip struct {
	Ref   string
	State batch.State // "" if the reference is unknown
}

// Claim records the intent to send: in one transaction (one fsync) it
// checks that each line is pending and marks it sending under a new
// attempt. Only after Claim returns may the caller send the returned
// lines. Lines that are not pending (or unknown references) are skipped
// and listed in Claimed.Skipped; a flagged line is never claimed.
func (db *DB) Claim(ctx context.Context, batchID string, refs []string) (string, []batch.Line, error) {
	cl, lines, err := db.claim(ctx, batchID, refs)
	return cl.ID, lines, err
}

var _ batch.Ledger = (*DB)(nil)

// claim is Claim with the details: which lines were skipped, and why.
func (db *DB) claim(ctx context.Context, batchID string, refs []string) (Claimed, []batch.Line, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Claimed{}, nil, fmt.Errorf("ledger: attempt id: %w", err)
	}
	var cl Claimed
	var out []batch.Line
	err = db.update(ctx, "claim", func(t *txn) error {
		cl = Claimed{ID: id.String(), BatchID: batchID}
		out = out[:0]
		b, err := t.batch(batchID)
		if err != nil {
			return err
		}
		if b.meta.Importing != 0 {
			return fmt.Errorf("ledger: batch %s: %w", batchID, ErrImporting)
		}
		for _, ref := range refs {
			r, err := t.get(b, ref)
			if err != nil {
				cl.Skipped = append(cl.Skipped, Skip{Ref: ref})
				continue
			}
			// Belt and braces (invariant 6): whatever the state byte says,
			// a line any of whose attempts may have paid is never claimed.
			if r.State != batch.StatePending || r.Blocked() || r.MayHavePaid() {
				cl.Skipped = append(cl.Skipped, Skip{Ref: ref, State: r.State})
				continue
			}
			cref := batch.AttemptRef(batchID, r.Ref, len(r.Attempts)+1, cl.ID)
			r.Attempts = append(r.Attempts, Attempt{ID: cl.ID, Started: t.now, ClientRef: cref})
			r.ProviderRef, r.Receipt, r.FailureReason = "", "", ""
			if err := t.move(b, r, batch.StateSending, trClaim, Event{Cause: "claim", Attempt: cl.ID}); err != nil {
				return err
			}
			cl.Refs = append(cl.Refs, ref)
			l := r.Line
			l.AttemptRef = cref
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		return Claimed{}, nil, fmt.Errorf("ledger: claim in %q: %w", batchID, err)
	}
	return cl, out, nil
}

// outcomeState is the state an outcome moves a sending line to.
func outcomeState(k batch.OutcomeKind) (batch.State, bool) {
	switch k {
	case batch.OutcomeAccepted:
		return batch.StateAccepted, true
	case batch.OutcomeNotSent:
		return batch.StatePending, true
	case batch.OutcomeFailed:
		return batch.StateFailed, true
	case batch.OutcomeUnknown:
		return batch.StateUnknown, true
	}
	return "", false
}

// RecordOutcomes records many outcomes in one transaction (one fsync).
// Each line must be sending under the outcome's attempt; the same
// outcome recorded twice is a no-op, and an outcome for a line that is
// no longer in flight under that attempt is recorded as a flagged event
// and not applied. Malformed input (unknown batch, line or kind, an
// accepted outcome without a provider reference) fails the whole call and
// writes nothing.
func (db *DB) RecordOutcomes(ctx context.Context, outs []batch.Outcome) error {
	for i, o := range outs {
		if _, ok := outcomeState(o.Kind); !ok {
			return fmt.Errorf("ledger: outcome %d: kind %v: %w", i, o.Kind, ErrInput)
		}
		if o.Kind == batch.OutcomeAccepted && (o.Reference == "" || o.Provider == "") {
			return fmt.Errorf("ledger: outcome %d: accepted without provider and reference: %w", i, ErrInput)
		}
		if o.Reference != "" && (o.Provider == "" || checkKey("provider reference", o.Reference) != nil) {
			return fmt.Errorf("ledger: outcome %d: bad provider reference %q: %w", i, o.Reference, ErrInput)
		}
		if o.Attempt == "" || len(o.Refs) == 0 {
			return fmt.Errorf("ledger: outcome %d: attempt and lines are required: %w", i, ErrInput)
		}
	}
	err := db.update(ctx, "outcomes", func(t *txn) error {
		idx := provIndex{}
		for _, o := range outs {
			b, err := t.batch(o.BatchID)
			if err != nil {
				return err
			}
			to, _ := outcomeState(o.Kind)
			for _, ref := range o.Refs {
				r, err := t.get(b, ref)
				if err != nil {
					return err
				}
				if err := t.outcome(b, r, o, to, idx); err != nil {
					return err
				}
			}
		}
		return idx.write(t)
	})
	if err != nil {
		return fmt.Errorf("ledger: record outcomes: %w", err)
	}
	return nil
}

func (t *txn) outcome(b *bkt, r *LineRecord, o batch.Outcome, to batch.State, idx provIndex) error {
	a := r.attempt(o.Attempt)
	cur := r.Current()
	cause := outcomeName(o.Kind)
	ev := Event{Cause: cause, Attempt: o.Attempt, Note: o.Reason}
	if a == nil {
		return t.flag(b, r, FlagStaleOutcome, Event{Cause: cause, Attempt: o.Attempt,
			Note: fmt.Sprintf("outcome %s for an attempt this line never had; line is %s", cause, r.State)})
	}
	if r.State != batch.StateSending || a != cur {
		if a.Outcome == o.Kind && (o.Reference == "" || a.ProviderRef == o.Reference) {
			return nil // the same outcome again
		}
		return t.flag(b, r, FlagStaleOutcome, Event{Cause: cause, Attempt: o.Attempt,
			Note: fmt.Sprintf("outcome %s for attempt already %q; line is %s: not applied", cause, outcomeName(a.Outcome), r.State)})
	}
	a.Outcome, a.Ended, a.Error = o.Kind, t.now, o.Reason
	if o.Reference != "" {
		a.ProviderRef = o.Reference
		r.ProviderRef = o.Reference
		idx.add(o.Provider, o.Reference, b.id, r.Seq)
	}
	if o.Kind == batch.OutcomeFailed {
		r.FailureReason = o.Reason
	}
	return t.move(b, r, to, trOutcome, ev)
}

// provRef is the value of the provider-reference index: the lines one
// provider reference covers (one for KiotaPay, a chunk for Kopo Kopo).
type provRef struct {
	Provider batch.ProviderName `json:"p"`
	Batch    string             `json:"b"`
	Seqs     []uint64           `json:"s"`
}

func provKey(p batch.ProviderName, ref string) []byte {
	return append(append([]byte(p), 0), ref...)
}

// provIndex collects index additions during a transaction so that a
// chunk's reference is written once.
type provIndex map[string]*provRef

func (x provIndex) add(p batch.ProviderName, ref, batchID string, seq uint64) {
	k := string(provKey(p, ref))
	e := x[k]
	if e == nil {
		e = &provRef{Provider: p, Batch: batchID}
		x[k] = e
	}
	e.Seqs = append(e.Seqs, seq)
}

func (x provIndex) write(t *txn) error {
	bk := t.bucket(bktProvRefs)
	for k, e := range x {
		if old := bk.Get([]byte(k)); old != nil {
			var prev provRef
			if err := json.Unmarshal(old, &prev); err != nil {
				return damaged(t.path, "provider reference index entry: %v", err)
			}
			if prev.Batch != e.Batch {
				return fmt.Errorf("ledger: provider reference %q already belongs to batch %q: %w", k, prev.Batch, ErrInput)
			}
			for _, s := range e.Seqs {
				if !containsSeq(prev.Seqs, s) {
					prev.Seqs = append(prev.Seqs, s)
				}
			}
			e = &prev
		}
		if err := bk.Put([]byte(k), mustJSON(e)); err != nil {
			return err
		}
	}
	return nil
}

func containsSeq(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// recover turns every line left in sending into unknown: the process
// that claimed it died, so the request may or may not have gone out.
// One transaction, and none at all when nothing was in flight.
func (db *DB) recover() (int, error) {
	var any bool
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bktInflight).Cursor().First()
		any = k != nil
		return nil
	}); err != nil || !any {
		return 0, err
	}
	var n int
	err := db.update(context.Background(), "recover", func(t *txn) error {
		n = 0
		var keys [][]byte
		c := t.tx.Bucket(bktInflight).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			i := bytes.IndexByte(k, 0)
			if i < 0 || len(k) != i+9 {
				return damaged(t.path, "bad in-flight index key %q", k)
			}
			b, err := t.batch(string(k[:i]))
			if err != nil {
				return err
			}
			r, err := t.getSeq(b, binary.BigEndian.Uint64(k[i+1:]))
			if err != nil {
				return err
			}
			if r.State != batch.StateSending {
				return &DamagedError{Path: t.path, Batch: b.id, Ref: r.Ref, Detail: fmt.Sprintf("the in-flight index names a line in state %s", r.State)}
			}
			a := r.Current()
			a.Outcome, a.Ended = batch.OutcomeUnknown, t.now
			a.Error = "the process stopped before the outcome was recorded"
			if err := t.move(b, r, batch.StateUnknown, trRecovery, Event{Cause: "crash-recovery", Attempt: a.ID, Note: a.Error}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: crash recovery: %w", err)
	}
	return n, nil
}
