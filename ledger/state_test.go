package ledger

import (
	"context"
	"testing"

	"payroll/batch"
)

// TestTransitionTable lists every allowed (from, to, trigger) and checks
// that the table allows exactly those: every other pair and trigger is
// forbidden.
func TestTransitionTable(t *testing.T) {
	const (
		P, S, A, D = batch.StatePending, batch.StateSending, batch.StateAccepted, batch.StatePaid
		F, U, I, C = batch.StateFailed, batch.StateUnknown, batch.StateInvalid, batch.StateConflict
		X          = batch.StateCancelled
	)
	want := map[edge]trigger{
		{P, S}: trClaim,
		{S, A}: trOutcome, {S, U}: trOutcome | trRecovery, {S, P}: trOutcome, {S, F}: trOutcome,
		{A, D}: trSettle, {A, F}: trSettle,
		{U, D}: trSettle | trOperator, {U, F}: trSettle | trOperator,
		{F, P}: trRetry | trImport, {F, I}: trImport, {F, X}: trImport,
		{I, P}: trImport, {X, P}: trImport,
		{P, X}: trImport, {P, C}: trImport, {P, I}: trImport,
		{I, X}: trImport, {X, I}: trImport, {I, C}: trImport, {X, C}: trImport,
	}
	triggers := []trigger{trImport, trClaim, trOutcome, trSettle, trOperator, trRetry, trRecovery}
	for _, from := range batch.States {
		for _, to := range batch.States {
			for _, tr := range triggers {
				exp := want[edge{from, to}]&tr != 0
				if got := allowed(from, to, tr); got != exp {
					t.Errorf("%s -> %s by %s: allowed=%v, want %v", from, to, tr, got, exp)
				}
			}
			if Allowed(from, to) != (want[edge{from, to}] != 0) {
				t.Errorf("Allowed(%s, %s) wrong", from, to)
			}
		}
	}
	for _, s := range []batch.State{D, C} {
		for _, to := range batch.States {
			if Allowed(s, to) {
				t.Errorf("%s is final but may go to %s", s, to)
			}
		}
	}
}

const ref0 = "EMP000000"

// lineIn returns a ledger with batch "b" whose line ref0 is in state s,
// reached through the public API only.
func lineIn(t *testing.T, s batch.State) *DB {
	t.Helper()
	ctx := context.Background()
	db := openTest(t, "")
	l := testLine(0)
	if s == batch.StateInvalid {
		mustImport(t, db, "b", nil, []batch.InvalidRow{{Row: 2, Reference: ref0, Reasons: []string{"bad phone"}}})
		return db
	}
	mustImport(t, db, "b", []batch.Line{l}, nil)
	switch s {
	case batch.StatePending:
		return db
	case batch.StateCancelled:
		mustImport(t, db, "b", nil, nil)
		return db
	}
	cl := mustClaim(t, db, "b", ref0)
	o := batch.Outcome{BatchID: "b", Attempt: cl.ID, Refs: []string{ref0}, Provider: batch.KopoKopo, Reference: "loc-1"}
	switch s {
	case batch.StateSending:
		return db
	case batch.StateAccepted, batch.StatePaid:
		o.Kind = batch.OutcomeAccepted
	case batch.StateFailed:
		o.Kind, o.Reference, o.Provider = batch.OutcomeFailed, "", ""
	case batch.StateUnknown:
		o.Kind = batch.OutcomeUnknown
	case batch.StateConflict:
		o.Kind, o.Reference, o.Provider = batch.OutcomeNotSent, "", ""
	}
	mustOutcome(t, db, o)
	switch s {
	case batch.StatePaid:
		if _, err := db.Settle(ctx, []batch.Result{{Provider: batch.KopoKopo, Reference: "loc-1", Identity: l.Dest.Identity(), Amount: l.Amount, Status: batch.StatePaid, Receipt: "R1", Source: "callback"}}); err != nil {
			t.Fatal(err)
		}
	case batch.StateConflict:
		// A pending line whose attempts all failed takes a sheet change
		// (a correction); one held for a person (here by an outcome for
		// an attempt it never had) becomes a conflict.
		mustOutcome(t, db, batch.Outcome{BatchID: "b", Attempt: "no-such-attempt", Refs: []string{ref0}, Kind: batch.OutcomeNotSent})
		l.Amount = batch.MoneyFromUnits(2000)
		mustImport(t, db, "b", []batch.Line{l}, nil)
	}
	if got := mustLine(t, db, "b", ref0).State; got != s {
		t.Fatalf("setup: line is %s, want %s", got, s)
	}
	return db
}

