package main

import (
	"context"

	"github.com/spf13/cobra"

	"payroll/batch"
	"payroll/reports"
)

type validateOptions struct {
	sheet     string
	headerRow int
}

func (o *validateOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.sheet, "sheet", "", "XLSX worksheet to read (default the first)")
	cmd.Flags().IntVar(&o.headerRow, "header-row", 0, "the header's row number (default: the first of the top 10 rows that maps; title rows above it are skipped)")
}

func newValidateCommand(g *globalOptions) *cobra.Command {
	var o validateOptions
	cmd := &cobra.Command{
		Use:   "validate SHEET",
		Short: "Check every row of a sheet; print totals per provider, currency and type",
		Long: `validate reads the whole sheet and reports every problem in one pass, each
naming the file, the row as Excel shows it, the column and the rule broken.
It then prints the totals of the valid rows per provider, currency and
destination type. Nothing is sent. Exit 0 if every row is valid, 3 if not.`,
		Example: `  payroll validate samples/payroll-2026-11.csv
  payroll validate --sheet November samples/payroll-2026-11.xlsx
  payroll validate --config samples/payroll.toml samples/hr-export-2026-11.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runValidate(cmd.Context(), o, g, args[0])
		},
	}
	o.addFlags(cmd)
	return cmd
}

func runValidate(ctx context.Context, o validateOptions, g *globalOptions, path string) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	if err := setHeaderRow(cfg, o.headerRow); err != nil {
		return err
	}
	// Only the totals are printed: streaming keeps memory flat on big sheets.
	v, err := batch.ValidateFileWith(ctx, path, cfg, batch.ValidateOptions{SheetName: o.sheet, DiscardLines: true})
	if err != nil {
		return err
	}
	reports.WriteErrors(g.stdout, v)
	reports.WriteValidation(g.stdout, v)
	if !v.OK() {
		return errInvalidSheet
	}
	return nil
}

// plural picks the word for n.
var plural = reports.Plural
