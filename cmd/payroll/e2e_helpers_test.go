package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers/kopokopo"
	"payroll/providers/sandbox"
	"payroll/reports"
)

// harness drives the CLI in-process against a sandbox the test owns (not
// --sandbox, whose emulator is private to the process), so that every test
// can compare the ledger and the report with the sandbox's record of truth.
type harness struct {
	t    *testing.T
	sb   *sandbox.Sandbox
	base string
	dir  string
	cfg  string
	db   string
	rep  string
	port int
	knob knobs
}

// knobs are the config settings a test may change.
type knobs struct {
	maxDest int    // kopokopo.max_destinations (default 50)
	poll    string // settle.poll_interval (default 200ms)
	rate    int    // kiotapay.rate (default 50; burst is min(rate, 10))
	phone   string // kiotapay.per_phone_interval (default 1ms)
}

func newHarness(t *testing.T, opts sandbox.Options, k knobs) *harness {
	t.Helper()
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.ProcessingDelay == 0 {
		opts.ProcessingDelay = 50 * time.Millisecond
	}
	if k.maxDest == 0 {
		k.maxDest = 50
	}
	if k.poll == "" {
		k.poll = "200ms"
	}
	if k.rate == 0 {
		k.rate = 50
	}
	if k.phone == "" {
		k.phone = "1ms"
	}
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, db: filepath.Join(dir, "payroll.db"), rep: filepath.Join(dir, "reports"),
		cfg: filepath.Join(dir, "payroll.toml"), port: freePort(t), knob: k}
	h.useSandbox(opts)
	return h
}

