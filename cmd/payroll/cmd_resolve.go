package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers/kiotapay"
	"payroll/reports"
)

type resolveOptions struct {
	paid, failed bool
	receipt      string
	note         string
	from         string
	fromProvider bool
	yes          bool
}

func newResolveCommand(g *globalOptions) *cobra.Command {
	var o resolveOptions
	cmd := &cobra.Command{
		Use:   "resolve BATCH [REF --paid|--failed --note TEXT | --from FILE]",
		Short: "Record operators' decisions on lines whose outcome is unknown",
		Long: `resolve settles lines in state unknown after you checked with the provider
whether they were paid. One line: REF with --paid or --failed and a --note
saying how you know (--receipt for the provider's receipt). Many lines:
--from FILE, a CSV with the columns reference, outcome (paid or failed),
receipt and note; resolve shows what it will record, refuses lines that are
not unknown, and asks before recording (unless --yes). Each decision is an
event in the batch's log. A line resolved failed can be sent again with
payroll retry.

--from-provider asks KiotaPay for its records (send-money/all) and proposes a
decision for each unknown KiotaPay line that exactly one record matches, by
the referenceId the attempt was sent with (or its requestId), with the line's
phone and amount: paid with the record's receipt, or failed. Anything else
(no record, several, a different phone or amount, still pending) is shown
and not proposed. Kopo Kopo documents no listing of transfers: its unknown
lines are checked on the dashboard and decided with --from. Proposals are
shown like a decisions file and recorded only once confirmed.`,
		Example: `  payroll resolve payroll-2026-11 EMP0007 --paid --receipt QCL160124A7 --note "K2 dashboard"
  payroll resolve payroll-2026-11 EMP0012 --failed --note "not in KiotaPay send-money/all on 2026-11-24"
  payroll resolve payroll-2026-11 --from decisions.csv
  payroll resolve payroll-2026-11 --from-provider`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: g.completeBatch,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.fromProvider {
				if len(args) != 1 || o.paid || o.failed || o.from != "" {
					return usageErrorf("--from-provider takes the batch only")
				}
				return runResolveFromProvider(cmd.Context(), o, g, args[0])
			}
			if o.from != "" {
				if len(args) != 1 || o.paid || o.failed {
					return usageErrorf("--from takes the batch only: the file has the references and outcomes")
				}
				return runResolveFrom(cmd.Context(), o, g, args[0])
			}
			if len(args) != 2 {
				return usageErrorf("give a line's reference, or --from FILE")
			}
			return runResolve(cmd.Context(), o, g, args[0], args[1])
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.paid, "paid", false, "the provider paid it")
	f.BoolVar(&o.failed, "failed", false, "the provider did not pay it")
	f.StringVar(&o.receipt, "receipt", "", "the provider's receipt, for --paid")
	f.StringVar(&o.note, "note", "", "how you know (required)")
	f.StringVar(&o.from, "from", "", "CSV of decisions: reference, outcome, receipt, note")
	f.BoolVar(&o.fromProvider, "from-provider", false, "propose decisions from the provider's own records (KiotaPay send-money/all), shown for confirmation")
	f.BoolVarP(&o.yes, "yes", "y", false, "with --from or --from-provider: do not ask for confirmation")
	return cmd
}

// runResolve records one decision given on the command line.
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
	state := map[bool]string{true: "paid", false: "failed"}[o.paid]
	switch changed, err := db.Resolve(ctx, id, ref, o.paid, o.receipt, o.note); {
	case errors.Is(err, ledger.ErrNotFound):
		return usageErrorf("no line %q in batch %q", ref, id)
	case errors.Is(err, ledger.ErrTransition):
		return usageErrorf("line %s is not unknown: %v", ref, err)
	case err != nil:
		return err
	case !changed:
		fmt.Fprintf(g.stdout, "Line %s of batch %s is already %s; nothing recorded.\n", ref, id, state)
	default:
		fmt.Fprintf(g.stdout, "Line %s of batch %s resolved as %s (recorded in the event log).\n", ref, id, state)
	}
	return nil
}

// runResolveFrom applies a decisions file: every decision is checked
// against the ledger and shown first; lines that are not unknown are
// refused and listed; nothing is recorded without confirmation.
func runResolveFrom(ctx context.Context, o resolveOptions, g *globalOptions, id string) error {
	f, err := os.Open(o.from)
	if err != nil {
		return err
	}
	ds, err := batch.ReadDecisions(f, o.from)
	f.Close()
	if err != nil {
		fmt.Fprintln(g.stderr, err)
		return withCode(exitUsage, fmt.Errorf("%s: the decisions file has errors; nothing was recorded", o.from))
	}
	_, db, err := g.openBatch(ctx, id)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, refused, declined, err := recordDecisions(ctx, g, db, id, ds, o.yes)
	switch {
	case err != nil:
		return err
	case declined:
		return nil
	case applied == 0:
		return withCode(exitUsage, errors.New("no decision recorded"))
	case refused > 0:
		return quietExit(exitUnsettled)
	}
	return nil
}

