package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers/kopokopo"
	"payroll/providers/sandbox"
	"payroll/reports"
)

// Environment of the chaos test (scripts/chaos documents them too).
const (
	envEnable      = "PAYROLL_CHAOS"      // 1: run; otherwise the test is skipped
	envKills       = "CHAOS_KILLS"        // random SIGKILLs to survive (default 200)
	envSeed        = "CHAOS_SEED"         // seed (default: the clock); logged
	envLines       = "CHAOS_LINES"        // lines per sheet of the kill loop (default 1000)
	envMatrixLines = "CHAOS_MATRIX_LINES" // lines per sheet of the failpoint matrix (default 1000)
	envMatrix      = "CHAOS_MATRIX"       // 0: skip the failpoint matrix
	envPerRound    = "CHAOS_KILLS_PER_BATCH"
	envDir         = "CHAOS_DIR"     // keep the binary, ledger, sheets and logs here
	envSummary     = "CHAOS_SUMMARY" // also write the summary to this file
)

// failpoints are the points of batch/failpoint.go.
var failpoints = []string{
	"before-claim-commit", "after-claim-commit", "after-send-before-record",
	"before-outcome-commit", "after-outcome-commit", "mid-callback", "mid-report",
	"after-journal-append",
}

func TestChaos(t *testing.T) {
	if os.Getenv(envEnable) != "1" {
		t.Skipf("chaos test of the real binary: set %s=1 (or run scripts/chaos)", envEnable)
	}
	start := time.Now()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(envSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envSeed, s, err)
		}
		seed = v
	}
	kills := envInt(t, envKills, 200)
	lines := envInt(t, envLines, 1000)
	matrixLines := envInt(t, envMatrixLines, 1000)
	perBatch := envInt(t, envPerRound, 5)
	t.Logf("chaos: seed %d (rerun with %s=%d), %d kills, %d-line sheets", seed, envSeed, seed, kills, lines)

	h := newHarness(t, seed)
	defer h.stop()

	// Calibration: one batch paid without interruption; its wall time bounds
	// the random kill delays.
	calib := h.newSheet("chaos-calib", lines)
	t0 := time.Now()
	h.mustRun("run", "--wait", "30s", calib.path)
	full := time.Since(t0)
	h.mustRun("settle", "--wait", "30s", calib.id)
	h.check(calib.id)
	t.Logf("calibration: a full run of %d lines takes %s", lines, full.Round(time.Millisecond))

	// The kill loop: a batch is run and killed at a random moment, re-run
	// and killed again, up to perBatch times, then run and settled to the
	// end; then the next batch, until enough kills were survived.
	loopStart := time.Now()
	for round := 1; h.kills < kills; round++ {
		s := h.newSheet(fmt.Sprintf("chaos-%03d", round), lines)
		for n := 0; n < perBatch && h.kills < kills; {
			delay := time.Duration(h.rng.Int64N(int64(full)))
			res := h.run(delay, "", "run", "--wait", "30s", s.path)
			if !res.killed {
				h.expectDone(res, "run", s.id)
				break
			}
			h.kills++
			n++
			h.check()
			h.killedAt[h.phase(s.id)]++
		}
		h.mustRun("run", "--wait", "30s", s.path)
		h.mustRun("settle", "--wait", "30s", s.id)
		h.check(s.id)
	}
	loopTime := time.Since(loopStart)

	// The failpoint matrix: every point × first, middle and last chunk.
	var matrixTime time.Duration
	if os.Getenv(envMatrix) != "0" {
		mStart := time.Now()
		for _, point := range failpoints {
			for _, which := range []string{"first", "middle", "last"} {
				id := fmt.Sprintf("fp-%s-%s", point, which)
				s := h.newSheet(id, matrixLines)
				total := s.requests
				if point == "mid-report" {
					total = len(reports.Formats) // one temp file per format
				}
				n := map[string]int{"first": 1, "middle": max(1, (total+1)/2), "last": total}[which]
				fp := fmt.Sprintf("%s:%d", point, n)
				res := h.run(0, fp, "run", "--wait", "30s", s.path)
				if res.killed {
					h.failpointsHit++
				} else {
					h.failpointsMissed = append(h.failpointsMissed, fp)
					t.Errorf("failpoint %s (%s of %d) was not reached: run exited %d\n%s", fp, which, total, res.code, res.stderr)
				}
				h.check()
				h.mustRun("run", "--wait", "30s", s.path)
				h.mustRun("settle", "--wait", "30s", s.id)
				h.check(s.id)
			}
		}
		matrixTime = time.Since(mStart)
	}

	// The end: every batch once more, run and settled; everything checked.
	ids := mapsKeys(h.sheets)
	slices.Sort(ids)
	h.mustRun("settle", "--wait", "30s")
	h.check(ids...)

	summary := h.summary(seed, full, loopTime, matrixTime, time.Since(start))
	fmt.Print(summary)
	if p := os.Getenv(envSummary); p != "" {
		if err := os.WriteFile(p, []byte(summary), 0o644); err != nil {
			t.Error(err)
		}
	}
	if h.doubles > 0 || h.lost > 0 {
		t.Errorf("%d double payments, %d lost lines", h.doubles, h.lost)
	}
}

