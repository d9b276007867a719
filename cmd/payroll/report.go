package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"payroll/batch"
	"payroll/ledger"
	"payroll/reports"
)

// buildReport turns a batch's ledger lines into the report of DESIGN.md
// §6, in sheet order.
func buildReport(ctx context.Context, db *ledger.DB, batchID string) (*reports.Report, error) {
	b, err := db.Batch(ctx, batchID)
	if err != nil {
		return nil, err
	}
	r := &reports.Report{Batch: batchID, Sheet: b.File, Generated: time.Now()}
	for rec, err := range db.Lines(ctx, batchID) {
		if err != nil {
			return nil, err
		}
		r.Rows = append(r.Rows, reportRow(&rec))
	}
	slices.SortStableFunc(r.Rows, func(a, b reports.Row) int { return cmp.Compare(a.Row, b.Row) })
	return r, nil
}

func reportRow(rec *ledger.LineRecord) reports.Row {
	row := reports.Row{
		Row:               rec.Row(),
		Reference:         rec.Ref,
		Status:            rec.State.ReportStatus(),
		ProviderReference: rec.ProviderRef,
		Receipt:           rec.Receipt,
		FailureReason:     rec.FailureReason,
		Attempts:          len(rec.Attempts),
		UpdatedAt:         rec.Updated,
		Awaiting:          rec.State == batch.StateSending || rec.State == batch.StateAccepted,
	}
	if a := rec.Current(); a != nil && a.Outcome != batch.OutcomeNotSent {
		row.SentAt = a.Started
	}
	switch rec.State {
	case batch.StatePaid, batch.StateFailed:
		row.SettledAt = rec.Updated
	}
	if inv := rec.Invalid; inv != nil {
		row.Name, row.Provider, row.Type, row.Currency = inv.Name, inv.Provider, inv.Type, inv.Currency
		if m, err := batch.ParseMoney(inv.Amount); err == nil {
			row.Amount = m
		} else {
			row.AmountText = inv.Amount
		}
		row.FailureReason = strings.Join(inv.Reasons, "; ")
		return row
	}
	l := &rec.Line
	if l.RefDerived {
		row.Reference = ""
	}
	row.Name = l.Name
	if row.Name == "" {
		row.Name = strings.TrimSpace(l.FirstName + " " + l.LastName)
	}
	row.Provider, row.Type, row.Destination = string(l.Provider), string(l.Dest.Type), l.Dest.Display()
	row.Amount, row.Currency = l.Amount, string(l.Currency)
	row.Flags = append(row.Flags, rec.Flags...)
	if rec.State == batch.StateConflict || rec.Changed != nil || rec.ChangedInvalid != nil {
		// A line already sent (even paid) whose row then changed keeps
		// its state and what was paid; the row as the sheet now has it is
		// a conflict, shown beside it.
		if !slices.Contains(row.Flags, reports.FlagSheetChanged) {
			row.Flags = append(row.Flags, reports.FlagSheetChanged)
		}
		if c := rec.Changed; c != nil && !c.Amount.Equal(l.Amount) {
			row.SheetAmount = c.Amount
		}
		row.FailureReason = joinNonEmpty("; ", row.FailureReason, sheetChangedNote(rec))
	}
	if d := l.RoundingDiff(); !d.IsZero() {
		row.FailureReason = joinNonEmpty("; ", row.FailureReason, fmt.Sprintf("rounded down: %s not paid", d))
	}
	return row
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
// changed after it was sent (the report's amount and destination are what
// was sent).
func sheetChangedNote(rec *ledger.LineRecord) string {
	const note = "the row changed in the sheet after it was sent; not paid again"
	switch c := rec.Changed; {
	case c != nil && c.Dest.Identity() != rec.Line.Dest.Identity():
		return note + "; the sheet now says " + c.Dest.Display() + " " + c.Amount.String()
	case rec.ChangedInvalid != nil:
		return note + "; the sheet's row is now invalid"
	}
	return note
}

// finalCode is the exit code of a run or settle from the batch's report
// (DESIGN.md §5). A paid line whose row changed in the sheet afterwards is
// a conflict: the sheet asks for something that was not paid.
func finalCode(r *reports.Report) int {
	counts := map[string]int{}
	for i := range r.Rows {
		counts[r.Rows[i].Status]++
		if r.Rows[i].HasFlag(reports.FlagSheetChanged) {
			counts["conflict"]++
		}
	}
	switch {
	case counts["pending"] > 0:
		return exitPending
	case counts["failed"]+counts["unknown"]+counts["conflict"]+counts["invalid"] > 0:
		return exitUnsettled
	}
	return exitOK
}
