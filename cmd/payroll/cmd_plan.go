package main

import (
	"context"

	"github.com/spf13/cobra"

	"payroll/batch"
	"payroll/reports"
)

type planOptions struct {
	sheet       string
	headerRow   int
	json        bool
	skipInvalid bool
	requests    bool
	lines       bool
}

func newPlanCommand(g *globalOptions) *cobra.Command {
	var o planOptions
	cmd := &cobra.Command{
		Use:   "plan SHEET",
		Short: "Validate, route and chunk a sheet; show the requests that would be sent",
		Long: `plan validates the sheet, routes every line to its provider and splits the
lines into the requests a run would send: Kopo Kopo requests of at most
kopokopo.max_destinations distinct destinations, one KiotaPay request per
line. It prints what to fund per currency and provider account, counts,
totals, the largest line and what rounding = "down" leaves unpaid; --lines
lists who is paid what (destinations masked), --requests every request. No
provider is called. Exit 3 if the sheet has invalid rows
(unless --skip-invalid).`,
		Example: `  payroll plan samples/payroll-2026-11.csv
  payroll plan --json samples/payroll-2026-11.xlsx | jq '.requests | length'
  payroll plan --skip-invalid november.csv
  payroll plan --lines november.xlsx`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlan(cmd.Context(), o, g, args[0])
		},
	}
	cmd.Flags().StringVar(&o.sheet, "sheet", "", "XLSX worksheet to read (default the first)")
	cmd.Flags().IntVar(&o.headerRow, "header-row", 0, "the header's row number (default: the first of the top 10 rows that maps; title rows above it are skipped)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the plan as JSON")
	cmd.Flags().BoolVar(&o.skipInvalid, "skip-invalid", false, "plan the valid rows even if some are invalid")
	cmd.Flags().BoolVar(&o.requests, "requests", false, "list every request")
	cmd.Flags().BoolVar(&o.lines, "lines", false, "list every line: who is paid what (destinations masked)")
	return cmd
}

func runPlan(ctx context.Context, o planOptions, g *globalOptions, path string) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	if err := setHeaderRow(cfg, o.headerRow); err != nil {
		return err
	}
	v, err := batch.ValidateFile(ctx, path, cfg, o.sheet)
	if err != nil {
		return err
	}
	p := batch.MakePlan(v.Lines, cfg)
	accounts := g.accounts()
	if o.json {
		if err := reports.WritePlanJSON(g.stdout, v, p, accounts); err != nil {
			return err
		}
	} else {
		reports.WriteErrors(g.stdout, v)
		reports.WritePlan(g.stdout, v, p, reports.PlanOptions{RoundingDown: cfg.Sheet.Rounding == batch.RoundingDown,
			Requests: o.requests, Lines: o.lines, Accounts: accounts})
	}
	if !v.OK() && !o.skipInvalid {
		return errInvalidSheet
	}
	return nil
}
