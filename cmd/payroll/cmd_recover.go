package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"payroll/ledger"
)

type recoverOptions struct {
	force bool
}

func newRecoverCommand(g *globalOptions) *cobra.Command {
	var o recoverOptions
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Rebuild a lost or damaged ledger from its journal",
		Long: `recover rebuilds the ledger from its journal (<ledger>.journal): it checks
the journal's hash chain from the first entry, replays every complete commit
into a new file, checks that file as any ledger is checked, and only then
puts it in the ledger's place. A ledger it replaces is kept beside it as
<ledger>.replaced-<time>; a torn last commit (the process died while
appending it, so the ledger never applied it) is cut off. No provider is
called: run the sheet again afterwards and only what was never sent is sent.

A ledger that is sound and agrees with its journal is left alone (--force
rebuilds it anyway). An edited or broken journal is refused: then restore
the ledger and journal from a backup.

Exit: 0 rebuilt, or nothing to do · 1 the journal cannot be trusted or the
rebuilt ledger fails its check (the ledger is left as it was) · 11 ledger
busy.

When the ledger being replaced still records which journal entry it had
applied, the journal must reach that entry: an older or truncated copy of
the journal is refused, since the ledger rebuilt from it would not know
what was paid since. With no readable ledger, recover says as of when the
rebuilt ledger is.`,
		Example: `  payroll recover
  payroll recover --ledger /var/lib/payroll/payroll.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRecover(cmd.Context(), o, g)
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "rebuild even a ledger that agrees with its journal")
	return cmd
}

func runRecover(ctx context.Context, o recoverOptions, g *globalOptions) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	path := g.ledger(cfg)
	if _, err := os.Stat(ledger.JournalPath(path)); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("there is no journal %s to recover from", ledger.JournalPath(path))
	}
	if !o.force {
		if why := sound(ctx, path); why == nil {
			fmt.Fprintf(g.stdout, "Ledger %s is sound and agrees with its journal: nothing to recover (--force rebuilds it anyway).\n", path)
			return nil
		} else if errors.Is(why, ledger.ErrBusy) {
			return withCode(exitLocked, why)
		} else {
			fmt.Fprintf(g.stdout, "Ledger %s: %v\n", path, why)
		}
	}
	rep, err := ledger.Recover(ctx, path, time.Now())
	if errors.Is(err, ledger.ErrBusy) {
		return withCode(exitLocked, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "Rebuilt %s from its journal: %d %s, %d %s.\n", path,
		rep.Entries, plural(rep.Entries, "entry", "entries"), rep.Commits, plural(int(rep.Commits), "commit", "commits"))
	if rep.Torn > 0 {
		fmt.Fprintf(g.stdout, "A torn last commit (%d bytes, never applied) was cut off.\n", rep.Torn)
	}
	fmt.Fprintf(g.stdout, "The rebuilt ledger is as of %s, the journal's last commit.\n", rep.Last)
	if rep.Moved != "" {
		fmt.Fprintf(g.stdout, "The ledger it replaced is kept as %s.\n", rep.Moved)
	}
	if !rep.Checked {
		fmt.Fprintln(g.stdout, "There was no readable ledger to check the journal against: if this journal may be an older copy (restored from a backup), lines paid after that time are not in it and would be sent again. Check with the providers before running a sheet.")
	}
	fmt.Fprintln(g.stdout, "Run the sheet again: lines already sent are never sent again.")
	return nil
}

// sound is nil when the ledger opens, passes its check and equals its
// journal's replay; otherwise it says why not.
func sound(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return errors.New("the ledger file is missing")
	}
	db, err := ledger.Open(path, ledger.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Check(ctx); err != nil {
		return err
	}
	_, err = db.CheckJournal(ctx)
	return err
}
