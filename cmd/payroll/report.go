package main

import (
	"context"
	"time"

	"payroll/ledger"
	"payroll/reports"
)

// buildReport makes the batch's report of DESIGN.md §6 from the ledger.
func buildReport(ctx context.Context, db *ledger.DB, batchID string) (*reports.Report, error) {
	b, err := db.Batch(ctx, batchID)
	if err != nil {
		return nil, err
	}
	return reports.Build(batchID, b.File, time.Now(), db.Views(ctx, batchID))
}

// finalCode is the exit code of a run or settle (DESIGN.md §5).
func finalCode(r *reports.Report) int {
	switch r.Verdict() {
	case reports.Pending:
		return exitPending
	case reports.Unsettled:
		return exitUnsettled
	}
	return exitOK
}