// harness runs the binary and the sandbox and checks what they did.
type harness struct {
	t       *testing.T
	rng     *rand.Rand
	dir     string
	bin     string
	config  string
	ledger  string
	reports string
	base    string // sandbox base URL
	env     []string
	sb      *exec.Cmd
	sbDone  chan error

	sheets map[string]*sheet
	gen    generator

	kills, failpointsHit, checks int
	failpointsMissed             []string
	doubles, lost, unknownLeft   int
	unknownPaid                  int                            // of unknownLeft, those the sandbox paid
	counts                       map[string]map[batch.State]int // per batch, at the last check
	killedAt                     map[string]int                 // phase of the batch when killed
	linesChecked                 map[string]bool                // batch/ref settled and verified
	exits                        map[string]int                 // "run 4" → count, for the summary
}

func newHarness(t *testing.T, seed uint64) *harness {
	dir := os.Getenv(envDir)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, _ = filepath.Abs(dir)
	h := &harness{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), dir: dir,
		bin: filepath.Join(dir, "payroll"), config: filepath.Join(dir, "payroll.toml"),
		ledger: filepath.Join(dir, "payroll.db"), reports: filepath.Join(dir, "reports"),
		sheets: map[string]*sheet{}, counts: map[string]map[batch.State]int{}, killedAt: map[string]int{}, linesChecked: map[string]bool{}, exits: map[string]int{}}
	for _, p := range []string{h.ledger} {
		os.Remove(p)
	}
	os.MkdirAll(filepath.Join(dir, "sheets"), 0o755)

	build := exec.Command("go", "build", "-o", h.bin, "./cmd/payroll")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The sandbox, as a separate process.
	logf, err := os.Create(filepath.Join(dir, "sandbox.log"))
	if err != nil {
		t.Fatal(err)
	}
	h.sb = exec.Command(h.bin, "sandbox", "--quiet", "--listen", "127.0.0.1:0", "--seed", strconv.FormatUint(seed, 10),
		"--latency", "20ms", "--jitter", "20ms", "--processing-delay", "200ms", "--fail-suffix", "999")
	h.sb.Stderr = logf
	out, err := h.sb.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sb.Start(); err != nil {
		t.Fatal(err)
	}
	h.sbDone = make(chan error, 1)
	sc := bufio.NewScanner(out)
	env := map[string]string{}
	for len(env) < 5 && sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# kopokopo base_url = "); ok {
			h.base = strings.TrimSpace(rest)
		}
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	go func() {
		io.Copy(io.Discard, out)
		h.sbDone <- h.sb.Wait()
	}()
	if h.base == "" || len(env) < 5 {
		h.stop()
		t.Fatalf("payroll sandbox printed no base URL or credentials (base %q, %d exports)", h.base, len(env))
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, batch.FailpointEnv+"=") && !strings.HasPrefix(kv, "KOPOKOPO_") && !strings.HasPrefix(kv, "KIOTAPAY_") {
			h.env = append(h.env, kv)
		}
	}
	for k, v := range env {
		h.env = append(h.env, k+"="+v)
	}

	port := freePort(t)
	cfg := fmt.Sprintf(`# written by chaos_test.go
[kopokopo]
base_url = %q
source_identifier = "4321"
max_destinations = 50

[kiotapay]
base_url = %q
environment = "sandbox"
rate = 200
burst = 20
per_phone_interval = "1s"

[callbacks]
public_url = "http://127.0.0.1:%d"
listen = "127.0.0.1:%d"

[settle]
poll_interval = "500ms"
`, h.base, h.base, port, port)
	if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("chaos: working in %s; sandbox at %s; callbacks on port %d", dir, h.base, port)
	return h
}

