package ledger

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"payroll/batch"
)

// BenchmarkImport imports 1,000,000 lines into a new ledger in one
// transaction. Reports ns/line, ledger bytes/line, the heap holding the
// input lines, and the peak heap above it during the import (live and
// not yet collected objects, sampled every millisecond).
func BenchmarkImport(b *testing.B) {
	n := envInt("LEDGER_BENCH_LINES", 1_000_000)
	lines := testLines(n)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db, err := Open(filepath.Join(b.TempDir(), fmt.Sprintf("l%d.db", i)), Options{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		base := heapBytes()
		stop := samplePeakHeap()
		b.StartTimer()
		if _, err := db.Import(ctx, spec("big"), lines, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		peak := stop()
		b.ReportMetric(float64(db.Stats().FileSize)/float64(n), "bytes/line")
		if fi, err := os.Stat(JournalPath(db.Path())); err == nil {
			b.ReportMetric(float64(fi.Size())/float64(n), "journal-bytes/line")
		}
		b.ReportMetric(float64(base)/(1<<20), "input-heap-MB")
		b.ReportMetric(float64(peak-base)/(1<<20), "peak-import-heap-MB")
		db.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/import")
}

// BenchmarkClaimRecord claims every line in chunks of 50, records an
// Accepted outcome per chunk and settles it: three commits per chunk.
func BenchmarkClaimRecord(b *testing.B) {
	n := envInt("LEDGER_BENCH_CLAIM_LINES", 100_000)
	lines := testLines(n)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db, err := Open(filepath.Join(b.TempDir(), fmt.Sprintf("c%d.db", i)), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Import(ctx, spec("big"), lines, nil); err != nil {
			b.Fatal(err)
		}
		start := db.Stats().Commits
		b.StartTimer()
		chunks := 0
		for j := 0; j < n; j += 50 {
			refs := make([]string, 0, 50)
			for _, l := range lines[j:min(j+50, n)] {
				refs = append(refs, l.Reference)
			}
			cl, got, err := db.claim(ctx, "big", refs)
			if err != nil || len(got) != len(refs) {
				b.Fatal(err, len(got))
			}
			ref := "loc/" + cl.ID
			if err := db.RecordOutcomes(ctx, []batch.Outcome{{BatchID: "big", Attempt: cl.ID, Refs: refs, Kind: batch.OutcomeAccepted, Provider: batch.KopoKopo, Reference: ref}}); err != nil {
				b.Fatal(err)
			}
			res := make([]batch.Result, len(got))
			for k, l := range got {
				res[k] = batch.Result{Provider: batch.KopoKopo, Reference: ref, Identity: l.Dest.Identity(), Amount: l.Amount, Status: batch.StatePaid, Receipt: "R", Source: "callback"}
			}
			if _, err := db.Settle(ctx, res); err != nil {
				b.Fatal(err)
			}
			chunks++
		}
		b.StopTimer()
		st := db.Stats()
		b.ReportMetric(float64(st.Commits-start)/float64(chunks), "commits/chunk")
		b.ReportMetric(float64(st.JournalSyncs)/float64(st.Commits), "journal-fsyncs/commit")
		b.ReportMetric(float64(st.FileSize)/float64(n), "bytes/line")
		if fi, err := os.Stat(JournalPath(db.Path())); err == nil {
			b.ReportMetric(float64(fi.Size())/float64(n), "journal-bytes/line")
		}
		if os.Getenv("LEDGER_BENCH_CHECK_JOURNAL") == "1" {
			t0 := time.Now()
			if _, err := db.CheckJournal(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(time.Since(t0).Seconds(), "check-journal-s")
		}
		db.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
}

// BenchmarkByProviderRef looks up a Kopo Kopo chunk (50 lines) by its
// location in a ledger of 100,000 lines.
func BenchmarkByProviderRef(b *testing.B) {
	n := 100_000
	lines := testLines(n)
	ctx := context.Background()
	db, err := Open(filepath.Join(b.TempDir(), "p.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Import(ctx, spec("big"), lines, nil); err != nil {
		b.Fatal(err)
	}
	var locs []string
	for j := 0; j < n; j += 50 {
		var refs []string
		for _, l := range lines[j:min(j+50, n)] {
			if l.Provider == batch.KopoKopo {
				refs = append(refs, l.Reference)
			}
		}
		cl := mustClaim(b, db, "big", refs...)
		loc := "https://sandbox.kopokopo.com/api/v2/transfers/" + cl.ID
		mustOutcome(b, db, batch.Outcome{BatchID: "big", Attempt: cl.ID, Refs: refs, Kind: batch.OutcomeAccepted, Provider: batch.KopoKopo, Reference: loc})
		locs = append(locs, loc)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := db.ByProviderRef(ctx, batch.KopoKopo, locs[i%len(locs)])
		if err != nil || len(got) == 0 {
			b.Fatal(err)
		}
	}
}

// heapBytes is the memory occupied by heap objects, live or not yet swept.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// samplePeakHeap samples heapBytes until the returned func is called,
// which returns the highest value seen.
func samplePeakHeap() func() uint64 {
	peak := heapBytes() // written by the sampler until wg.Wait
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				peak = max(peak, heapBytes())
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak, heapBytes())
	}
}

// BenchmarkOpenChecked is the cost of the checks Open makes before bbolt
// maps the file (every reachable page walked) on a 1,000,000-line ledger.
func BenchmarkOpenChecked(b *testing.B) {
	n := envInt("LEDGER_BENCH_LINES", 1_000_000)
	path := filepath.Join(b.TempDir(), "big.db")
	db, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Import(context.Background(), spec("big"), testLines(n), nil); err != nil {
		b.Fatal(err)
	}
	size := db.Stats().FileSize
	db.Close()
	b.ResetTimer()
	for range b.N {
		if err := checkFile(path); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/(1<<20), "ledger-MB")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/check")
}
