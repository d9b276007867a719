package kiotapay

import (
	"context"
	"fmt"
	"strings"

	"payroll/batch"
)

// What KiotaPay's records can prove about a line whose outcome is unknown
// (docs/providers.md §3): send-money/all lists every record of the
// company, with its requestId (uuid), phone, status and receipt, but the
// documented record has neither the referenceId sent nor the amount. So a
// record is found for an attempt only by its requestId (known when the
// send's answer was read) or, where the records carry it, by the
// referenceId the attempt was sent with; and the amount comes from
// send-money/status, which documents it. Nothing else (phone and time,
// say) is an exact match, and an absent record proves nothing (the
// listing's completeness is not documented).

// Evidence is what the records prove about one unknown attempt. Outcome is
// "paid" or "failed" only when exactly one record is the attempt's and its
// phone and amount are the line's; otherwise it is empty and Why says what
// was found.
type Evidence struct {
	Outcome   string // "paid", "failed" or "" (nothing proven)
	Receipt   string // the receipt of a paid record
	RequestID string // the record's uuid
	Why       string // what the records show
}

// Unknown is an attempt whose outcome is unknown, as Prove needs it.
type Unknown struct {
	ClientRef string // the referenceId the attempt was sent with
	RequestID string // the requestId, if KiotaPay's answer was read
	Phone     string // the line's phone, 12 digits
	Amount    batch.Money
}

// Find returns the one record of the attempt, or why there is none.
func Find(records []Record, u Unknown) (*Record, string) {
	var found []*Record
	withRef := false
	for i := range records {
		r := &records[i]
		withRef = withRef || r.ReferenceID != ""
		if u.ClientRef != "" && r.ReferenceID == u.ClientRef || u.RequestID != "" && r.UUID == u.RequestID {
			found = append(found, r)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], ""
	case len(found) > 1:
		return nil, fmt.Sprintf("%d records match: nothing proposed", len(found))
	case u.RequestID == "" && !withRef:
		return nil, "no requestId was received and KiotaPay's records do not show the referenceId sent: no record can be tied to this attempt"
	}
	return nil, "no record has this attempt's requestId or referenceId: it may never have reached KiotaPay, but an absent record proves nothing"
}

// Prove finds the attempt's record and confirms it with send-money/status
// (phone, amount, status).
func (c *Client) Prove(ctx context.Context, records []Record, u Unknown) Evidence {
	r, why := Find(records, u)
	if r == nil {
		return Evidence{Why: why}
	}
	st, err := c.Status(ctx, r.UUID)
	if err != nil {
		return Evidence{RequestID: r.UUID, Why: fmt.Sprintf("record %s found, but send-money/status failed: %v", r.UUID, err)}
	}
	ev := Evidence{RequestID: r.UUID}
	switch {
	case st.RequestID != "" && st.RequestID != r.UUID:
		ev.Why = fmt.Sprintf("send-money/status for %s answered for %s: nothing proposed", r.UUID, st.RequestID)
	case strings.TrimPrefix(string(st.PhoneNumber), "+") != u.Phone || strings.TrimPrefix(string(r.PhoneNumber), "+") != u.Phone:
		ev.Why = fmt.Sprintf("record %s pays another phone: nothing proposed", r.UUID)
	case !st.Amount.Money.Equal(u.Amount):
		ev.Why = fmt.Sprintf("record %s pays %s, the line %s: nothing proposed", r.UUID, st.Amount.Money, u.Amount)
	default:
		switch State(st.Status) {
		case batch.StatePaid:
			ev.Outcome, ev.Receipt = "paid", r.TransactionReceipt
			ev.Why = fmt.Sprintf("KiotaPay record %s: %s, receipt %s", r.UUID, st.Status, r.TransactionReceipt)
		case batch.StateFailed:
			ev.Outcome = "failed"
			ev.Why = fmt.Sprintf("KiotaPay record %s: %s", r.UUID, st.Status)
		default:
			ev.Why = fmt.Sprintf("KiotaPay record %s is %s: nothing to decide yet; look again later", r.UUID, st.Status)
		}
	}
	return ev
}
