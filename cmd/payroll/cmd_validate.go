package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"payroll/batch"
)

type validateOptions struct {
	sheet string
}

func (o *validateOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.sheet, "sheet", "", "XLSX worksheet to read (default the first)")
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
	// Only the totals are printed: streaming keeps memory flat on big sheets.
	v, err := batch.ValidateFileWith(ctx, path, cfg, batch.ValidateOptions{SheetName: o.sheet, DiscardLines: true})
	if err != nil {
		return err
	}
	printErrors(g.stdout, v)
	printValidationSummary(g.stdout, v)
	if !v.OK() {
		return errInvalidSheet
	}
	return nil
}

func printErrors(w io.Writer, v *batch.Validation) {
	for _, e := range v.Errors {
		fmt.Fprintln(w, e)
	}
	if len(v.Errors) > 0 {
		fmt.Fprintln(w)
	}
}

func printValidationSummary(w io.Writer, v *batch.Validation) {
	fmt.Fprintf(w, "%s: %d rows, %d valid, %d invalid", v.File, v.Rows, v.Valid, len(v.Invalid))
	if n := len(v.Errors); n > 0 {
		fmt.Fprintf(w, ", %d %s", n, plural(n, "error", "errors"))
	}
	fmt.Fprintln(w)
	totals := v.Totals()
	if len(totals) == 0 {
		return
	}
	fmt.Fprintln(w)
	t := newTable("", "provider", "currency", "type", "lines", "amount").alignRight(3, 4)
	for _, x := range totals {
		t.add(string(x.Provider), string(x.Currency), string(x.Type), strconv.Itoa(x.Lines), x.Amount.Grouped())
	}
	for _, c := range currencyTotals(totals) {
		t.add("total", string(c.Currency), "", strconv.Itoa(c.Lines), c.Amount.Grouped())
	}
	t.write(w)
}

// currencyTotals sums totals per currency, in order of first appearance.
func currencyTotals(ts []batch.Total) []batch.Total {
	var out []batch.Total
	idx := map[batch.Currency]int{}
	for _, t := range ts {
		i, ok := idx[t.Currency]
		if !ok {
			i = len(out)
			idx[t.Currency] = i
			out = append(out, batch.Total{Currency: t.Currency})
		}
		out[i].Lines += t.Lines
		out[i].Amount = out[i].Amount.Add(t.Amount)
		out[i].Rounding = out[i].Rounding.Add(t.Rounding)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
