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
	if rec.State == batch.StateConflict || rec.Changed != nil || rec.ChangedInvalid != nil {
		// A line already sent (even paid) whose row then changed keeps
		// its state, but the row as the sheet now has it is a conflict.
		row.FailureReason = joinNonEmpty("; ", row.FailureReason, sheetChangedNote)
	}
	for _, f := range rec.Flags {
		row.FailureReason = joinNonEmpty("; ", row.FailureReason, "flag: "+f)
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

// sheetChangedNote marks a report row whose line changed in the sheet
// after it was sent: a conflict, whatever the line's state.
const sheetChangedNote = "the row changed in the sheet after it was sent; not paid again"

// finalCode is the exit code of a run or settle from the batch's report
// (DESIGN.md §5). A paid line whose row changed in the sheet afterwards is
// a conflict: the sheet asks for something that was not paid.
func finalCode(r *reports.Report) int {
	counts := map[string]int{}
	for i := range r.Rows {
		counts[r.Rows[i].Status]++
		if strings.Contains(r.Rows[i].FailureReason, sheetChangedNote) {
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
