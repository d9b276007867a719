package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"payroll/ledger"
)

func newCheckCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Verify the ledger file and its invariants",
		Long: `check opens the ledger read-only (nothing is changed, not even the crash
recovery a run would do) and verifies it: bbolt's own page check, the
state of every line against its attempts, the in-flight and payee indexes,
and conservation (counts per state add up to the lines, amounts per
currency to the imported totals). Then the journal: the hash chain of every
entry, the entry the ledger records as applied, and that replaying the
journal gives this ledger key for key; the first entry or record that
differs is named.

Exit: 0 the ledger is sound · 1 problems found (each one is printed) ·
11 ledger busy.`,
		Example: `  payroll check
  payroll check --ledger /var/lib/payroll/payroll.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			path := g.ledger(cfg)
			g.live = true
			db, err := g.openExisting(path, ledger.Options{ReadOnly: true})
			if err != nil {
				return err
			}
			defer db.Close()
			batches, err := db.Batches(ctx)
			if err != nil {
				return err
			}
			var problems []string
			if err := db.Check(ctx); err != nil {
				problems = append(problems, strings.Split(err.Error(), "\n")...)
			}
			rep, jerr := db.CheckJournal(ctx)
			if jerr != nil {
				problems = append(problems, jerr.Error())
			}
			n := 0
			for _, line := range problems {
				if line != "" {
					fmt.Fprintln(g.stdout, line)
					n++
				}
			}
			if n > 0 {
				return withCode(exitError, fmt.Errorf("%s: %d %s", path, n, plural(n, "problem", "problems")))
			}
			lines := 0
			for _, b := range batches {
				for _, c := range b.Counts {
					lines += c
				}
			}
			fmt.Fprintf(g.stdout, "Ledger %s is sound: %d %s, %d %s\n", path,
				len(batches), plural(len(batches), "batch", "batches"), lines, plural(lines, "line", "lines"))
			switch {
			case rep.NoHead:
				fmt.Fprintln(g.stdout, "It has no journal yet: the next run or settle starts one.")
			default:
				fmt.Fprintf(g.stdout, "Journal %s: %d %s in %d %s, chain intact; the ledger equals its replay.\n", ledger.JournalPath(path),
					rep.Entries, plural(rep.Entries, "entry", "entries"), rep.Commits, plural(int(rep.Commits), "commit", "commits"))
			}
			if rep.Ahead > 0 {
				fmt.Fprintf(g.stdout, "The journal holds one more commit (%d) than the ledger applied: a process stopped between the two; the next run or settle replays it.\n", rep.Ahead)
			}
			if rep.Torn > 0 {
				fmt.Fprintf(g.stdout, "The journal ends with a torn commit (%d bytes, never applied); the next run or settle cuts it off.\n", rep.Torn)
			}
			return nil
		},
	}
}
