package main

import (
	"context"

	"github.com/spf13/cobra"

	"payroll/reports"
)

type reportOptions struct {
	formats []string
}

func newReportCommand(g *globalOptions) *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report BATCH",
		Short: "Write a batch's reconciliation report again",
		Long: `report writes the batch's reconciliation report from the ledger: one row per
sheet row in sheet order with its status, provider reference, receipt and
failure reason. CSV and JSON carry exact amounts; the XLSX has a Summary sheet
with a chart. Files are written atomically with mode 0600 into --report-dir.`,
		Example: `  payroll report payroll-2026-11
  payroll report payroll-2026-11 --format xlsx --report-dir /srv/finance/reports`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd.Context(), o, g, args[0])
		},
	}
	cmd.Flags().StringSliceVar(&o.formats, "format", reports.Formats, "csv, xlsx, json (repeat or comma-separate)")
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
	_, err = reconcile(ctx, g, db, id, o.formats)
	return err
}
