package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"payroll/ledger"
)

type resolveOptions struct {
	paid, failed bool
	note         string
}

func newResolveCommand(g *globalOptions) *cobra.Command {
	var o resolveOptions
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
			return runResolve(cmd.Context(), o, g, args[0], args[1])
		},
	}
	cmd.Flags().BoolVar(&o.paid, "paid", false, "the provider paid it")
	cmd.Flags().BoolVar(&o.failed, "failed", false, "the provider did not pay it")
	cmd.Flags().StringVar(&o.note, "note", "", "how you know (required)")
	return cmd
}
func runResolve(ctx context.Context, o resolveOptions, g *globalOptions, id, ref string) error {
	if o.paid == o.failed {
		return usageErrorf("give exactly one of --paid or --failed")
	}
	if strings.TrimSpace(o.note) == "" {
		return usageErrorf("--note is required: say how you know")
	}
	_, db, err := g.openLedger()
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Resolve(ctx, id, ref, o.paid, o.note); err != nil {
		if errors.Is(err, ledger.ErrNotFound) {
			return usageErrorf("no line %q in batch %q", ref, id)
		}
		if errors.Is(err, ledger.ErrTransition) {
			return usageErrorf("line %s is not unknown: %v", ref, err)
		}
		return err
	}
	state := "failed"
	if o.paid {
		state = "paid"
	}
	fmt.Fprintf(g.stdout, "Line %s of batch %s resolved as %s (recorded in the event log).\n", ref, id, state)
	return nil
}
