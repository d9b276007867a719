package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers/sandbox"
)

// matrixFault is one fault of the matrix, applied to both providers at a
// moderate, seeded rate.
type matrixFault struct {
	name  string
	apply func(*sandbox.Faults)
}

// matrixRate is the probability of each fault of a cell.
const matrixRate = 0.25

func matrixFaults() []matrixFault {
	p := sandbox.Trigger{Probability: matrixRate}
	return []matrixFault{
		{"429", func(f *sandbox.Faults) { f.RateLimited, f.RetryAfter = p, 20*time.Millisecond }},
		{"503", func(f *sandbox.Faults) { f.Unavailable = p }},
		{"500before", func(f *sandbox.Faults) { f.ErrorBefore = p }},
		{"500after", func(f *sandbox.Faults) { f.ErrorAfter = p }},
		{"drop", func(f *sandbox.Faults) { f.DropAfter = p }},
		{"tokenexpiry", func(f *sandbox.Faults) { f.ExpireTokens = p }},
		{"cbduplicate", func(f *sandbox.Faults) { f.CallbackDuplicate = p }},
		{"cbdelayed", func(f *sandbox.Faults) { f.CallbackDelayed, f.CallbackDelay = p, 150*time.Millisecond }},
		{"cblost", func(f *sandbox.Faults) { f.CallbackLost = p }},
		{"cbforged", func(f *sandbox.Faults) { f.CallbackForged = p }},
		{"cbwrongamount", func(f *sandbox.Faults) { f.CallbackWrongAmount = p }},
	}
}

// matrixCells is every single fault and every combination of two. Under
// -short, the singles and the pairs that mix a lost response with
// another fault.
func matrixCells(short bool) [][]matrixFault {
	fs := matrixFaults()
	var cells [][]matrixFault
	for _, f := range fs {
		cells = append(cells, []matrixFault{f})
	}
	for i := range fs {
		for j := i + 1; j < len(fs); j++ {
			if short && fs[i].name != "500after" && fs[j].name != "500after" {
				continue
			}
			cells = append(cells, []matrixFault{fs[i], fs[j]})
		}
	}
	return cells
}

// matrixSheet: 30 KES lines (3 Kopo Kopo chunks of 10) and 6 TZS lines,
// one of each currency failing at the provider.
func matrixSheet() []row {
	s := kes(1, 29)
	s = slices.Insert(s, 12, row{"KFAIL", "Fail Kenya", "0712300999", "1500", "KES"})
	s = append(s, tzs(1, 5)...)
	return slices.Insert(s, 32, row{"TFAIL", "Fail Tanzania", "0652300999", "250000", "TZS"})
}

// faultCounter is a slog handler for the sandbox's request and callback
// log: it counts the faults the sandbox really injected (responses by
// status on the send endpoints, 401s, callbacks by kind).
type faultCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *faultCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *faultCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *faultCounter) WithGroup(string) slog.Handler            { return c }
func (c *faultCounter) Handle(_ context.Context, r slog.Record) error {
	a := map[string]string{}
	r.Attrs(func(at slog.Attr) bool {
		a[at.Key] = at.Value.String()
		return true
	})
	var key string
	switch r.Message {
	case "sandbox request":
		send := a["method"] == "POST" && (strings.HasSuffix(a["path"], "/send_money") || strings.HasSuffix(a["path"], "/send-money"))
		switch {
		case a["status"] == "401":
			key = "401 (token expired)"
		case send && a["dropped"] == "true":
			key = "send dropped"
		case send && a["status"] != "201":
			key = "send " + a["status"]
		}
	case "sandbox callback":
		if k := a["kind"]; k != "genuine" {
			key = "callback " + k
		}
	}
	if key != "" {
		c.mu.Lock()
		c.n[key]++
		c.mu.Unlock()
	}
	return nil
}