func (h *harness) stop() {
	if h.sb != nil && h.sb.Process != nil {
		h.sb.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.sbDone:
		case <-time.After(5 * time.Second):
			h.sb.Process.Kill()
			<-h.sbDone
		}
		h.sb = nil
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a number", name, s)
	}
	return n
}

func mapsKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// result is how one payroll process ended.
type result struct {
	code           int
	killed         bool
	stdout, stderr string
}

// run starts the binary with args; after delay (if > 0) it is killed with
// SIGKILL; with failpoint set, PAYROLL_FAILPOINT arms it.
func (h *harness) run(delay time.Duration, failpoint string, args ...string) result {
	h.t.Helper()
	full := append([]string{args[0], "--quiet", "--config", h.config, "--ledger", h.ledger, "--report-dir", h.reports}, args[1:]...)
	cmd := exec.Command(h.bin, full...)
	cmd.Dir = h.dir
	cmd.Env = h.env
	if failpoint != "" {
		cmd.Env = append(slices.Clone(h.env), batch.FailpointEnv+"="+failpoint)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case err = <-done:
			timer.Stop()
		case <-timer.C:
			cmd.Process.Signal(syscall.SIGKILL)
			err = <-done
		}
	} else {
		select {
		case err = <-done:
		case <-time.After(3 * time.Minute):
			cmd.Process.Kill()
			<-done
			h.t.Fatalf("payroll %v: still running after 3 minutes\n%s", args, errb.String())
		}
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			r.killed, r.code = true, -1
		} else {
			r.code = ee.ExitCode()
		}
	default:
		h.t.Fatalf("payroll %v: %v", args, err)
	}
	if !r.killed {
		h.exits[fmt.Sprintf("%s exit %d", args[0], r.code)]++
	}
	return r
}

// mustRun runs the binary to its end and expects 0 (all paid) or 4 (the
// sheets' 999 lines failed, or a line is unknown after a kill).
func (h *harness) mustRun(args ...string) result {
	h.t.Helper()
	r := h.run(0, "", args...)
	h.expectDone(r, args...)
	return r
}

func (h *harness) expectDone(r result, args ...string) {
	h.t.Helper()
	if r.killed || (r.code != 0 && r.code != 4) {
		h.t.Fatalf("payroll %v: exit %d (killed %v), want 0 or 4\nstdout:\n%s\nstderr:\n%s", args, r.code, r.killed, r.stdout, r.stderr)
	}
}

// sheet is a generated payroll sheet: distinct payees, every destination
// type, some failing (their number ends in 999).
type sheet struct {
	id, path string
	rows     map[string]sheetRow // by reference
	totals   map[string]int64    // per currency
	requests int                 // provider requests a full run makes
}

type sheetRow struct {
	currency string
	amount   int64
	fail     bool
}

