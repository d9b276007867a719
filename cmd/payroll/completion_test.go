package main

import (
	"strings"
	"testing"

	"payroll/providers/sandbox"
)

// TestCompleteBatchIDs: the shell completes BATCH with the ledger's batch
// IDs for every command that takes one.
func TestCompleteBatchIDs(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	h.mustCode(exitOK, "run", "--wait", "10s", h.writeSheet("nov-2026.csv", kes(1, 2)))
	h.mustCode(exitOK, "run", "--wait", "10s", h.writeSheet("dec-2026.csv", kes(5, 2)))
	for _, sub := range []string{"status", "report", "settle", "retry", "resolve"} {
		out, _, _ := h.cli("__complete", sub, "--config", h.cfg, "--ledger", h.db, "n")
		if !strings.Contains(out, "nov-2026\tnov-2026.csv") || strings.Contains(out, "dec-2026") {
			t.Errorf("%s: completions\n%s", sub, out)
		}
	}
}
