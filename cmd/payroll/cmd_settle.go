package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"payroll/batch"
	"payroll/ledger"
	"payroll/reports"
)

type settleOptions struct {
	wait time.Duration
}

func newSettleCommand(g *globalOptions) *cobra.Command {
	var o settleOptions
	cmd := &cobra.Command{
		Use:   "settle [BATCH]",
		Short: "Wait and poll again for a batch's unsettled lines, then write the report",
		Long: `settle starts the callback receiver and polls the providers for every line
that was accepted but has no result yet, until all are paid or failed or --wait
runs out; then it writes the report. Without BATCH it settles every batch with
unsettled lines. It never sends a payout, so it is safe to run from cron as
often as you like.`,
		Example: `  payroll settle payroll-2026-11
  payroll settle --wait 2h          # every batch with unsettled lines`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.completeBatch,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSettle(cmd.Context(), o, g, args)
		},
	}
	cmd.Flags().DurationVar(&o.wait, "wait", 15*time.Minute, "how long to wait for results")
	return cmd
}

func runSettle(ctx context.Context, o settleOptions, g *globalOptions, args []string) error {
	cfg, db, err := g.openLedger()
	if err != nil {
		return err
	}
	defer db.Close()
	var ids []string
	if len(args) == 1 {
		if _, err := db.Batch(ctx, args[0]); err != nil {
			return batchNotFound(args[0], err)
		}
		ids = args
	} else {
		all, err := db.Batches(ctx)
		if err != nil {
			return err
		}
		for _, b := range all {
			if b.Counts[batch.StateAccepted] > 0 || b.Counts[batch.StateUnknown] > 0 {
				ids = append(ids, b.ID)
			} else if n := b.Counts[batch.StatePending]; n > 0 {
				fmt.Fprintf(g.stderr, "batch %s: %d %s never sent; settle never sends a payout: `payroll run %s` (the same sheet) sends %s\n",
					b.ID, n, plural(n, "line was", "lines were"), b.File, plural(n, "it", "them"))
			}
		}
		if len(ids) == 0 {
			fmt.Fprintln(g.stdout, "No batch has unsettled lines.")
			return nil
		}
	}
	worst := exitOK
	var interrupted error
	for _, id := range ids {
		if interrupted != nil {
			break
		}
		g.setBatch(id)
		unsettled, err := db.Unsettled(ctx, id)
		if err != nil {
			return err
		}
		providers := map[batch.ProviderName]bool{}
		for _, u := range unsettled {
			providers[u.Provider] = true
		}
		if len(providers) > 0 {
			e, err := startEngine(ctx, g, cfg, db, providers, false)
			if err != nil {
				return err
			}
			left, serr := e.settler.Settle(ctx, id, time.Now().Add(o.wait))
			e.close()
			switch {
			case errors.Is(serr, context.Canceled):
				interrupted = serr
			case serr != nil:
				return serr
			case left > 0:
				g.logger().Info("still waiting for results when --wait ran out", "batch", id, "requests", left)
			}
		}
		r, rerr := reconcile(context.WithoutCancel(ctx), g, db, id, reports.Formats, false)
		if rerr != nil {
			return rerr
		}
		if n := r.neverSent; n > 0 {
			fmt.Fprintf(g.stderr, "batch %s: %d %s never sent; settle never sends a payout: `payroll run %s` (the same sheet) sends %s\n",
				id, n, plural(n, "line was", "lines were"), r.sheet, plural(n, "it", "them"))
		}
		worst = max(worst, exitFor[r.verdict])
	}
	if interrupted != nil {
		fmt.Fprintln(g.stderr, "interrupted: run settle again to go on")
		return withCode(exitInterrupted, interrupted)
	}
	if worst != exitOK {
		return quietExit(worst)
	}
	return nil
}

func batchNotFound(id string, err error) error {
	if errors.Is(err, ledger.ErrNotFound) {
		return usageErrorf("no batch %q in the ledger (payroll status lists them)", id)
	}
	return err
}
