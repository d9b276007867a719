package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"payroll/batch"
	"payroll/reports"
)

type statusOptions struct{}

func newStatusCommand(g *globalOptions) *cobra.Command {
	var o statusOptions
	return &cobra.Command{
		Use:   "status [BATCH]",
		Short: "List batches, or one batch's lines by state",
		Long: `status without BATCH lists every batch in the ledger with its counts per
state. With BATCH it shows counts and totals per state, provider and currency,
and lists the lines that need attention (failed, unknown, conflict, invalid,
pending). Phone and account numbers are masked.`,
		Example: `  payroll status
  payroll status payroll-2026-11`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), o, g, args)
		},
	}
}

func runStatus(ctx context.Context, o statusOptions, g *globalOptions, args []string) error {
	_, db, err := g.openLedger()
	if err != nil {
		return err
	}
	defer db.Close()
	w := g.stdout
	if len(args) == 0 {
		all, err := db.Batches(ctx)
		if err != nil {
			return err
		}
		if len(all) == 0 {
			fmt.Fprintln(w, "The ledger has no batches.")
			return nil
		}
		t := newTable("", "batch", "sheet", "lines", "states", "updated").alignRight(2)
		for _, b := range all {
			var parts []string
			for _, s := range batch.States {
				if n := b.Counts[s]; n > 0 {
					parts = append(parts, fmt.Sprintf("%d %s", n, s))
				}
			}
			t.add(b.ID, b.File, strconv.Itoa(b.Lines), strings.Join(parts, ", "), b.Updated.Local().Format(time.DateTime))
		}
		t.write(w)
		return nil
	}
	id := args[0]
	b, err := db.Batch(ctx, id)
	if err != nil {
		return batchNotFound(id, err)
	}
	fmt.Fprintf(w, "Batch %s (%s), %d lines, imported %d %s, last change %s\n\n", b.ID, b.File, b.Lines, b.Imports,
		plural(b.Imports, "time", "times"), b.Updated.Local().Format(time.DateTime))
	rows, err := db.Summary(ctx, id)
	if err != nil {
		return err
	}
	t := newTable("", "state", "provider", "currency", "lines", "amount").alignRight(3, 4)
	for _, r := range rows {
		t.add(string(r.State), string(r.Provider), string(r.Currency), strconv.Itoa(r.Count), r.Total.Grouped())
	}
	t.write(w)
	attention := newTable("  ", "row", "reference", "state", "destination", "amount", "why").alignRight(0, 4)
	n := 0
	for rec, err := range db.Lines(ctx, id) {
		if err != nil {
			return err
		}
		switch rec.State {
		case batch.StatePaid, batch.StateAccepted, batch.StateCancelled:
			if len(rec.Flags) == 0 {
				continue
			}
		}
		n++
		v := rec.View()
		row := reports.RowOf(&v)
		amount := row.Amount.Grouped() + " " + row.Currency
		if row.AmountText != "" {
			amount = row.AmountText
		}
		why := row.FailureReason
		if rec.State == batch.StatePending && why == "" {
			why = "never sent: payroll run sends it"
		}
		attention.add(strconv.Itoa(row.Row), rec.Ref, string(rec.State), rec.Line.Dest.Masked(), amount, shorten(why, 70))
	}
	if n > 0 {
		fmt.Fprintf(w, "\nLines that need attention:\n")
		attention.write(w)
	}
	r, err := buildReport(ctx, db, id)
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	reports.WriteAdvice(w, r)
	return nil
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