// useSandbox starts a new sandbox and points the config and the
// credentials at it.
func (h *harness) useSandbox(opts sandbox.Options) {
	t := h.t
	t.Helper()
	sb := sandbox.New(opts)
	base, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	h.sb, h.base = sb, base
	c := sb.Credentials()
	t.Setenv("KOPOKOPO_CLIENT_ID", c.KopoKopoClientID)
	t.Setenv("KOPOKOPO_CLIENT_SECRET", c.KopoKopoClientSecret)
	t.Setenv("KOPOKOPO_API_KEY", c.KopoKopoAPIKey)
	t.Setenv("KIOTAPAY_API_KEY", c.KiotaPayAPIKey)
	t.Setenv("KIOTAPAY_API_SECRET", c.KiotaPayAPISecret)
	cfg := harnessConfig(base, h.port, h.knob)
	if err := os.WriteFile(h.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a port for a callback listener that the CLI will bind
// later. It is taken below Linux's ephemeral range (32768-60999), from a
// process-wide counter: a port from ":0" could be handed out again, or
// taken meanwhile as the local port of one of the tests' own outgoing
// connections, and the run's pre-flight would then fail to listen.
func freePort(t *testing.T) int {
	t.Helper()
	for range 2000 {
		p := 20000 + int(nextPort.Add(1))%12000
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

var nextPort = func() *atomic.Int64 {
	var n atomic.Int64
	n.Store(int64(os.Getpid()*7) % 12000) // test binaries running side by side start apart
	return &n
}()

// cli runs a subcommand with the harness's config, ledger and report
// directory.
func (h *harness) cli(sub string, args ...string) (string, string, int) {
	h.t.Helper()
	all := append([]string{sub, "--config", h.cfg, "--ledger", h.db, "--report-dir", h.rep}, args...)
	// Not run(): the command logs from several goroutines (sender,
	// settler, callback receiver) through separate handlers, which is
	// fine on an *os.File but not on a bare bytes.Buffer.
	var out, errOut syncBuffer
	code := execute(h.t.Context(), all, bytes.NewReader(nil), &out, &errOut)
	return out.String(), errOut.String(), code
}

// syncBuffer is the CLI's own syncWriter (live.go): safe for concurrent
// writes, like stderr.
type syncBuffer = syncWriter

// mustCode runs a subcommand and fails the test unless it exits with want.
func (h *harness) mustCode(want int, sub string, args ...string) (string, string) {
	h.t.Helper()
	out, errOut, code := h.cli(sub, args...)
	if code != want {
		h.t.Fatalf("payroll %s %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", sub, args, code, want, out, errOut)
	}
	return out, errOut
}

// sends is the number of authenticated send requests each provider saw.
func (h *harness) sends() (k2, kp int) {
	st := h.sb.Stats()
	return st.KopoKopo.Sends, st.KiotaPay.Sends
}

// row is one row of a test sheet.
type row struct{ ref, name, phone, amount, currency string }

// writeSheet writes rows as a CSV sheet named name in the harness's
// directory and returns its path.
func (h *harness) writeSheet(name string, rows []row) string {
	h.t.Helper()
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write([]string{"reference", "name", "phone", "amount", "currency"})
	for _, r := range rows {
		w.Write([]string{r.ref, r.name, r.phone, r.amount, r.currency})
	}
	w.Flush()
	path := filepath.Join(h.dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return path
}

// kes returns n KES rows paying distinct Safaricom numbers, starting at
// reference number from; the numbers never end in 999.
func kes(from, n int) []row {
	var out []row
	for i := from; i < from+n; i++ {
		out = append(out, row{fmt.Sprintf("K%04d", i), fmt.Sprintf("Kenyan Worker%d", i),
			fmt.Sprintf("0712%06d", 100000+i), fmt.Sprint(1000 + 10*i), "KES"})
	}
	return out
}

// tzs returns n TZS rows paying distinct Yas numbers.
func tzs(from, n int) []row {
	var out []row
	for i := from; i < from+n; i++ {
		out = append(out, row{fmt.Sprintf("T%04d", i), fmt.Sprintf("Juma Mushi%d", i),
			fmt.Sprintf("06523%05d", 10000+i), fmt.Sprint(100000 + 1000*i), "TZS"})
	}
	return out
}

// withDB opens the ledger (the CLI must not be running) and closes it
// after f.
func (h *harness) withDB(f func(db *ledger.DB)) {
	h.t.Helper()
	db, err := ledger.Open(h.db, ledger.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	f(db)
}

func (h *harness) lines(batchID string) []ledger.LineRecord {
	h.t.Helper()
	var out []ledger.LineRecord
	h.withDB(func(db *ledger.DB) {
		for rec, err := range db.Lines(context.Background(), batchID) {
			if err != nil {
				h.t.Fatal(err)
			}
			out = append(out, rec)
		}
	})
	return out
}

func (h *harness) events(batchID string) []ledger.Event {
	h.t.Helper()
	var out []ledger.Event
	h.withDB(func(db *ledger.DB) {
		for ev, err := range db.Events(context.Background(), batchID) {
			if err != nil {
				h.t.Fatal(err)
			}
			out = append(out, ev)
		}
	})
	return out
}

// payoutsOf returns the sandbox's payouts for a line (same identity,
// amount and currency).
func (h *harness) payoutsOf(l batch.Line) []sandbox.Payout {
	var out []sandbox.Payout
	for _, p := range h.sb.Payouts(l.Dest.Identity()) {
		if matchesPayout(l, p) {
			out = append(out, p)
		}
	}
	return out
}

func matchesPayout(l batch.Line, p sandbox.Payout) bool {
	amt, err := batch.ParseMoney(p.Amount)
	return err == nil && strings.EqualFold(p.Identity, l.Dest.Identity()) && amt.Equal(l.Amount) && p.Currency == string(l.Currency)
}

// sameRef reports whether a ledger provider reference (a Kopo Kopo
// Location or a KiotaPay requestId) names the sandbox payout.
func sameRef(ledgerRef string, p sandbox.Payout) bool {
	if ledgerRef == "" {
		return false
	}
	if p.Provider == sandbox.KopoKopo {
		return kopokopo.ReferenceFromLocation(ledgerRef) == p.Reference
	}
	return ledgerRef == p.Reference
}

// truthOpts relax checkTruth.
type truthOpts struct {
	// unknownOK lists lines whose send response was lost: they may be
	// unknown whatever the truth, and their payouts may be in no attempt.
	unknownOK map[string]bool
	// pendingOK allows lines still accepted (the run did not wait).
	pendingOK bool
}

// checkTruth asserts that the ledger agrees with the sandbox's record of
// truth for every line of the batch, that nobody was paid twice, that
// every payout the sandbox made is in the ledger, and that the sandbox saw
// no client misbehaviour. It returns the lines.
func (h *harness) checkTruth(batchID string, o truthOpts) []ledger.LineRecord {
	t := h.t
	t.Helper()
	recs := h.lines(batchID)
	// Flush so that the truth is final (payouts settled).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !o.pendingOK {
		h.sb.Flush(ctx)
	}
	byIdentity := map[string][]*ledger.LineRecord{}
	for i := range recs {
		if rec := &recs[i]; rec.Invalid == nil {
			id := strings.ToLower(rec.Line.Dest.Identity())
			byIdentity[id] = append(byIdentity[id], rec)
		}
	}
	for i := range recs {
		rec := &recs[i]
		if rec.Invalid != nil {
			continue
		}
		l := rec.Line
		ps := h.payoutsOf(l)
		paid := 0
		var last *sandbox.Payout
		for i := range ps {
			if ps[i].Status == sandbox.StatusPaid {
				paid++
			}
			last = &ps[i]
		}
		if paid > 1 {
			t.Errorf("line %s: paid %d times by the sandbox", rec.Ref, paid)
		}
		if n, lines := h.sb.PaidCount(l.Dest.Identity()), len(byIdentity[strings.ToLower(l.Dest.Identity())]); n > lines {
			t.Errorf("line %s: sandbox PaidCount(%s) = %d for %d lines", rec.Ref, l.Dest.Identity(), n, lines)
		}
		if rec.State == batch.StateUnknown && o.unknownOK[rec.Ref] {
			continue
		}
		switch rec.State {
		case batch.StatePaid:
			if paid != 1 {
				t.Errorf("line %s: ledger paid, sandbox paid it %d times", rec.Ref, paid)
				continue
			}
			// An operator's --paid has no provider reference to compare.
			if cur := rec.Current(); cur != nil && cur.ProviderRef != "" && !sameRef(rec.ProviderRef, *last) && last.Status == sandbox.StatusPaid {
				t.Errorf("line %s: ledger reference %q, sandbox paid %q", rec.Ref, rec.ProviderRef, last.Reference)
			}
			if last.Receipt != "" && rec.Receipt != "" && rec.Receipt != last.Receipt {
				t.Errorf("line %s: ledger receipt %q, sandbox %q", rec.Ref, rec.Receipt, last.Receipt)
			}
		case batch.StateFailed:
			if paid != 0 {
				t.Errorf("line %s: ledger failed, but the sandbox paid it", rec.Ref)
			}
		case batch.StateAccepted, batch.StateSending:
			if !o.pendingOK {
				t.Errorf("line %s: still %s after the run", rec.Ref, rec.State)
			}
			if last == nil || last.Status != sandbox.StatusPending && !o.pendingOK {
				t.Errorf("line %s: accepted in the ledger, sandbox %+v", rec.Ref, last)
			}
		case batch.StateUnknown:
			t.Errorf("line %s: unknown in the ledger; sandbox payouts %+v", rec.Ref, ps)
		case batch.StateConflict, batch.StatePending, batch.StateCancelled:
			// Judged by the test: never sent for this version.
		}
	}
	// Every payout the sandbox made belongs to a line of the batch, and
	// the line knows it (by reference, unless the response was lost).
	for _, p := range h.sb.Truth() {
		cands := byIdentity[strings.ToLower(p.Identity)]
		var owner *ledger.LineRecord
		for _, rec := range cands {
			if matchesPayout(rec.Line, p) {
				owner = rec
			}
		}
		if owner == nil {
			t.Errorf("sandbox payout %s to %s (%s %s) matches no line of batch %s", p.Reference, p.Identity, p.Amount, p.Currency, batchID)
			continue
		}
		known := false
		for _, a := range owner.Attempts {
			if sameRef(a.ProviderRef, p) {
				known = true
			}
		}
		if !known && !o.unknownOK[owner.Ref] {
			t.Errorf("sandbox payout %s (%s) is in no attempt of line %s: %+v", p.Reference, p.Status, owner.Ref, owner.Attempts)
		}
	}
	if v := h.sb.Violations(); len(v) > 0 {
		t.Errorf("sandbox violations: %+v", v)
	}
	return recs
}

// reportRows reads reports/<batch>.csv as maps keyed by column name.
func (h *harness) reportRows(batchID string) []map[string]string {
	t := h.t
	t.Helper()
	recs := readCSV(t, filepath.Join(h.rep, batchID+".csv"))
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, c := range recs[0] {
			m[c] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// checkReport asserts that the CSV report has one row per sheet row in
// sheet order, that its statuses are the ledger's, that its counts add up
// to the rows and that its totals per status and currency equal the
// ledger's (db.Summary). It returns the rows by reference.
func (h *harness) checkReport(batchID string, sheet []row) map[string]map[string]string {
	t := h.t
	t.Helper()
	rows := h.reportRows(batchID)
	if len(rows) != len(sheet) {
		t.Fatalf("report has %d rows, sheet %d", len(rows), len(sheet))
	}
	byRef := map[string]map[string]string{}
	for i, r := range rows {
		if r["row"] != fmt.Sprint(i+2) || r["reference"] != sheet[i].ref {
			t.Errorf("report row %d is row %s (%s), want row %d (%s)", i, r["row"], r["reference"], i+2, sheet[i].ref)
		}
		byRef[r["reference"]] = r
	}
	recs := h.lines(batchID)
	counts := map[string]int{}
	totals := map[string]batch.Money{}
	for _, r := range rows {
		counts[r["status"]]++
		if r["status"] == "invalid" {
			continue
		}
		k := r["status"] + " " + r["currency"]
		totals[k] = totals[k].Add(batch.MustMoney(r["amount"]))
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	if n != len(sheet) {
		t.Errorf("report counts per status add up to %d, sheet has %d rows", n, len(sheet))
	}
	for _, rec := range recs {
		if r := byRef[rec.Ref]; r != nil && r["status"] != string(reports.StatusOf(rec.State)) {
			t.Errorf("line %s: report says %s, ledger %s", rec.Ref, r["status"], rec.State)
		}
	}
	ledgerTotals := map[string]batch.Money{}
	h.withDB(func(db *ledger.DB) {
		sum, err := db.Summary(context.Background(), batchID)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sum {
			if s.State == batch.StateInvalid {
				continue
			}
			k := string(reports.StatusOf(s.State)) + " " + string(s.Currency)
			ledgerTotals[k] = ledgerTotals[k].Add(s.Total)
		}
	})
	for k, v := range totals {
		if !ledgerTotals[k].Equal(v) {
			t.Errorf("report total %s = %s, ledger %s", k, v, ledgerTotals[k])
		}
	}
	for k, v := range ledgerTotals {
		if _, ok := totals[k]; !ok && !v.IsZero() {
			t.Errorf("ledger total %s = %s is not in the report", k, v)
		}
	}
	return byRef
}

func statuses(rows map[string]map[string]string) map[string]int {
	out := map[string]int{}
	for _, r := range rows {
		out[r["status"]]++
	}
	return out
}

// harnessConfig is the payroll.toml the end-to-end harnesses use: both
// providers at the sandbox's base URL, callbacks on a loopback port.
func harnessConfig(base string, port int, k knobs) string {
	return fmt.Sprintf(`[kopokopo]
base_url = %q
source_identifier = "4321"
max_destinations = %d

[kiotapay]
base_url = %q
environment = "sandbox"
rate = %d
burst = %d
per_phone_interval = %q

[callbacks]
listen = "127.0.0.1:%d"
public_url = "http://127.0.0.1:%d"

[settle]
poll_interval = %q
`, base, k.maxDest, base, k.rate, min(k.rate, 10), k.phone, port, port, k.poll)
}
