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
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.completeBatch,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), o, g, args)
		},
	}
}

func runStatus(ctx context.Context, o statusOptions, g *globalOptions, args []string) error {
	g.live = true // a busy ledger is asked through the running process (live.go)
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
		t := reports.NewTable("", "batch", "sheet", "lines", "states", "updated").AlignRight(2)
		for _, b := range all {
			var parts []string
			for _, s := range batch.States {
				if n := b.Counts[s]; n > 0 {
					parts = append(parts, fmt.Sprintf("%d %s", n, s))
				}
			}
			t.Add(b.ID, b.File, strconv.Itoa(b.Lines), strings.Join(parts, ", "), b.Updated.Local().Format(time.DateTime))
		}
		t.Write(w)
		return nil
	}
	id := args[0]
	b, err := db.Batch(ctx, id)
	if err != nil {
		return batchNotFound(id, err)
	}
	fmt.Fprintf(w, "Batch %s (%s), %d lines, imported %d %s, last change %s\n\n", b.ID, b.File, b.Lines, b.Imports,
		plural(b.Imports, "time", "times"), b.Updated.Local().Format(time.DateTime))
	if b.Importing != 0 {
		fmt.Fprintf(w, "Its last import stopped before the end: none of its lines is sent until `payroll run %s` imports the sheet again to the end.\n\n", b.File)
	}
	rows, err := db.Summary(ctx, id)
	if err != nil {
		return err
	}
	t := reports.NewTable("", "state", "provider", "currency", "lines", "amount").AlignRight(3, 4)
	for _, r := range rows {
		t.Add(string(r.State), string(r.Provider), string(r.Currency), strconv.Itoa(r.Count), r.Total.Grouped())
	}
	t.Write(w)
	if err := reports.WriteAttention(w, db.Views(ctx, id)); err != nil {
		return err
	}
	r, err := buildReport(ctx, db, b)
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	reports.WriteAdvice(w, r)
	return nil
}
