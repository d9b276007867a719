package ledger

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"payroll/batch"
)

var _ batch.SettleLedger = (*DB)(nil)

// Settle applies final results in one transaction. A line is found by its
// provider reference (and, for a chunk, by identity and amount); its
// amount and destination must match the ledger, the reference must be
// that of the line's current attempt, and only a forward transition
// (accepted or unknown to paid or failed) is applied. A repeated result is
// a no-op; a contradicting one (paid then failed, a result for a line
// that is pending again, a mismatch) is recorded as a flagged event and a
// flag on the line, never applied.
func (db *DB) Settle(ctx context.Context, results []batch.Result) ([]batch.Settled, error) {
	for i, r := range results {
		if r.Status != batch.StatePaid && r.Status != batch.StateFailed {
			return nil, fmt.Errorf("ledger: result %d: status %q is not paid or failed: %w", i, r.Status, ErrInput)
		}
		if r.Reference == "" || r.Provider == "" {
			return nil, fmt.Errorf("ledger: result %d: provider and reference are required: %w", i, ErrInput)
		}
	}
	var out []batch.Settled
	err := db.update(ctx, "settle", func(t *txn) error {
		out = make([]batch.Settled, 0, len(results))
		cache := map[string][]*LineRecord{} // a chunk's lines, decoded once per transaction
		for _, res := range results {
			s, err := t.settle(res, cache)
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: settle: %w", err)
	}
	return out, nil
}

func (t *txn) settle(res batch.Result, cache map[string][]*LineRecord) (batch.Settled, error) {
	s := batch.Settled{Result: res, Action: batch.Unmatched}
	pk := provKey(res.Provider, res.Reference)
	v := t.tx.Bucket(bktProvRefs).Get(pk)
	if v == nil {
		s.Note = "unknown provider reference"
		return s, nil
	}
	var pr provRef
	if err := json.Unmarshal(v, &pr); err != nil {
		return s, damaged(t.path, "provider reference index entry: %v", err)
	}
	b, err := t.batch(pr.Batch)
	if err != nil {
		return s, err
	}
	s.BatchID = b.id
	cands, ok := cache[string(pk)]
	if !ok {
		for _, seq := range pr.Seqs {
			r, err := t.getSeq(b, seq)
			if err != nil {
				return s, err
			}
			cands = append(cands, r)
		}
		cache[string(pk)] = cands
	}
	r, mismatch := match(cands, res)
	if r == nil {
		s.Note = "no line of this reference matches"
		return s, t.event(b, Event{Cause: res.Source, Flagged: true,
			Note: fmt.Sprintf("%s result for %s matches no line (line %q)", res.Status, res.Reference, res.LineRef)})
	}
	s.LineRef, s.From, s.To = r.Ref, r.State, r.State
	ev := Event{Cause: res.Source, Attempt: attemptOf(r, res.Reference)}
	if mismatch != "" {
		s.Action, s.Note = batch.Flagged, mismatch
		ev.Note = mismatch
		return s, t.flag(b, r, FlagMismatch, ev)
	}
	if r.ProviderRef != res.Reference {
		s.Action = batch.Flagged
		s.Note = fmt.Sprintf("%s result for an earlier attempt (reference %s); line is %s under %s", res.Status, res.Reference, r.State, r.ProviderRef)
		ev.Note = s.Note
		return s, t.flag(b, r, FlagConflictingResult, ev)
	}
	switch {
	case r.State == res.Status:
		s.Action = batch.Repeated
		return s, nil
	case allowed(r.State, res.Status, trSettle):
		if res.Status == batch.StatePaid {
			r.Receipt = res.Receipt
		} else {
			r.FailureReason = res.Reason
		}
		if a := r.attempt(ev.Attempt); a != nil {
			a.Result = res.Status
		}
		ev.Note = res.Reason
		if res.Receipt != "" {
			ev.Note = "receipt " + res.Receipt
		}
		if err := t.move(b, r, res.Status, trSettle, ev); err != nil {
			return s, err
		}
		s.Action, s.To = batch.Applied, res.Status
		return s, nil
	}
	s.Action = batch.Flagged
	s.Note = fmt.Sprintf("%s result for a line that is %s: not applied", res.Status, r.State)
	ev.Note = s.Note
	return s, t.flag(b, r, FlagConflictingResult, ev)
}

// match picks the line a result is about among the lines of its provider
// reference. It returns a mismatch note when the line is found but the
// result's amount or destination differs from the ledger.
func match(cands []*LineRecord, res batch.Result) (*LineRecord, string) {
	var r *LineRecord
	switch {
	case res.LineRef != "":
		for _, c := range cands {
			if c.Ref == res.LineRef {
				r = c
			}
		}
	case len(cands) == 1 && res.Identity == "":
		r = cands[0]
	default:
		var byID []*LineRecord
		for _, c := range cands {
			if c.Line.Dest.Identity() == res.Identity {
				byID = append(byID, c)
			}
		}
		for _, c := range byID {
			if !res.Amount.IsZero() && c.Line.Amount.Equal(res.Amount) {
				return c, ""
			}
		}
		if len(byID) == 1 {
			r = byID[0]
		}
	}
	if r == nil {
		return nil, ""
	}
	if res.Identity != "" && r.Line.Dest.Identity() != res.Identity {
		return r, fmt.Sprintf("%s result's destination differs from the ledger's", res.Status)
	}
	if !res.Amount.IsZero() && !r.Line.Amount.Equal(res.Amount) {
		return r, fmt.Sprintf("%s result's amount %s differs from the ledger's %s", res.Status, res.Amount, r.Line.Amount)
	}
	return r, ""
}

func attemptOf(r *LineRecord, providerRef string) string {
	for _, a := range slices.Backward(r.Attempts) {
		if a.ProviderRef == providerRef {
			return a.ID
		}
	}
	return ""
}

// Resolve records an operator's decision on an unknown line: paid (with
// the provider's receipt when known) or failed, with a note that goes into
// the event log ("operator: <note>"). It reports whether the line changed:
// resolving a line to the state it already has changes nothing; any other
// line that is not unknown is refused with ErrTransition.
func (db *DB) Resolve(ctx context.Context, batchID, ref string, paid bool, receipt, note string) (bool, error) {
	if note == "" {
		return false, fmt.Errorf("ledger: resolve %s/%s: a note is required: %w", batchID, ref, ErrInput)
	}
	to := batch.StateFailed
	if paid {
		to = batch.StatePaid
	}
	var changed bool
	err := db.update(ctx, "resolve", func(t *txn) error {
		changed = false
		b, err := t.batch(batchID)
		if err != nil {
			return err
		}
		r, err := t.get(b, ref)
		if err != nil {
			return err
		}
		if r.State == to {
			return nil
		}
		if r.State != batch.StateUnknown {
			return fmt.Errorf("line %q is %s, only unknown lines are resolved: %w", ref, r.State, ErrTransition)
		}
		ev := Event{Cause: "operator: " + note}
		if a := r.Current(); a != nil {
			ev.Attempt = a.ID
			a.Result = to
		}
		if paid {
			r.Receipt = receipt
			if receipt != "" {
				ev.Note = "receipt " + receipt
			}
		} else {
			r.FailureReason = "operator: " + note
		}
		r.addFlag(FlagResolvedByOperator)
		changed = true
		return t.move(b, r, to, trOperator, ev)
	})
	if err != nil {
		return false, fmt.Errorf("ledger: resolve %s/%s: %w", batchID, ref, err)
	}
	return changed, nil
}

// CheckDecisions says, for each decision, whether it can be recorded:
// only a line whose outcome is unknown takes an operator's decision.
func (db *DB) CheckDecisions(ctx context.Context, batchID string, ds []batch.Decision) ([]batch.DecisionCheck, error) {
	out := make([]batch.DecisionCheck, len(ds))
	err := db.view(func(t *txn) error {
		b, err := t.batch(batchID)
		if err != nil {
			return err
		}
		for i, d := range ds {
			c := batch.DecisionCheck{Decision: d}
			switch r, err := t.get(b, d.Reference); {
			case errors.Is(err, ErrNotFound):
				c.Why = "no such line"
			case err != nil:
				return err
			case r.State != batch.StateUnknown:
				c.State, c.Why = r.State, "only unknown lines are resolved"
			default:
				c.State, c.OK = r.State, true
			}
			out[i] = c
		}
		return nil
	})
	return out, err
}

// Retry moves the batch's conclusively failed lines back to pending so
// that a new attempt may be claimed, and returns their references.
// Flagged lines (a conflicting result may mean they were paid, or the
// sheet changed) are left for a person.
func (db *DB) Retry(ctx context.Context, batchID string) ([]string, error) {
	var refs []string
	err := db.update(ctx, "retry", func(t *txn) error {
		refs = refs[:0]
		b, err := t.batch(batchID)
		if err != nil {
			return err
		}
		seqs, err := scanStates(b, batch.StateFailed)
		if err != nil {
			return err
		}
		for _, seq := range seqs {
			r, err := t.getSeq(b, seq)
			if err != nil {
				return err
			}
			if !r.Retryable() {
				continue
			}
			if err := t.move(b, r, batch.StatePending, trRetry, Event{Cause: "retry", Note: "new attempt allowed after: " + r.FailureReason}); err != nil {
				return err
			}
			refs = append(refs, r.Ref)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: retry %s: %w", batchID, err)
	}
	return refs, nil
}

// scanStates returns the seqs of the batch's lines in the given states,
// reading only record headers.
func scanStates(b *bkt, states ...batch.State) ([]uint64, error) {
	var seqs []uint64
	c := b.lines.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		h, err := peekRecord(b, v)
		if err != nil {
			return nil, err
		}
		if slices.Contains(states, h.state) {
			seqs = append(seqs, binary.BigEndian.Uint64(k))
		}
	}
	return seqs, nil
}

// Unsettled lists the batch's accepted and referenced unknown lines
// grouped by provider reference, for polling: accepted lines wait for
// their result, and a status query may prove an unknown line's fate.
func (db *DB) Unsettled(ctx context.Context, batchID string) ([]batch.Unsettled, error) {
	var out []batch.Unsettled
	at := map[string]int{}
	// In pages (records): a poll round of a large batch holds no long
	// read transaction and keeps little of the file resident.
	for r, err := range db.records(ctx, batchID, scan{states: []batch.State{batch.StateAccepted, batch.StateUnknown}}) {
		if err != nil {
			return nil, fmt.Errorf("ledger: unsettled %s: %w", batchID, err)
		}
		if r.ProviderRef == "" {
			continue
		}
		k := string(r.Line.Provider) + "\x00" + r.ProviderRef
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, batch.Unsettled{Provider: r.Line.Provider, Reference: r.ProviderRef})
		}
		out[i].Lines++
	}
	return out, nil
}
