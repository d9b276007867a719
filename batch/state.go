package batch

// State is where a line is in its life (docs/design.md §3). States only move
// forward; the ledger enforces the transitions.
type State string

// Line states.
const (
	StatePending   State = "pending"   // imported, not yet sent
	StateSending   State = "sending"   // intent committed; the request may be in flight
	StateAccepted  State = "accepted"  // the provider took it; waiting for the result
	StatePaid      State = "paid"      // terminal: the provider paid it
	StateFailed    State = "failed"    // terminal: the provider says it was not paid
	StateUnknown   State = "unknown"   // the provider may or may not have acted; never resent
	StateInvalid   State = "invalid"   // the row failed validation; never sent
	StateConflict  State = "conflict"  // the row changed after it was sent; never sent again
	StateCancelled State = "cancelled" // the row left the sheet before it was sent
)

// States lists every state in display order.
var States = []State{StatePending, StateSending, StateAccepted, StatePaid, StateFailed, StateUnknown, StateInvalid, StateConflict, StateCancelled}

// Terminal reports whether no automatic transition leaves the state.
// (paid, failed, invalid, cancelled; a re-imported fixed row may still
// revive an invalid or cancelled line, and payroll retry a failed one.)
func (s State) Terminal() bool {
	switch s {
	case StatePaid, StateFailed, StateInvalid, StateCancelled:
		return true
	}
	return false
}

// InvalidRow is a sheet row that failed validation. With --skip-invalid it
// is recorded (state invalid) and reported, but never sent.
type InvalidRow struct {
	Row       int      `json:"row"`
	Reference string   `json:"reference,omitempty"`
	Name      string   `json:"name,omitempty"`
	Amount    string   `json:"amount,omitempty"`   // as written in the sheet
	Currency  string   `json:"currency,omitempty"` // as written, or the default
	Provider  string   `json:"provider,omitempty"`
	Type      string   `json:"type,omitempty"`
	Reasons   []string `json:"reasons"` // one per rule broken
}