func (c *faultCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// matrixCreds are fixed so that every parallel cell can share the
// environment (t.Setenv cannot be used in parallel tests).
var matrixCreds = sandbox.Credentials{
	KopoKopoClientID: "matrix-k2-client-id", KopoKopoClientSecret: "matrix-k2-client-secret",
	KopoKopoAPIKey: "matrix-k2-api-key", KiotaPayAPIKey: "matrix-kp-api-key", KiotaPayAPISecret: "matrix-kp-api-secret",
}

// newParallelHarness is newHarness for parallel subtests: the sandbox
// takes matrixCreds (exported by the parent test) instead of setting the
// environment.
func newParallelHarness(t *testing.T, opts sandbox.Options, k knobs) *harness {
	t.Helper()
	opts.Credentials = matrixCreds
	if opts.ProcessingDelay == 0 {
		opts.ProcessingDelay = 50 * time.Millisecond
	}
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, db: filepath.Join(dir, "payroll.db"), rep: filepath.Join(dir, "reports"),
		cfg: filepath.Join(dir, "payroll.toml"), port: freePort(t), knob: k}
	sb := sandbox.New(opts)
	base, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	h.sb, h.base = sb, base
	cfg := harnessConfig(base, h.port, k)
	if err := os.WriteFile(h.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

func setMatrixEnv(t *testing.T) {
	for _, kv := range matrixCreds.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// TestFaultMatrix runs a small mixed batch under every single fault and
// every pair of faults (both providers, each at 25%, seeded per cell):
// run, run again, settle. Then, for each cell: every line whose outcome
// the client can know agrees with the sandbox's truth; a line is unknown
// only if its send response was lost (accepted then 500 or dropped: the
// sandbox has a payout the ledger has no reference for) or was an
// ambiguous 500 (the sandbox has no payout); no line has more than one
// payout; nobody is paid twice; the sandbox saw no violation; the re-run
// and settle send nothing already sent; the report agrees with the
// ledger.
func TestFaultMatrix(t *testing.T) {
	setMatrixEnv(t)
	cells := matrixCells(testing.Short())
	counter := &faultCounter{n: map[string]int{}}
	logger := slog.New(counter)
	var mu sync.Mutex
	var checked, unknownLost, unknown500, flagged, paidLines, failedLines int
	start := time.Now()
	t.Run("cells", func(t *testing.T) {
		for ci, cell := range cells {
			var names []string
			var f sandbox.Faults
			for _, mf := range cell {
				names = append(names, mf.name)
				mf.apply(&f)
			}
			name := strings.Join(names, "+")
			has := func(n string) bool { return slices.Contains(names, n) }
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				h := newParallelHarness(t, sandbox.Options{Seed: uint64(1000 + ci), ProcessingDelay: 20 * time.Millisecond, Logger: logger},
					knobs{maxDest: 10, poll: "50ms", rate: 50, phone: "1ms"})
				h.sb.SetFaults(sandbox.KopoKopo, f)
				h.sb.SetFaults(sandbox.KiotaPay, f)
				sheet := matrixSheet()
				path := h.writeSheet("matrix.csv", sheet)

				_, errOut, code := h.cli("run", "--wait", "20s", path)
				h.withDB(func(db *ledger.DB) {
					if _, err := db.Batch(context.Background(), "matrix"); err != nil {
						t.Fatalf("the run left no batch (exit %d): %v\n%s", code, err, errOut)
					}
				})
				pendingAfterRun := 0
				for _, rec := range h.lines("matrix") {
					if rec.State == batch.StatePending {
						pendingAfterRun++
					}
				}
				// Lines whose request met transient faults on every retry
				// were never sent: they stay pending for the next run, and
				// the run says so with exit 5.
				if want := map[bool]int{false: exitUnsettled, true: exitPending}[pendingAfterRun > 0]; code != want {
					t.Fatalf("run: exit %d, want %d (%d lines left pending)\n%s", code, want, pendingAfterRun, errOut)
				}
				k2, kp := h.sends()
				_, errOut, code = h.cli("run", "--wait", "20s", path)
				pendingAfterRerun := 0
				for _, rec := range h.lines("matrix") {
					if rec.State == batch.StatePending {
						pendingAfterRerun++
					}
				}
				if want := map[bool]int{false: exitUnsettled, true: exitPending}[pendingAfterRerun > 0]; code != want {
					t.Fatalf("re-run: exit %d, want %d (%d lines left pending)\n%s", code, want, pendingAfterRerun, errOut)
				}
				if k2b, kpb := h.sends(); pendingAfterRun == 0 && (k2b != k2 || kpb != kp) {
					t.Errorf("re-run of a fully sent batch sent: kopokopo %d→%d, kiotapay %d→%d", k2, k2b, kp, kpb)
				}
				k2, kp = h.sends()
				_, errOut, code = h.cli("settle", "--wait", "10s", "matrix")
				if want := map[bool]int{false: exitUnsettled, true: exitPending}[pendingAfterRerun > 0]; code != want {
					t.Fatalf("settle: exit %d, want %d\n%s", code, want, errOut)
				}
				if k2b, kpb := h.sends(); k2b != k2 || kpb != kp {
					t.Errorf("settle sent payouts: kopokopo %d→%d, kiotapay %d→%d", k2, k2b, kp, kpb)
				}

				// Which unknown lines are justified?
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				h.sb.Flush(ctx)
				cancel()
				ok := map[string]bool{}
				var lost, amb int
				for _, rec := range h.lines("matrix") {
					ps := h.payoutsOf(rec.Line)
					if len(ps) > 1 {
						t.Errorf("line %s: %d sandbox payouts", rec.Ref, len(ps))
					}
					if rec.State != batch.StateUnknown {
						continue
					}
					if len(rec.Attempts) != 1 {
						t.Errorf("unknown line %s: %d attempts (an unknown line must never be resent)", rec.Ref, len(rec.Attempts))
					}
					switch {
					case len(ps) == 1 && (has("500after") || has("drop")):
						for _, a := range rec.Attempts {
							if sameRef(a.ProviderRef, ps[0]) {
								t.Errorf("line %s: unknown, yet its attempt holds the reference of payout %s", rec.Ref, ps[0].Reference)
							}
						}
						ok[rec.Ref] = true
						lost++
					case len(ps) == 0 && has("500before"):
						ok[rec.Ref] = true
						amb++
					default:
						// Left to checkTruth, which reports it.
					}
				}
				recs := h.checkTruth("matrix", truthOpts{unknownOK: ok})
				rows := h.checkReport("matrix", sheet)
				var paid, failed, fl int
				for _, rec := range recs {
					switch rec.State {
					case batch.StatePaid:
						paid++
					case batch.StateFailed:
						failed++
					case batch.StateUnknown:
					default:
						t.Errorf("line %s: %s after run, re-run and settle", rec.Ref, rec.State)
					}
					if len(rec.Flags) > 0 {
						fl++
						if !has("cbwrongamount") || !slices.Equal(rec.Flags, []string{ledger.FlagMismatch}) {
							t.Errorf("line %s flagged %v", rec.Ref, rec.Flags)
						}
					}
					if strings.Contains(rec.Ref, "FAIL") && rec.State == batch.StatePaid {
						t.Errorf("line %s paid; the sandbox fails it", rec.Ref)
					}
				}
				if len(rows) != len(sheet) {
					t.Errorf("report has %d rows", len(rows))
				}
				if n := h.sb.Stats(); n.Payouts > len(sheet) {
					t.Errorf("%d payouts for %d lines", n.Payouts, len(sheet))
				}
				mu.Lock()
				checked += len(recs)
				unknownLost += lost
				unknown500 += amb
				flagged += fl
				paidLines += paid
				failedLines += failed
				mu.Unlock()
			})
		}
	})
	n := counter.snapshot()
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-34s %d\n", k, n[k])
	}
	t.Logf("fault matrix: %d cells (%d faults, pairs%s) in %v; %d lines checked against the sandbox: %d paid, %d failed, "+
		"%d unknown after a lost response, %d unknown after an ambiguous 500, %d flagged (wrong amount); faults injected:\n%s",
		len(cells), len(matrixFaults()), map[bool]string{true: " with 500after only (-short)", false: ""}[testing.Short()],
		time.Since(start).Round(time.Millisecond), checked, paidLines, failedLines, unknownLost, unknown500, flagged, b.String())
}
