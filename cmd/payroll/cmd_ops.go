package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"payroll/batch"
	"payroll/ledger"
	"payroll/reports"
)

func newSettleCommand(g *globalOptions) *cobra.Command {
	var wait time.Duration
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
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSettle(cmd.Context(), g, args, wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 15*time.Minute, "how long to wait for results")
	return cmd
}

func runSettle(ctx context.Context, g *globalOptions, args []string, wait time.Duration) error {
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
	for _, id := range ids {
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
			left, serr := e.settler.Settle(ctx, id, time.Now().Add(wait))
			e.close()
			if serr != nil && !errors.Is(serr, context.Canceled) {
				return serr
			}
			if left > 0 {
				g.logger().Info("still waiting for results when --wait ran out", "batch", id, "requests", left)
			}
			if errors.Is(serr, context.Canceled) {
				defer fmt.Fprintln(g.stderr, "interrupted: run settle again to go on")
				err = withCode(exitInterrupted, serr)
			}
		}
		r, rerr := reconcile(context.WithoutCancel(ctx), g, db, id, reports.Formats)
		if rerr != nil {
			return rerr
		}
		if n := r.NeverSent(); n > 0 {
			fmt.Fprintf(g.stderr, "batch %s: %d %s never sent; settle never sends a payout: `payroll run %s` (the same sheet) sends %s\n",
				id, n, plural(n, "line was", "lines were"), r.Sheet, plural(n, "it", "them"))
		}
		if err != nil {
			return err
		}
		worst = max(worst, finalCode(r))
	}
	if worst != exitOK {
		return withCode(worst, errQuietExit)
	}
	return nil
}

func batchNotFound(id string, err error) error {
	if errors.Is(err, ledger.ErrNotFound) {
		return usageErrorf("no batch %q in the ledger (payroll status lists them)", id)
	}
	return err
}

func newStatusCommand(g *globalOptions) *cobra.Command {
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
			return runStatus(cmd.Context(), g, args)
		},
	}
}

func runStatus(ctx context.Context, g *globalOptions, args []string) error {
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

func newReportCommand(g *globalOptions) *cobra.Command {
	var formats []string
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
			ctx := cmd.Context()
			for _, f := range formats {
				if f != "csv" && f != "xlsx" && f != "json" {
					return usageErrorf("--format %q: want csv, xlsx or json", f)
				}
			}
			_, db, err := g.openLedger()
			if err != nil {
				return err
			}
			defer db.Close()
			if _, err := db.Batch(ctx, args[0]); err != nil {
				return batchNotFound(args[0], err)
			}
			_, err = reconcile(ctx, g, db, args[0], formats)
			return err
		},
	}
	cmd.Flags().StringSliceVar(&formats, "format", reports.Formats, "csv, xlsx, json (repeat or comma-separate)")
	return cmd
}

func newRetryCommand(g *globalOptions) *cobra.Command {
	var yes bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "retry BATCH",
		Short: "Send new attempts for the lines that failed conclusively",
		Long: `retry lists the batch's lines whose payout the provider refused or reported
failed, asks for confirmation (unless --yes), moves them back to pending with
an event in the log, sends them, and waits for their results like run. Lines
whose outcome is unknown are never retried: check them with the provider and
use payroll resolve.`,
		Example: `  payroll retry payroll-2026-11
  payroll retry --yes --wait 10m payroll-2026-11`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRetry(cmd.Context(), g, args[0], yes, wait)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().DurationVar(&wait, "wait", 15*time.Minute, "how long to wait for results")
	return cmd
}

func runRetry(ctx context.Context, g *globalOptions, id string, yes bool, wait time.Duration) error {
	cfg, db, err := g.openLedger()
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Batch(ctx, id); err != nil {
		return batchNotFound(id, err)
	}
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
	t := newTable("  ", "row", "reference", "destination", "amount", "failed because").alignRight(0, 3)
	for _, rec := range failed {
		t.add(strconv.Itoa(rec.Row()), rec.Ref, rec.Line.Dest.Masked(), rec.Line.Amount.Grouped()+" "+string(rec.Line.Currency), shorten(rec.FailureReason, 60))
	}
	t.write(g.stdout)
	if !yes {
		fmt.Fprint(g.stdout, "Send them again? [y/N] ")
		answer, _ := bufio.NewReader(g.stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(g.stdout, "Nothing sent.")
			return nil
		}
	}
	refs, err := db.Retry(ctx, id)
	if err != nil {
		return err
	}
	g.logger().Info("lines back to pending for a new attempt", "batch", id, "lines", len(refs))
	return sendAndSettle(ctx, g, cfg, db, g.logger(), id, false, wait)
}

func newResolveCommand(g *globalOptions) *cobra.Command {
	var paid, failed bool
	var note string
	cmd := &cobra.Command{
		Use:   "resolve BATCH REF --paid|--failed --note TEXT",
		Short: "Record an operator's decision on a line whose outcome is unknown",
		Long: `resolve settles a line in state unknown after you checked with the provider
whether it was paid: --paid or --failed, with a note saying how you know
(recorded in the batch's event log). A line resolved --failed can then be sent
again with payroll retry. Only unknown lines can be resolved.`,
		Example: `  payroll resolve payroll-2026-11 EMP0007 --paid --note "K2 dashboard shows QCL160124A7"
  payroll resolve payroll-2026-11 EMP0012 --failed --note "not in KiotaPay send-money/all on 2026-11-24"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if paid == failed {
				return usageErrorf("give exactly one of --paid or --failed")
			}
			if strings.TrimSpace(note) == "" {
				return usageErrorf("--note is required: say how you know")
			}
			ctx := cmd.Context()
			_, db, err := g.openLedger()
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.Resolve(ctx, args[0], args[1], paid, note); err != nil {
				if errors.Is(err, ledger.ErrNotFound) {
					return usageErrorf("no line %q in batch %q", args[1], args[0])
				}
				if errors.Is(err, ledger.ErrTransition) {
					return usageErrorf("line %s is not unknown: %v", args[1], err)
				}
				return err
			}
			state := "failed"
			if paid {
				state = "paid"
			}
			fmt.Fprintf(g.stdout, "Line %s of batch %s resolved as %s (recorded in the event log).\n", args[1], args[0], state)
			return nil
		},
	}
	cmd.Flags().BoolVar(&paid, "paid", false, "the provider paid it")
	cmd.Flags().BoolVar(&failed, "failed", false, "the provider did not pay it")
	cmd.Flags().StringVar(&note, "note", "", "how you know (required)")
	return cmd
}
