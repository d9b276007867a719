package main

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"payroll/batch"
	"payroll/ledger"
)

// A result with an undocumented status changes nothing and is logged once,
// however often it comes back (each poll, each callback).
func TestUndocumentedStatusLoggedOnce(t *testing.T) {
	db, err := ledger.Open(filepath.Join(t.TempDir(), "l.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	// The statuses already logged are the settler's: a new settler logs
	// them again.
	status := "Queued-For-Test"
	s := &batch.Settler{Ledger: db, Logger: log}
	r := batch.Result{Provider: batch.KopoKopo, Reference: "loc-undocumented-test", Status: batch.StateAccepted,
		Undocumented: status, Source: "poll"}
	for range 3 {
		n, unmatched, err := s.Apply(t.Context(), []batch.Result{r})
		if err != nil || n != 0 || len(unmatched) != 0 {
			t.Fatalf("Apply = %d, %v, %v; want nothing applied", n, unmatched, err)
		}
	}
	if got := strings.Count(logs.String(), status); got != 1 {
		t.Errorf("undocumented status logged %d times, want once:\n%s", got, logs.String())
	}
}