// TestTransitionsAPI drives a line into every state and applies every
// operation through the API: only the transitions of the table happen;
// everything else leaves the state unchanged (skipped, flagged or
// refused), and Check stays clean.
func TestTransitionsAPI(t *testing.T) {
	ops := []string{"claim", "accepted", "rejected", "failed", "unknown", "settle-paid", "settle-failed", "resolve-paid", "resolve-failed", "retry"}
	want := map[batch.State]map[string]batch.State{
		batch.StatePending:  {"claim": batch.StateSending},
		batch.StateSending:  {"accepted": batch.StateAccepted, "rejected": batch.StatePending, "failed": batch.StateFailed, "unknown": batch.StateUnknown},
		batch.StateAccepted: {"settle-paid": batch.StatePaid, "settle-failed": batch.StateFailed},
		batch.StateUnknown:  {"settle-paid": batch.StatePaid, "settle-failed": batch.StateFailed, "resolve-paid": batch.StatePaid, "resolve-failed": batch.StateFailed},
		batch.StateFailed:   {"retry": batch.StatePending},
	}
	ctx := context.Background()
	l := testLine(0)
	for _, from := range batch.States {
		for _, op := range ops {
			t.Run(string(from)+"/"+op, func(t *testing.T) {
				db := lineIn(t, from)
				before := mustLine(t, db, "b", ref0)
				attempt := "no-attempt"
				if a := before.Current(); a != nil {
					attempt = a.ID
				}
				var err error
				switch op {
				case "claim":
					_, _, err = db.Claim(ctx, "b", []string{ref0})
				case "accepted", "rejected", "failed", "unknown":
					o := batch.Outcome{BatchID: "b", Attempt: attempt, Refs: []string{ref0}, Kind: outcomeKinds[op], Reason: op}
					if op == "accepted" || op == "unknown" {
						o.Provider, o.Reference = batch.KopoKopo, "loc-1"
					}
					err = db.RecordOutcomes(ctx, []batch.Outcome{o})
				case "settle-paid", "settle-failed":
					st := batch.StatePaid
					if op == "settle-failed" {
						st = batch.StateFailed
					}
					_, err = db.Settle(ctx, []batch.Result{{Provider: batch.KopoKopo, Reference: "loc-1", Identity: l.Dest.Identity(), Amount: l.Amount, Status: st, Source: "poll"}})
				case "resolve-paid", "resolve-failed":
					_, err = db.Resolve(ctx, "b", ref0, op == "resolve-paid", "", "checked the provider portal")
				case "retry":
					_, err = db.Retry(ctx, "b")
				}
				exp, ok := want[from][op]
				if !ok {
					exp = from
				}
				got := mustLine(t, db, "b", ref0)
				if got.State != exp {
					t.Errorf("%s then %s: state %s (err %v), want %s", from, op, got.State, err, exp)
				}
				if ok && err != nil {
					t.Errorf("allowed transition returned %v", err)
				}
				if !ok && op[:3] == "res" && from != batch.StateUnknown && err == nil &&
					!(from == batch.StatePaid && op == "resolve-paid") && !(from == batch.StateFailed && op == "resolve-failed") {
					t.Errorf("resolve of a %s line: no error", from)
				}
				mustCheck(t, db)
			})
		}
	}
}

