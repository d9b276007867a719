package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"payroll/reports"
)

type reportOptions struct {
	formats []string
	unknown bool
}

func newReportCommand(g *globalOptions) *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report BATCH",
		Short: "Write a batch's reconciliation report again",
		Long: `report writes the batch's reconciliation report from the ledger: one row per
sheet row in sheet order with its status, provider reference, receipt and
failure reason. CSV and JSON carry exact amounts; the XLSX has a Summary sheet
with a chart. Files are written atomically with mode 0600 into --report-dir.

--unknown writes only the lines whose outcome is unknown to
<batch>-unknown.csv, with full phone and account numbers, when each was sent,
what the provider answered and the reference sent (KiotaPay's referenceId):
what to check with the provider. Its last columns (outcome, receipt, note) are
left empty: filled in, the file is a decisions file for payroll resolve --from
(rows left empty are skipped).`,
		Example: `  payroll report payroll-2026-11
  payroll report payroll-2026-11 --unknown
  payroll report payroll-2026-11 --format xlsx --report-dir /srv/finance/reports`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeBatch,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd.Context(), o, g, args[0])
		},
	}
	cmd.Flags().StringSliceVar(&o.formats, "format", reports.Formats, "csv, xlsx, json (repeat or comma-separate)")
	cmd.Flags().BoolVar(&o.unknown, "unknown", false, "write only the lines whose outcome is unknown, in full, to <batch>-unknown.csv: what to check with the provider, and a decisions file for resolve --from once filled in")
	return cmd
}

func runReport(ctx context.Context, o reportOptions, g *globalOptions, id string) error {
	g.live = true // a busy ledger is asked through the running process (live.go)
	for _, f := range o.formats {
		if f != "csv" && f != "xlsx" && f != "json" {
			return usageErrorf("--format %q: want csv, xlsx or json", f)
		}
	}
	_, db, err := g.openBatch(ctx, id)
	if err != nil {
		return err
	}
	defer db.Close()
	if o.unknown {
		rows, _, err := unknownLines(ctx, db, id)
		if err != nil {
			return err
		}
		path, err := reports.WriteUnknown(g.reports(), id, rows)
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "%d unknown %s written to %s (full numbers: keep it like the report).\n", len(rows), plural(len(rows), "line", "lines"), path)
		if len(rows) > 0 {
			fmt.Fprintf(g.stdout, "Check each with the provider, fill in outcome (paid or failed), receipt and note, then: payroll resolve %s --from %s\n", id, path)
		}
		return nil
	}
	_, err = reconcile(ctx, g, db, id, o.formats, true) // asked for: always written
	return err
}
