package main

import (
	"context"
	"strings"

	"payroll/batch"
	"payroll/ledger"
	"payroll/reports"
)

// unknownLines are the batch's lines whose outcome is unknown, as the
// unknown-lines file shows them.
func unknownLines(ctx context.Context, db *ledger.DB, id string) ([]reports.UnknownRow, []ledger.LineRecord, error) {
	var rows []reports.UnknownRow
	var recs []ledger.LineRecord
	for r, err := range db.Lines(ctx, id) {
		if err != nil {
			return nil, nil, err
		}
		if r.State != batch.StateUnknown {
			continue
		}
		u := reports.UnknownRow{Reference: r.Ref, Row: r.Row(), Name: lineName(&r.Line), Provider: string(r.Line.Provider),
			Type: string(r.Line.Dest.Type), Destination: r.Line.Dest.Display(), Amount: r.Line.Amount.String(),
			Currency: string(r.Line.Currency), Attempt: len(r.Attempts), ProviderRef: r.ProviderRef}
		if a := r.Current(); a != nil {
			u.SentAt, u.ClientRef, u.Why = a.Started, a.ClientRef, a.Error
			if a.ProviderRef != "" {
				u.ProviderRef = a.ProviderRef
			}
		}
		rows = append(rows, u)
		recs = append(recs, r)
	}
	return rows, recs, nil
}

func lineName(l *batch.Line) string {
	if l.Name != "" {
		return l.Name
	}
	return strings.TrimSpace(l.FirstName + " " + l.LastName)
}