// TestConflictingResults: a result that contradicts a terminal line is
// flagged and recorded as an event, never applied; the same result twice
// is a no-op.
func TestConflictingResults(t *testing.T) {
	ctx := context.Background()
	l := testLine(0)
	res := batch.Result{Provider: batch.KopoKopo, Reference: "loc-1", Identity: l.Dest.Identity(), Amount: l.Amount, Status: batch.StatePaid, Receipt: "R1", Source: "callback"}
	tests := []struct {
		name   string
		result func(batch.Result) batch.Result
		action batch.SettleAction
		state  batch.State
		flag   string
	}{
		{"same result again", func(r batch.Result) batch.Result { return r }, batch.Repeated, batch.StatePaid, ""},
		{"failed after paid", func(r batch.Result) batch.Result { r.Status = batch.StateFailed; return r }, batch.Flagged, batch.StatePaid, FlagConflictingResult},
		{"amount mismatch", func(r batch.Result) batch.Result { r.Amount = batch.MoneyFromUnits(999); return r }, batch.Flagged, batch.StatePaid, FlagMismatch},
		{"unknown destination", func(r batch.Result) batch.Result { r.Identity = "mobile_wallet:254799999999"; return r }, batch.Unmatched, batch.StatePaid, ""},
		{"unknown reference", func(r batch.Result) batch.Result { r.Reference = "loc-9"; return r }, batch.Unmatched, batch.StatePaid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := lineIn(t, batch.StatePaid)
			got, err := db.Settle(ctx, []batch.Result{tc.result(res)})
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Action != tc.action {
				t.Errorf("action %s (%s), want %s", got[0].Action, got[0].Note, tc.action)
			}
			r := mustLine(t, db, "b", ref0)
			if r.State != tc.state || r.Receipt != "R1" {
				t.Errorf("line %s receipt %q", r.State, r.Receipt)
			}
			if tc.flag != "" && !r.Flagged(tc.flag) {
				t.Errorf("flags %v, want %s", r.Flags, tc.flag)
			}
			if tc.flag == "" && len(r.Flags) > 0 {
				t.Errorf("unexpected flags %v", r.Flags)
			}
			mustCheck(t, db)
		})
	}
}

// TestSupersededResult: after accepted→failed and a retry, a late "paid"
// for the first attempt is flagged, not applied, and the flagged line is
// not retried again.
func TestSupersededResult(t *testing.T) {
	ctx := context.Background()
	l := testLine(0)
	db := lineIn(t, batch.StateAccepted)
	if _, err := db.Settle(ctx, []batch.Result{{Provider: batch.KopoKopo, Reference: "loc-1", Identity: l.Dest.Identity(), Amount: l.Amount, Status: batch.StateFailed, Reason: "insufficient float", Source: "callback"}}); err != nil {
		t.Fatal(err)
	}
	if refs, err := db.Retry(ctx, "b"); err != nil || len(refs) != 1 {
		t.Fatalf("Retry = %v, %v", refs, err)
	}
	cl := mustClaim(t, db, "b", ref0)
	mustOutcome(t, db, batch.Outcome{BatchID: "b", Attempt: cl.ID, Refs: []string{ref0}, Kind: batch.OutcomeAccepted, Provider: batch.KopoKopo, Reference: "loc-2"})
	got, err := db.Settle(ctx, []batch.Result{{Provider: batch.KopoKopo, Reference: "loc-1", Identity: l.Dest.Identity(), Amount: l.Amount, Status: batch.StatePaid, Source: "callback"}})
	if err != nil {
		t.Fatal(err)
	}
	r := mustLine(t, db, "b", ref0)
	if got[0].Action != batch.Flagged || r.State != batch.StateAccepted || !r.Flagged(FlagConflictingResult) {
		t.Fatalf("late result: %+v, line %s %v", got[0], r.State, r.Flags)
	}
	mustCheck(t, db)
	var flagged int
	for e, err := range db.Events(ctx, "b") {
		if err != nil {
			t.Fatal(err)
		}
		if e.Flagged {
			flagged++
		}
	}
	if flagged != 1 {
		t.Errorf("%d flagged events, want 1", flagged)
	}
}

// TestClaimBeltAndBraces: whatever a line's state byte says, a line with
// an attempt that may have paid is never claimed (invariant 6). The byte
// is flipped to pending behind the state machine's back, as a damaged
// file would.
func TestClaimBeltAndBraces(t *testing.T) {
	for _, st := range []batch.State{batch.StateUnknown, batch.StateAccepted, batch.StatePaid} {
		t.Run(string(st), func(t *testing.T) {
			db := lineIn(t, st)
			err := db.update(context.Background(), "damage", func(t *txn) error {
				b, err := t.batch("b")
				if err != nil {
					return err
				}
				r, err := t.get(b, ref0)
				if err != nil {
					return err
				}
				r.State = batch.StatePending
				return t.save(b, r)
			})
			if err != nil {
				t.Fatal(err)
			}
			cl, lines, err := db.claim(context.Background(), "b", []string{ref0})
			if err != nil || len(lines) != 0 || len(cl.Skipped) != 1 {
				t.Errorf("claimed a line whose attempt may have paid: %+v %v", cl, err)
			}
		})
	}
}