// recordDecisions checks decisions against the ledger, shows each beside
// its line, refuses those for lines that are not unknown, asks (unless
// yes) and records the rest, each an event. It returns how many were
// recorded and refused, and whether the operator declined.
func recordDecisions(ctx context.Context, g *globalOptions, db *ledger.DB, id string, ds []batch.Decision, yes bool) (applied, refused int, declined bool, err error) {
	checks, err := db.CheckDecisions(ctx, id, ds)
	if err != nil {
		return 0, 0, false, err
	}
	reports.WriteDecisions(g.stdout, checks)
	var apply []batch.Decision
	for _, c := range checks {
		if c.OK {
			apply = append(apply, c.Decision)
		}
	}
	refused = len(ds) - len(apply)
	if len(apply) == 0 {
		fmt.Fprintln(g.stdout, "No decision applies to an unknown line; nothing recorded.")
		return 0, refused, false, nil
	}
	fmt.Fprintf(g.stdout, "%d %s will be recorded, %d refused.\n", len(apply), plural(len(apply), "decision", "decisions"), refused)
	if !yes && !g.confirm("Record them?") {
		fmt.Fprintln(g.stdout, "Nothing recorded.")
		return 0, refused, true, nil
	}
	for _, d := range apply {
		if _, err := db.Resolve(ctx, id, d.Reference, d.Paid(), d.Receipt, d.Note); err != nil {
			return 0, refused, false, fmt.Errorf("row %d (%s): %w", d.Row, d.Reference, err)
		}
	}
	fmt.Fprintf(g.stdout, "%d %s recorded in the event log.\n", len(apply), plural(len(apply), "decision", "decisions"))
	return len(apply), refused, false, nil
}

// runResolveFromProvider proposes decisions for the batch's unknown
// KiotaPay lines from KiotaPay's own records and records those confirmed.
func runResolveFromProvider(ctx context.Context, o resolveOptions, g *globalOptions, id string) error {
	_, db, err := g.openBatch(ctx, id)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, _, err := unknownLines(ctx, db, id)
	if err != nil {
		return err
	}
	var kp []reports.UnknownRow
	k2 := 0
	for _, r := range rows {
		if r.Provider == string(batch.KiotaPay) {
			kp = append(kp, r)
		} else {
			k2++
		}
	}
	if k2 > 0 {
		fmt.Fprintf(g.stdout, "%d unknown Kopo Kopo %s: Kopo Kopo documents no listing of transfers, so nothing can be proven from here; check them on the dashboard (payroll report %s --unknown lists them) and use --from.\n",
			k2, plural(k2, "line", "lines"), id)
	}
	if len(kp) == 0 {
		fmt.Fprintln(g.stdout, "No unknown KiotaPay line: nothing to ask KiotaPay.")
		return nil
	}
	secrets, err := providerSecrets(g.set.cb, map[batch.ProviderName]bool{batch.KiotaPay: true})
	if err != nil {
		return err
	}
	client, err := kiotapay.New(kiotapay.Config{
		BaseURL: g.set.kp.KiotaPay.BaseURL, Environment: g.set.kp.KiotaPay.Environment,
		APIKey: secrets.KiotaPayAPIKey, APISecret: secrets.KiotaPayAPISecret,
		CallbackURL: g.set.cb.Callbacks.PublicURL, Logger: g.logger(),
	})
	if err != nil {
		return err
	}
	records, err := client.All(ctx)
	if err != nil {
		return fmt.Errorf("KiotaPay send-money/all: %w; nothing recorded", err)
	}
	fmt.Fprintf(g.stdout, "KiotaPay lists %d send-money %s.\n", len(records), plural(len(records), "record", "records"))
	var ds []batch.Decision
	t := reports.NewTable("  ", "row", "reference", "destination", "amount", "what KiotaPay's records show")
	for _, r := range kp {
		amount, err := batch.ParseMoney(r.Amount)
		if err != nil {
			return fmt.Errorf("line %s: amount %q: %w", r.Reference, r.Amount, err)
		}
		ev := client.Prove(ctx, records, kiotapay.Unknown{ClientRef: r.ClientRef, RequestID: r.ProviderRef, Phone: r.Destination, Amount: amount})
		if ev.Outcome == "" {
			t.Add(strconv.Itoa(r.Row), r.Reference, batch.Mask(r.Destination), r.Amount+" "+r.Currency, ev.Why)
			continue
		}
		ds = append(ds, batch.Decision{Row: r.Row, Reference: r.Reference, Outcome: ev.Outcome, Receipt: ev.Receipt,
			Note: "proposed from " + ev.Why + "; confirmed by the operator"})
	}
	if n := len(kp) - len(ds); n > 0 {
		fmt.Fprintf(g.stdout, "%d %s cannot be decided from KiotaPay's records:\n", n, plural(n, "line", "lines"))
		t.Write(g.stdout)
	}
	if len(ds) == 0 {
		fmt.Fprintln(g.stdout, "Nothing proposed; nothing recorded.")
		return quietExit(exitUnsettled)
	}
	fmt.Fprintf(g.stdout, "Proposed from KiotaPay's records:\n")
	applied, _, declined, err := recordDecisions(ctx, g, db, id, ds, o.yes)
	if err != nil || declined {
		return err
	}
	if applied < len(rows) {
		return quietExit(exitUnsettled)
	}
	return nil
}