// generator hands out destinations no other sheet of the run uses.
type generator struct{ n, fails int }

const branch = "bc59f5c9-0eef-4690-8f83-005840cc474a"

func (h *harness) newSheet(id string, n int) *sheet {
	h.t.Helper()
	s := &sheet{id: id, path: filepath.Join(h.dir, "sheets", id+".csv"), rows: map[string]sheetRow{}, totals: map[string]int64{}}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"reference", "name", "type", "phone", "bank_branch_ref", "account_name", "account_number",
		"till_number", "paybill_number", "paybill_account_number", "amount", "currency"})
	order := h.rng.Perm(n)
	kes := 0
	for _, i := range order {
		g := &h.gen
		g.n++
		if g.n%1000 == 999 {
			g.n++ // a number ending in 999 fails: only fail rows get one
		}
		fail := h.rng.IntN(50) == 0 // about 2%
		if fail {
			g.fails++
		}
		ref := fmt.Sprintf("%s-%04d", id, i)
		rec := make([]string, 12)
		rec[0] = ref
		cur, amt := "KES", int64(10+h.rng.IntN(60000))
		switch pct := i * 100 / n; {
		case pct < 15: // TZS wallets through KiotaPay
			cur, amt = "TZS", int64(1000+h.rng.IntN(900000))
			rec[1], rec[2] = fmt.Sprintf("Juma Mushi%d", g.n), "mobile_wallet"
			rec[3] = pick(fail, fmt.Sprintf("065%04d999", 3000+g.fails), fmt.Sprintf("0652%06d", g.n))
		case pct < 70: // KES wallets
			rec[1], rec[2] = fmt.Sprintf("Achieng Worker%d", g.n), "mobile_wallet"
			rec[3] = pick(fail, fmt.Sprintf("072%04d999", g.fails), fmt.Sprintf("0713%06d", g.n))
		case pct < 80:
			rec[1], rec[2] = fmt.Sprintf("Bank Payee%d", g.n), "bank_account"
			rec[4], rec[5] = branch, rec[1]
			rec[6] = pick(fail, fmt.Sprintf("%07d999", g.fails), fmt.Sprintf("%010d", g.n))
		case pct < 90:
			rec[1], rec[2] = fmt.Sprintf("Till Shop%d", g.n), "till"
			rec[7] = pick(fail, fmt.Sprintf("5%04d999", g.fails), fmt.Sprintf("6%06d", g.n))
		default:
			rec[1], rec[2] = fmt.Sprintf("Paybill Co%d", g.n), "paybill"
			rec[8] = "888880"
			rec[9] = pick(fail, fmt.Sprintf("ACC%05d999", g.fails), fmt.Sprintf("ACC%07d", g.n))
		}
		if cur == "KES" {
			kes++
		} else {
			s.requests++
		}
		rec[10], rec[11] = strconv.FormatInt(amt, 10), cur
		w.Write(rec)
		s.rows[ref] = sheetRow{currency: cur, amount: amt, fail: fail}
		s.totals[cur] += amt
	}
	w.Flush()
	s.requests += (kes + 49) / 50
	if err := os.WriteFile(s.path, b.Bytes(), 0o600); err != nil {
		h.t.Fatal(err)
	}
	h.sheets[id] = s
	return s
}

