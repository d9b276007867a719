package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"payroll/ledger"
	"payroll/reports"
)

type retryOptions struct {
	yes  bool
	wait time.Duration
}

func newRetryCommand(g *globalOptions) *cobra.Command {
	var o retryOptions
	cmd := &cobra.Command{
		Use:   "retry BATCH",
		Short: "Send new attempts for the lines that failed conclusively",
		Long: `retry lists the batch's lines whose payout the provider refused or reported
failed, asks for confirmation on a terminal (unless --yes; without a terminal
nothing asks), moves them back to pending with
an event in the log, sends them, and waits for their results like run. Lines
whose outcome is unknown are never retried: check them with the provider and
use payroll resolve.`,
		Example: `  payroll retry payroll-2026-11
  payroll retry --yes --wait 10m payroll-2026-11`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeBatch,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRetry(cmd.Context(), o, g, args[0])
		},
	}
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().DurationVar(&o.wait, "wait", 15*time.Minute, "how long to wait for results")
	return cmd
}

func runRetry(ctx context.Context, o retryOptions, g *globalOptions, id string) error {
	cfg, db, err := g.openBatch(ctx, id)
	if err != nil {
		return err
	}
	defer db.Close()
	var failed []ledger.LineRecord
	for rec, err := range db.Lines(ctx, id) {
		if err != nil {
			return err
		}
		if rec.Retryable() {
			failed = append(failed, rec)
		}
	}
	if len(failed) == 0 {
		fmt.Fprintln(g.stdout, "No line failed conclusively; nothing to retry.")
		return nil
	}
	fmt.Fprintf(g.stdout, "%d %s will be sent again:\n", len(failed), plural(len(failed), "line", "lines"))
	t := reports.NewTable("  ", "row", "reference", "destination", "amount", "failed because").AlignRight(0, 3)
	for _, rec := range failed {
		t.Add(strconv.Itoa(rec.Row()), rec.Ref, rec.Line.Dest.Masked(), rec.Line.Amount.Grouped()+" "+string(rec.Line.Currency), reports.Shorten(rec.FailureReason, 60))
	}
	t.Write(g.stdout)
	if !o.yes && g.interactive() && !g.confirm("Send them again?") {
		fmt.Fprintln(g.stdout, "Nothing sent.")
		return nil
	}
	refs, err := db.Retry(ctx, id)
	if err != nil {
		return err
	}
	g.logger().Info("lines back to pending for a new attempt", "batch", id, "lines", len(refs))
	return sendAndSettle(ctx, g, cfg, db, g.logger(), id, false, o.wait)
}
