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
currency to the imported totals).

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
			db, err := openExisting(path, ledger.Options{ReadOnly: true})
			if err != nil {
				return err
			}
			defer db.Close()
			batches, err := db.Batches(ctx)
			if err != nil {
				return err
			}
			if err := db.Check(ctx); err != nil {
				n := 0
				for _, line := range strings.Split(err.Error(), "\n") {
					if line != "" {
						fmt.Fprintln(g.stdout, line)
						n++
					}
				}
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
			return nil
		},
	}
}