func pick(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// payoutKey and lineKey name "this destination, this amount, this
// currency": every line of every sheet has its own.
func payoutKey(p sandbox.Payout) string {
	amt, err := batch.ParseMoney(p.Amount)
	if err != nil {
		return "bad-amount:" + p.Amount
	}
	return strings.ToLower(p.Identity) + "|" + amt.Units() + "|" + p.Currency
}

func lineKey(l *batch.Line) string {
	return strings.ToLower(l.Dest.Identity()) + "|" + l.Amount.Units() + "|" + string(l.Currency)
}

// sameRef reports whether a ledger provider reference (a Kopo Kopo
// Location or a KiotaPay requestId) names the payout.
func sameRef(ledgerRef string, p sandbox.Payout) bool {
	if ledgerRef == "" {
		return false
	}
	if p.Provider == sandbox.KopoKopo {
		return kopokopo.ReferenceFromLocation(ledgerRef) == p.Reference
	}
	return ledgerRef == p.Reference
}

func live(p sandbox.Payout) bool {
	return p.Status == sandbox.StatusPaid || p.Status == sandbox.StatusPending
}

// check verifies the ledger, the sandbox's truth and the reports. It may
// run after a kill: lines may be anywhere in their life. The batches in
// final must be settled: every line paid, failed or unknown, agreeing
// with the truth, and their reports must agree with the ledger.
func (h *harness) check(final ...string) {
	t := h.t
	t.Helper()
	h.checks++
	isFinal := map[string]bool{}
	for _, id := range final {
		isFinal[id] = true
	}
	fail := func(format string, a ...any) {
		t.Helper()
		t.Errorf("check %d (after %d kills, %d failpoints): "+format, append([]any{h.checks, h.kills, h.failpointsHit}, a...)...)
	}

	// 1. The binary's own check of the ledger.
	if r := h.run(0, "", "check"); r.code != 0 {
		fail("payroll check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// 2. The ledger, read directly (read-only: no crash recovery).
	ctx := context.Background()
	db, err := ledger.Open(h.ledger, ledger.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open ledger: %v", err)
	}
	byKey := map[string]*ledger.LineRecord{}
	var all []*ledger.LineRecord
	for id, s := range h.sheets {
		b, err := db.Batch(ctx, id)
		if errors.Is(err, ledger.ErrNotFound) {
			if isFinal[id] {
				fail("batch %s is not in the ledger", id)
			}
			continue // killed before its import committed
		} else if err != nil {
			t.Fatal(err)
		}
		// Conservation: lines, counts per state and totals per currency.
		sum, n := map[string]int64{}, 0
		seen := map[string]bool{}
		for rec, err := range db.Lines(ctx, id) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			seen[rec.Ref] = true
			row, ok := s.rows[rec.Ref]
			if !ok {
				fail("batch %s: line %s is not in the sheet", id, rec.Ref)
				continue
			}
			units, _ := strconv.ParseInt(rec.Line.Amount.Units(), 10, 64)
			if units != row.amount || string(rec.Line.Currency) != row.currency {
				fail("batch %s line %s: %s %s in the ledger, %d %s in the sheet", id, rec.Ref, rec.Line.Amount, rec.Line.Currency, row.amount, row.currency)
			}
			sum[string(rec.Line.Currency)] += units
			k := lineKey(&rec.Line)
			if byKey[k] != nil {
				fail("two ledger lines pay %s", k)
			}
			byKey[k] = &rec
			all = append(all, &rec)
		}
		h.counts[id] = b.Counts
		counted := 0
		for _, c := range b.Counts {
			counted += c
		}
		if n != len(s.rows) || b.Lines != n || counted != n {
			fail("batch %s: %d rows in the sheet, %d lines in the ledger, batch says %d lines, counts add up to %d", id, len(s.rows), n, b.Lines, counted)
			h.lost += max(0, len(s.rows)-n)
		}
		for cur, want := range s.totals {
			tot, _ := strconv.ParseInt(b.Totals[batch.Currency(cur)].Units(), 10, 64)
			if sum[cur] != want || tot != want {
				fail("batch %s %s: sheet total %d, lines add up to %d, batch total %d", id, cur, want, sum[cur], tot)
			}
		}
	}
	db.Close()

	// 3. The sandbox's truth.
	var truth struct{ Payouts []sandbox.Payout }
	h.getJSON("/_sandbox/truth", &truth)
	var stats sandbox.Stats
	h.getJSON("/_sandbox/stats", &stats)
	if v := stats.Violations[sandbox.ViolationDuplicatePayout]; v > 0 {
		fail("the sandbox counted %d duplicate payouts", v)
	}
	payouts := map[string][]sandbox.Payout{}
	for _, p := range truth.Payouts {
		k := payoutKey(p)
		payouts[k] = append(payouts[k], p)
	}
	doubles := 0
	for k, ps := range payouts {
		n := 0
		for _, p := range ps {
			if live(p) {
				n++
			}
		}
		if n > 1 {
			doubles += n - 1
			fail("paid twice: %s (%d payouts)", k, n)
		}
		rec := byKey[k]
		if rec == nil {
			h.lost++
			fail("payout %s %s (%s) is in no ledger line", ps[0].Provider, ps[0].Reference, k)
			continue
		}
		for _, p := range ps {
			switch rec.State {
			case batch.StateAccepted, batch.StatePaid, batch.StateFailed:
				if !sameRef(rec.ProviderRef, p) {
					fail("line %s/%s is %s with reference %q, the payout's is %s", rec.BatchID, rec.Ref, rec.State, rec.ProviderRef, p.Reference)
				}
			case batch.StateSending, batch.StateUnknown:
				if rec.ProviderRef != "" && !sameRef(rec.ProviderRef, p) {
					fail("line %s/%s is %s with reference %q, the payout's is %s", rec.BatchID, rec.Ref, rec.State, rec.ProviderRef, p.Reference)
				}
			default:
				fail("line %s/%s is %s but the sandbox has payout %s (%s)", rec.BatchID, rec.Ref, rec.State, p.Reference, p.Status)
			}
			if rec.State == batch.StatePaid && p.Status != sandbox.StatusPaid || rec.State == batch.StateFailed && p.Status != sandbox.StatusFailed {
				fail("line %s/%s is %s, its payout %s is %s", rec.BatchID, rec.Ref, rec.State, p.Reference, p.Status)
			}
		}
	}
	h.doubles = max(h.doubles, doubles)

	// 4. Every line against the truth.
	unknown, unknownPaid := 0, 0
	for _, rec := range all {
		ps := payouts[lineKey(&rec.Line)]
		row := h.sheets[rec.BatchID].rows[rec.Ref]
		switch rec.State {
		case batch.StateAccepted, batch.StatePaid:
			if len(ps) == 0 {
				fail("line %s/%s is %s (%s) but the sandbox has no payout for it", rec.BatchID, rec.Ref, rec.State, rec.ProviderRef)
			}
		case batch.StateFailed:
			if rec.ProviderRef != "" && len(ps) == 0 {
				fail("line %s/%s failed at %s but the sandbox has no payout for it", rec.BatchID, rec.Ref, rec.ProviderRef)
			}
		}
		if !isFinal[rec.BatchID] {
			continue
		}
		h.linesChecked[rec.BatchID+"/"+rec.Ref] = true
		switch {
		case rec.State == batch.StateUnknown:
			unknown++
			for _, p := range ps {
				if p.Status == sandbox.StatusPaid {
					unknownPaid++
				}
			}
		case rec.State == batch.StatePaid && !row.fail, rec.State == batch.StateFailed && row.fail:
		default:
			h.lost++
			fail("line %s/%s is %s after settle (number ends in 999: %v)", rec.BatchID, rec.Ref, rec.State, row.fail)
		}
	}
	if len(final) > 0 {
		h.unknownLeft, h.unknownPaid = unknown, unknownPaid // the last check covers every batch
	}

	// 5. The reports of settled batches agree with the ledger.
	states := map[string]*ledger.LineRecord{}
	for _, rec := range all {
		states[rec.BatchID+"/"+rec.Ref] = rec
	}
	for _, id := range final {
		var rep reports.Report
		b, err := os.ReadFile(filepath.Join(h.reports, id+".json"))
		if err == nil {
			err = json.Unmarshal(b, &rep)
		}
		if err != nil {
			fail("report of %s: %v", id, err)
			continue
		}
		if len(rep.Rows) != len(h.sheets[id].rows) {
			fail("report of %s has %d rows, the sheet %d", id, len(rep.Rows), len(h.sheets[id].rows))
		}
		for _, r := range rep.Rows {
			rec := states[id+"/"+r.Reference]
			if rec == nil {
				fail("report of %s: row %s is not in the ledger", id, r.Reference)
				continue
			}
			// The report shows Kopo Kopo's request id; the ledger keeps the
			// Location it polls.
			wantRef := rec.ProviderRef
			if rec.Line.Provider == batch.KopoKopo {
				wantRef = kopokopo.ReferenceFromLocation(rec.ProviderRef)
			}
			if r.Status != reports.StatusOf(rec.State) || r.ProviderReference != wantRef || !r.Amount.Equal(rec.Line.Amount) {
				fail("report of %s row %s: %s %s %s, ledger %s %s %s", id, r.Reference, r.Status, r.ProviderReference, r.Amount, rec.State, rec.ProviderRef, rec.Line.Amount)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// phase says where a batch was when its run was killed, from the counts
// of the last check.
func (h *harness) phase(id string) string {
	c, ok := h.counts[id]
	switch {
	case !ok:
		return "before import"
	case c[batch.StatePending]+c[batch.StateSending] > 0:
		return "sending"
	case c[batch.StateAccepted] > 0:
		return "settling"
	}
	return "settled"
}

func (h *harness) getJSON(path string, v any) {
	h.t.Helper()
	resp, err := http.Get(h.base + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
}

func (h *harness) summary(seed uint64, full, loop, matrix, wall time.Duration) string {
	var b strings.Builder
	lines := 0
	for _, s := range h.sheets {
		lines += len(s.rows)
	}
	fmt.Fprintf(&b, "chaos summary (payroll binary against payroll sandbox in a separate process)\n")
	fmt.Fprintf(&b, "  seed                 %d\n", seed)
	fmt.Fprintf(&b, "  kills survived       %d random SIGKILLs during payroll run (%s of kill loop; a full run takes %s)\n",
		h.kills, loop.Round(time.Second), full.Round(time.Millisecond))
	fmt.Fprintf(&b, "  failpoints hit       %d of %d (%d points x first/middle/last chunk; %s)\n",
		h.failpointsHit, len(failpoints)*3, len(failpoints), matrix.Round(time.Second))
	if len(h.failpointsMissed) > 0 {
		fmt.Fprintf(&b, "  failpoints missed    %s\n", strings.Join(h.failpointsMissed, ", "))
	}
	fmt.Fprintf(&b, "  batches              %d (%d sheet lines)\n", len(h.sheets), lines)
	fmt.Fprintf(&b, "  lines checked        %d settled lines against the sandbox truth and the reports; %d full checks\n", len(h.linesChecked), h.checks)
	fmt.Fprintf(&b, "  double payments      %d\n", h.doubles)
	fmt.Fprintf(&b, "  lost lines           %d\n", h.lost)
	fmt.Fprintf(&b, "  left unknown         %d (in flight at a kill, never resent; each has at most one payout: %d were paid, %d never reached the provider or failed)\n",
		h.unknownLeft, h.unknownPaid, h.unknownLeft-h.unknownPaid)
	var at []string
	for _, p := range []string{"before import", "sending", "settling", "settled"} {
		at = append(at, fmt.Sprintf("%s %d", p, h.killedAt[p]))
	}
	fmt.Fprintf(&b, "  kills by phase       %s\n", strings.Join(at, ", "))
	keys := mapsKeys(h.exits)
	slices.Sort(keys)
	var ex []string
	for _, k := range keys {
		ex = append(ex, fmt.Sprintf("%s: %d", k, h.exits[k]))
	}
	fmt.Fprintf(&b, "  completed processes  %s\n", strings.Join(ex, ", "))
	fmt.Fprintf(&b, "  wall time            %s\n", wall.Round(time.Second))
	return b.String()
}
