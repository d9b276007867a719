package reports

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"payroll/batch"
)

// Status is the report's status column (docs/design.md §6).
type Status string

// The report's statuses.
const (
	StatusPaid      Status = "paid"
	StatusFailed    Status = "failed"
	StatusUnknown   Status = "unknown"
	StatusPending   Status = "pending"
	StatusInvalid   Status = "invalid"
	StatusConflict  Status = "conflict"
	StatusCancelled Status = "cancelled"
)

// StatusOf maps a line state to the report's status: a line sent and not
// settled yet shows as pending.
func StatusOf(s batch.State) Status {
	switch s {
	case batch.StateSending, batch.StateAccepted:
		return StatusPending
	}
	return Status(s)
}

// Build makes a batch's report from its lines, in sheet order.
func Build(batchID, sheet string, generated time.Time, lines iter.Seq2[batch.LineView, error]) (*Report, error) {
	r := &Report{Batch: batchID, Sheet: sheet, Generated: generated}
	for v, err := range lines {
		if err != nil {
			return nil, err
		}
		r.Rows = append(r.Rows, RowOf(&v))
	}
	slices.SortStableFunc(r.Rows, func(a, b Row) int { return cmp.Compare(a.Row, b.Row) })
	return r, nil
}

// RowOf is the report row of one line.
func RowOf(v *batch.LineView) Row {
	row := Row{
		Row:               v.Row,
		Reference:         v.Ref,
		Status:            StatusOf(v.State),
		ProviderReference: providerReference(v.Line.Provider, v.ProviderRef),
		Receipt:           v.Receipt,
		FailureReason:     v.FailureReason,
		Attempts:          v.Attempts,
		UpdatedAt:         v.Updated,
		SentAt:            v.SentAt,
		SettledAt:         v.SettledAt,
		Awaiting:          v.Awaiting(),
		Extra:             v.Extra,
	}
	if inv := v.Invalid; inv != nil {
		row.Name, row.Provider, row.Type, row.Currency = inv.Name, inv.Provider, inv.Type, inv.Currency
		if m, err := batch.ParseMoney(inv.Amount); err == nil {
			row.Amount = m
		} else {
			row.AmountText = inv.Amount
		}
		row.FailureReason = strings.Join(inv.Reasons, "; ")
		return row
	}
	l := &v.Line
	if l.RefDerived {
		row.Reference = ""
	}
	row.Name = l.Name
	if row.Name == "" {
		row.Name = strings.TrimSpace(l.FirstName + " " + l.LastName)
	}
	row.Provider, row.Type, row.Destination = string(l.Provider), string(l.Dest.Type), l.Dest.Display()
	row.Amount, row.Currency = l.Amount, string(l.Currency)
	row.Flags = slices.Clone(v.Flags)
	if v.SheetChanged {
		// A line already sent (even paid) whose row then changed keeps
		// its state and what was paid; the row as the sheet now has it
		// is shown beside it.
		row.Flags = append(row.Flags, FlagSheetChanged)
		if c := v.Changed; c != nil && !c.Amount.Equal(l.Amount) {
			row.SheetAmount = c.Amount
		}
		row.FailureReason = joinNonEmpty("; ", row.FailureReason, sheetChangedNote(v))
	}
	if d := l.RoundingDiff(); !d.IsZero() {
		row.FailureReason = joinNonEmpty("; ", row.FailureReason, fmt.Sprintf("rounded down: %s not paid", d))
	}
	return row
}

// providerReference is what the report shows of a provider reference:
// for Kopo Kopo the send_money request's id, the last segment of its
// Location URL (docs/design.md §6), not the URL.
func providerReference(p batch.ProviderName, ref string) string {
	if p == batch.KopoKopo {
		if i := strings.LastIndexByte(ref, '/'); i >= 0 && i < len(ref)-1 {
			return ref[i+1:]
		}
	}
	return ref
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// sheetChangedNote says what the sheet now asks for, for a line whose row
// changed after it was sent (the row's amount and destination are what
// was sent).
func sheetChangedNote(v *batch.LineView) string {
	const note = "the row changed in the sheet after it was sent; not paid again"
	switch c := v.Changed; {
	case c != nil && c.Dest.Identity() != v.Line.Dest.Identity():
		return note + "; the sheet now says " + c.Dest.Display() + " " + c.Amount.String()
	case c == nil && v.Line.Provider != "":
		return note + "; the sheet's row is now invalid"
	}
	return note
}

// Verdict is what a report says of a batch as a whole, for the exit code
// (docs/design.md §5).
type Verdict int

// Verdicts, from best to worst.
const (
	AllPaid   Verdict = iota // every line paid
	Unsettled                // settled, with failed, unknown, conflict or invalid lines
	Pending                  // lines not settled yet
)

// Counts counts the report's rows per status; a row whose sheet changed
// after it was sent also counts as a conflict.
func (r *Report) Counts() map[Status]int {
	counts := map[Status]int{}
	for i := range r.Rows {
		counts[r.Rows[i].Status]++
		if r.Rows[i].HasFlag(FlagSheetChanged) && r.Rows[i].Status != StatusConflict {
			counts[StatusConflict]++
		}
	}
	return counts
}

// Verdict judges the batch from its counts.
func (r *Report) Verdict() Verdict {
	c := r.Counts()
	switch {
	case c[StatusPending] > 0:
		return Pending
	case c[StatusFailed]+c[StatusUnknown]+c[StatusConflict]+c[StatusInvalid] > 0:
		return Unsettled
	}
	return AllPaid
}

// NeverSent counts the pending rows that were never sent (payroll run
// sends them; settle cannot).
func (r *Report) NeverSent() int {
	n := 0
	for i := range r.Rows {
		if r.Rows[i].Status == StatusPending && !r.Rows[i].Awaiting {
			n++
		}
	}
	return n
}
