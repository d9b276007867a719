package ledger

import (
	"encoding/binary"
	"fmt"

	"payroll/batch"
)

// trigger is what asks for a transition. The table below says which
// triggers may move a line between two states.
type trigger uint8

const (
	trImport   trigger = 1 << iota // Import (sheet re-read)
	trClaim                        // Claim: intent before effect
	trOutcome                      // RecordOutcomes: what the send call told us
	trSettle                       // Settle: callback or poll result
	trOperator                     // Resolve: a person's decision
	trRetry                        // Retry: new attempt after a conclusive failure
	trRecovery                     // Open: process died with the line in flight
)

func (tr trigger) String() string {
	switch tr {
	case trImport:
		return "import"
	case trClaim:
		return "claim"
	case trOutcome:
		return "outcome"
	case trSettle:
		return "settle"
	case trOperator:
		return "operator"
	case trRetry:
		return "retry"
	case trRecovery:
		return "crash-recovery"
	}
	return fmt.Sprintf("trigger(%d)", uint8(tr))
}

type edge struct{ from, to batch.State }

// transitions is the state machine of docs/design.md §3: every allowed
// (from, to) pair and the triggers that may take it. Anything absent is
// forbidden; in particular nothing ever leaves paid, conflict, or
// (except by Retry) failed, and unknown is left only with proof.
var transitions = map[edge]trigger{
	{batch.StatePending, batch.StateSending}:    trClaim,
	{batch.StateSending, batch.StateAccepted}:   trOutcome,
	{batch.StateSending, batch.StateUnknown}:    trOutcome | trRecovery,
	{batch.StateSending, batch.StatePending}:    trOutcome, // rejected before anything ran
	{batch.StateSending, batch.StateFailed}:     trOutcome, // conclusive rejection of the line
	{batch.StateAccepted, batch.StatePaid}:      trSettle,
	{batch.StateAccepted, batch.StateFailed}:    trSettle,
	{batch.StateUnknown, batch.StatePaid}:       trSettle | trOperator,
	{batch.StateUnknown, batch.StateFailed}:     trSettle | trOperator,
	{batch.StateFailed, batch.StatePending}:     trRetry | trImport, // retry, or corrected in the sheet
	{batch.StateFailed, batch.StateInvalid}:     trImport,           // corrected in the sheet, but invalid
	{batch.StateFailed, batch.StateCancelled}:   trImport,           // failed row removed from the sheet
	{batch.StateInvalid, batch.StatePending}:    trImport,           // row fixed in the sheet
	{batch.StateCancelled, batch.StatePending}:  trImport,           // row back in the sheet
	{batch.StatePending, batch.StateCancelled}:  trImport,           // row left the sheet
	{batch.StatePending, batch.StateConflict}:   trImport,           // row changed after a (rejected) send
	{batch.StatePending, batch.StateInvalid}:    trImport,           // row broken in the sheet
	{batch.StateInvalid, batch.StateCancelled}:  trImport,           // invalid row left the sheet
	{batch.StateCancelled, batch.StateInvalid}:  trImport,           // row back, but invalid
	{batch.StateInvalid, batch.StateConflict}:   trImport,           // changed after a (rejected) send, then invalid
	{batch.StateCancelled, batch.StateConflict}: trImport,           // changed after a (rejected) send, then cancelled
}

// Allowed reports whether the state machine lets a line move from one
// state to another by some trigger.
func Allowed(from, to batch.State) bool { return transitions[edge{from, to}] != 0 }

func allowed(from, to batch.State, by trigger) bool {
	return transitions[edge{from, to}]&by != 0
}

// move is the one function through which every state change goes: it
// checks the table, updates the line, the batch counts, the in-flight and
// payee indexes, appends the event and saves the line.
func (t *txn) move(b *bkt, r *LineRecord, to batch.State, by trigger, e Event) error {
	from := r.State
	if !allowed(from, to, by) {
		return fmt.Errorf("ledger: batch %q line %q: %s -> %s by %s: %w", b.id, r.Ref, from, to, by, ErrTransition)
	}
	r.State = to
	b.meta.Counts[from]--
	if b.meta.Counts[from] == 0 {
		delete(b.meta.Counts, from)
	}
	b.meta.Counts[to]++

	ik := inflightKey(b.id, r.Seq)
	switch {
	case to == batch.StateSending:
		if err := t.bucket(bktInflight).Put(ik, nil); err != nil {
			return err
		}
	case from == batch.StateSending:
		if err := t.bucket(bktInflight).Delete(ik); err != nil {
			return err
		}
	}
	if r.Fingerprint != "" {
		pk := payeeKey(r.Line.PayeeKey(), b.id, r.Ref)
		switch to {
		case batch.StateAccepted, batch.StateUnknown, batch.StatePaid:
			v := binary.BigEndian.AppendUint64(nil, uint64(t.now.UnixNano()))
			if err := t.bucket(bktPayees).Put(pk, append(v, stateCodes[to])); err != nil {
				return err
			}
		case batch.StateFailed:
			if err := t.bucket(bktPayees).Delete(pk); err != nil {
				return err
			}
		}
	}
	e.Ref, e.From, e.To = r.Ref, from, to
	if e.Cause == "" {
		e.Cause = by.String()
	}
	if err := t.event(b, e); err != nil {
		return err
	}
	return t.save(b, r)
}

func inflightKey(batchID string, seq uint64) []byte {
	k := append([]byte(batchID), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func payeeKey(payee, batchID, ref string) []byte {
	k := make([]byte, 0, len(payee)+len(batchID)+len(ref)+2)
	k = append(k, payee...)
	k = append(k, 0)
	k = append(k, batchID...)
	k = append(k, 0)
	return append(k, ref...)
}
