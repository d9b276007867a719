package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	// The set of statuses already logged lives as long as the process, so
	// each run of this test uses a status of its own (-count=N).
	status := fmt.Sprintf("Queued-For-Test-%d", time.Now().UnixNano())
	r := batch.Result{Provider: batch.KopoKopo, Reference: "loc-undocumented-test", Status: batch.StateAccepted,
		Undocumented: status, Source: "poll"}
	for range 3 {
		n, unmatched, err := applyResults(t.Context(), db, log, []batch.Result{r})
		if err != nil || n != 0 || len(unmatched) != 0 {
			t.Fatalf("applyResults = %d, %v, %v; want nothing applied", n, unmatched, err)
		}
	}
	if got := strings.Count(logs.String(), status); got != 1 {
		t.Errorf("undocumented status logged %d times, want once:\n%s", got, logs.String())
	}
}
