package ledger

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"payroll/batch"
)

// The crash test re-executes the test binary as a helper process
// (TestCrashHelper) that imports a batch, claims chunks of 50, "sends"
// them to a fake provider (an fsynced append-only log), records outcomes
// and settles results, resolving unknown lines truthfully from the log
// and retrying failed ones, until every valid line is paid. The parent
// kills it with SIGKILL at a named point (before or after a commit, or
// after a send: "after-claim-commit:7" is the 7th time that point is
// reached) or after a random delay, then checks the file. Crashes chain
// on one file until a helper finishes; then a new file starts.
//
// LEDGER_CRASH_ROUNDS=n repeats the named points n times (default 2, 1
// with -short) and LEDGER_CRASH_RANDOM=n adds n random kills (default
// 110, 20 with -short).

const (
	crashLines   = 150
	crashChunk   = 50
	crashBatch   = "crash"
	envHelper    = "LEDGER_CRASH_HELPER"
	envHelperDir = "LEDGER_CRASH_DIR"
	envHelperAt  = "LEDGER_CRASH_AT"
)

func crashInvalid() []batch.InvalidRow {
	return []batch.InvalidRow{{Row: crashLines + 2, Reference: "BAD1", Reasons: []string{"bad phone"}},
		{Row: crashLines + 3, Reasons: []string{"amount has a sign"}}}
}

// roll is the fake provider's deterministic die for an attempt and line.
func roll(parts ...string) int {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return int(h.Sum64() % 100)
}

// Fake provider behaviour. Kopo Kopo: the chunk is rejected (nothing
// ran), lost (ran, response lost) or accepted, then each line paid or
// failed. KiotaPay: each line rejected, failed conclusively, lost, or
// accepted, then paid or failed.
func providerRejects(p batch.ProviderName, attempt, ref string) bool {
	if p == batch.KopoKopo {
		return roll(attempt, "chunk") < 10
	}
	return roll(attempt, ref) < 10
}

func providerFailsNow(p batch.ProviderName, attempt, ref string) bool {
	return p == batch.KiotaPay && !providerRejects(p, attempt, ref) && roll(attempt, ref) < 18
}

func providerLost(p batch.ProviderName, attempt, ref string) bool {
	if p == batch.KopoKopo {
		r := roll(attempt, "chunk")
		return r >= 10 && r < 18
	}
	r := roll(attempt, ref)
	return r >= 18 && r < 26
}

// providerPays reports whether the provider paid the line in this attempt
// (given that it received it).
func providerPays(p batch.ProviderName, attempt, ref string) bool {
	if providerRejects(p, attempt, ref) || providerFailsNow(p, attempt, ref) {
		return false
	}
	return roll(attempt, ref, "result") >= 15
}

func lineProvider(ref string) batch.ProviderName {
	i, _ := strconv.Atoi(strings.TrimPrefix(ref, "EMP"))
	return testLine(i).Provider
}

// readSends reads the fake provider's log: complete "S attempt ref" lines.
func readSends(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 3 && fs[0] == "S" {
			out = append(out, [2]string{fs[1], fs[2]})
		}
	}
	return out, sc.Err()
}

// TestCrashHelper is the helper process; it does nothing in a normal run.
func TestCrashHelper(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("helper process for TestCrash")
	}
	dir, at := os.Getenv(envHelperDir), os.Getenv(envHelperAt)
	point, nth, _ := strings.Cut(at, ":")
	n, _ := strconv.Atoi(nth)
	switch point {
	case "random":
		go func() {
			time.Sleep(time.Duration(n) * time.Microsecond)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}()
	case "during":
		// during:<point>:<n>:<µs>: at the n-th <point>, kill after µs.
		f := strings.Split(at, ":")
		point = f[1]
		n, _ = strconv.Atoi(f[2])
		delay, _ := strconv.Atoi(f[3])
		seen := 0
		crashHook = func(p string) {
			if p == point {
				if seen++; seen == n {
					go func() {
						time.Sleep(time.Duration(delay) * time.Microsecond)
						syscall.Kill(os.Getpid(), syscall.SIGKILL)
					}()
				}
			}
		}
	default:
		seen := 0
		crashHook = func(p string) {
			if p == point {
				if seen++; seen == n {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
	}
	if err := crashScenario(dir); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func crashScenario(dir string) error {
	ctx := context.Background()
	logPath := filepath.Join(dir, "provider.log")
	// A send cut short by the kill never reached the provider: drop it.
	if b, err := os.ReadFile(logPath); err == nil {
		if i := bytes.LastIndexByte(b, '\n'); i+1 != len(b) {
			if err := os.Truncate(logPath, int64(i+1)); err != nil {
				return err
			}
		}
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	db, err := Open(filepath.Join(dir, "payroll.db"), Options{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Import(ctx, spec(crashBatch), testLines(crashLines), crashInvalid()); err != nil {
		return err
	}
	for round := 0; ; round++ {
		if round > 50 {
			return errors.New("no progress after 50 rounds")
		}
		// Operator: resolve unknown lines from the provider's own record.
		sends, err := readSends(logPath)
		if err != nil {
			return err
		}
		sent := map[[2]string]bool{}
		for _, s := range sends {
			sent[s] = true
		}
		var pending []string
		var unknown []LineRecord
		for r, err := range db.Lines(ctx, crashBatch) {
			if err != nil {
				return err
			}
			switch r.State {
			case batch.StateUnknown:
				unknown = append(unknown, r)
			case batch.StatePending:
				pending = append(pending, r.Ref)
			}
		}
		for _, r := range unknown {
			a := r.Current().ID
			paid := sent[[2]string{a, r.Ref}] && providerPays(r.Line.Provider, a, r.Ref)
			if _, err := db.Resolve(ctx, crashBatch, r.Ref, paid, "", "checked the provider"); err != nil {
				return err
			}
		}
		// Poll whatever was accepted but not settled.
		uns, err := db.Unsettled(ctx, crashBatch)
		if err != nil {
			return err
		}
		var results []batch.Result
		for _, u := range uns {
			recs, err := db.ByProviderRef(ctx, u.Provider, u.Reference)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if r.State == batch.StateAccepted || r.State == batch.StateUnknown {
					results = append(results, resultFor(u.Provider, u.Reference, r.Current().ID, r.Line, "poll"))
				}
			}
		}
		if len(results) > 0 {
			if _, err := db.Settle(ctx, results); err != nil {
				return err
			}
		}
		retried, err := db.Retry(ctx, crashBatch)
		if err != nil {
			return err
		}
		pending = append(pending, retried...)
		if len(pending) == 0 && len(unknown) == 0 && len(results) == 0 {
			return nil
		}
		byProvider := map[batch.ProviderName][]string{}
		for _, ref := range pending {
			p := lineProvider(ref)
			byProvider[p] = append(byProvider[p], ref)
		}
		for _, p := range []batch.ProviderName{batch.KopoKopo, batch.KiotaPay} {
			refs := byProvider[p]
			for len(refs) > 0 {
				n := min(crashChunk, len(refs))
				if err := crashChunkSend(ctx, db, logf, p, refs[:n]); err != nil {
					return err
				}
				refs = refs[n:]
			}
		}
	}
}

func resultFor(p batch.ProviderName, provRef, attempt string, l batch.Line, source string) batch.Result {
	res := batch.Result{Provider: p, Reference: provRef, Identity: l.Dest.Identity(), Amount: l.Amount, Status: batch.StateFailed, Reason: "declined", Source: source}
	if p == batch.KiotaPay {
		res.LineRef = l.Reference
	}
	if providerPays(p, attempt, l.Reference) {
		res.Status, res.Receipt, res.Reason = batch.StatePaid, "RCPT-"+attempt[len(attempt)-6:]+"-"+l.Reference, ""
	}
	return res
}

// crashChunkSend is the dispatcher: claim (intent), send (the fake
// provider's log, fsynced), record outcomes, settle by "callback".
func crashChunkSend(ctx context.Context, db *DB, logf *os.File, p batch.ProviderName, refs []string) error {
	cl, lines, err := db.claim(ctx, crashBatch, refs)
	if err != nil || len(lines) == 0 {
		return err
	}
	var buf bytes.Buffer
	for _, ref := range cl.Refs {
		fmt.Fprintf(&buf, "S %s %s\n", cl.ID, ref)
	}
	if _, err := logf.Write(buf.Bytes()); err != nil {
		return err
	}
	if err := logf.Sync(); err != nil {
		return err
	}
	hook("after-send")
	chunkRef := "k2/" + cl.ID
	var outs []batch.Outcome
	var results []batch.Result
	for _, l := range lines {
		o := batch.Outcome{BatchID: crashBatch, Attempt: cl.ID, Refs: []string{l.Reference}, Provider: p, Reference: chunkRef}
		if p == batch.KiotaPay {
			o.Reference = "kp/" + cl.ID + "/" + l.Reference
		}
		switch {
		case providerRejects(p, cl.ID, l.Reference):
			o.Kind, o.Provider, o.Reference, o.Reason = batch.OutcomeNotSent, "", "", "503"
		case providerFailsNow(p, cl.ID, l.Reference):
			o.Kind, o.Reason = batch.OutcomeFailed, "invalid msisdn"
		case providerLost(p, cl.ID, l.Reference):
			o.Kind, o.Reason = batch.OutcomeUnknown, "timeout"
		default:
			o.Kind = batch.OutcomeAccepted
			if roll(cl.ID, l.Reference, "callback") < 80 { // some results only come by polling
				results = append(results, resultFor(p, o.Reference, cl.ID, l, "callback"))
			}
		}
		outs = append(outs, o)
	}
	if err := db.RecordOutcomes(ctx, outs); err != nil {
		return err
	}
	if len(results) > 0 {
		_, err = db.Settle(ctx, results)
	}
	return err
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// crashReplays counts the opens after a kill that replayed a journal commit.
var crashReplays int

func TestCrash(t *testing.T) {
	if os.Getenv(envHelper) == "1" {
		t.Skip()
	}
	rounds, random := envInt("LEDGER_CRASH_ROUNDS", 2), envInt("LEDGER_CRASH_RANDOM", 110)
	if testing.Short() {
		rounds, random = envInt("LEDGER_CRASH_ROUNDS", 1), envInt("LEDGER_CRASH_RANDOM", 20)
	}
	var points []string
	for _, p := range []struct {
		name string
		n    int
	}{
		{"import", 1}, {"recover", 1}, {"claim", 5}, {"outcomes", 5}, {"settle", 5}, {"resolve", 2}, {"retry", 2},
	} {
		for i := 1; i <= p.n; i++ {
			points = append(points, fmt.Sprintf("before-%s-commit:%d", p.name, i), fmt.Sprintf("after-%s-commit:%d", p.name, i))
		}
	}
	for i := 1; i <= 5; i++ {
		points = append(points, fmt.Sprintf("after-send:%d", i))
	}
	// Between the journal's fsync and bbolt's commit: the journal is one
	// commit ahead, and the next open replays it.
	for i := 1; i <= 12; i++ {
		points = append(points, fmt.Sprintf("after-journal-append:%d", i))
	}
	var plan []string
	for range rounds {
		plan = append(plan, points...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range random {
		// Half at a random time, half a few microseconds after a random
		// commit started, to land inside bbolt's write and fsync.
		if rng.IntN(2) == 0 {
			plan = append(plan, fmt.Sprintf("random:%d", rng.IntN(60_000)))
		} else {
			ops := []string{"claim", "outcomes", "settle", "import"}
			plan = append(plan, fmt.Sprintf("during:before-%s-commit:%d:%d", ops[rng.IntN(len(ops))], 1+rng.IntN(4), rng.IntN(2000)))
		}
	}
	var dir string
	kills, finished := 0, 0
	for i, at := range plan {
		if dir == "" {
			dir = t.TempDir()
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
		cmd.Env = append(os.Environ(), envHelper+"=1", envHelperDir+"="+dir, envHelperAt+"="+at,
			"GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE")) // a race build otherwise sleeps 1 s at exit
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			finished++
			verifyCrashFile(t, dir, true)
			dir = ""
			continue
		case errors.As(err, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
			kills++
		default:
			t.Fatalf("run %d (%s): %v\n%s", i, at, err, out)
		}
		verifyCrashFile(t, dir, false)
		if t.Failed() {
			t.Fatalf("after kill at %s (run %d)", at, i)
		}
	}
	t.Logf("%d runs: %d killed, %d finished a batch, %d opens replayed a journal commit", len(plan), kills, finished, crashReplays)
	if crashReplays < 12 {
		t.Errorf("only %d journal replays; every after-journal-append kill should leave one", crashReplays)
	}
	if kills < len(plan)/2 {
		t.Errorf("only %d kills", kills)
	}
}

// verifyCrashFile opens the ledger left by a helper and checks recovery
// and the invariants against the fake provider's log.
func verifyCrashFile(t *testing.T, dir string, done bool) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, "payroll.db")
	if _, err := os.Stat(path); err != nil {
		return // killed before the file existed
	}
	// What was in flight before recovery?
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		if errors.Is(err, ErrSchema) {
			return // killed before the first commit
		}
		t.Fatalf("read-only open: %v", err)
	}
	sending := map[string]bool{}
	if _, err := ro.Batch(ctx, crashBatch); err == nil {
		for r, err := range ro.Lines(ctx, crashBatch) {
			if err != nil {
				t.Fatal(err)
			}
			if r.State == batch.StateSending {
				sending[r.Ref] = true
			}
		}
	}
	ro.Close()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	defer db.Close()
	// A journal commit the ledger had not applied (killed between the
	// journal's fsync and bbolt's commit) is replayed first: a claim's lines
	// are then in sending too, and recovered as unknown.
	replayed := db.Stats().Replayed
	if replayed != 0 {
		crashReplays++
	}
	if got := db.Stats().Recovered; got != len(sending) && replayed == 0 {
		t.Errorf("recovered %d lines, %d were sending", got, len(sending))
	}
	if err := db.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if _, err := db.CheckJournal(ctx); err != nil {
		t.Errorf("CheckJournal: %v", err)
	}
	m, err := db.Batch(ctx, crashBatch)
	if errors.Is(err, ErrNotFound) {
		return // killed before the import committed
	}
	if err != nil {
		t.Fatal(err)
	}
	if m.Lines != crashLines+2 || m.Counts[batch.StateSending] != 0 {
		t.Errorf("lines %d counts %v", m.Lines, m.Counts)
	}
	want := map[batch.Currency]batch.Money{}
	for _, l := range testLines(crashLines) {
		want[l.Currency] = want[l.Currency].Add(l.Amount)
	}
	for c, w := range want {
		if !m.Totals[c].Equal(w) {
			t.Errorf("%s total %s, want %s", c, m.Totals[c], w)
		}
	}
	sends, err := readSends(filepath.Join(dir, "provider.log"))
	if err != nil {
		t.Fatal(err)
	}
	pays := map[string]int{}
	for _, s := range sends {
		if providerPays(lineProvider(s[1]), s[0], s[1]) {
			pays[s[1]]++
		}
	}
	lines := map[string]LineRecord{}
	for r, err := range db.Lines(ctx, crashBatch) {
		if err != nil {
			t.Fatal(err)
		}
		lines[r.Ref] = r
		if sending[r.Ref] && replayed == 0 && (r.State != batch.StateUnknown || r.Current().Outcome != batch.OutcomeUnknown) {
			t.Errorf("%s was sending, now %s", r.Ref, r.State)
		}
		switch {
		case pays[r.Ref] > 1:
			t.Errorf("%s paid %d times by the provider", r.Ref, pays[r.Ref])
		case r.State == batch.StatePaid && pays[r.Ref] != 1:
			t.Errorf("%s is paid in the ledger, provider paid it %d times", r.Ref, pays[r.Ref])
		case (r.State == batch.StateFailed || r.State == batch.StatePending) && pays[r.Ref] != 0:
			t.Errorf("%s is %s in the ledger, provider paid it", r.Ref, r.State)
		case done && r.Invalid == nil && r.State != batch.StatePaid:
			t.Errorf("finished, but %s is %s", r.Ref, r.State)
		}
		if r.Blocked() {
			t.Errorf("%s flagged %v", r.Ref, r.Flags)
		}
	}
	for _, s := range sends { // intent before effect
		r, ok := lines[s[1]]
		if !ok || r.attempt(s[0]) == nil {
			t.Errorf("provider got %s attempt %s, which the ledger never committed", s[1], s[0])
		}
	}
	var recovered int
	for e, err := range db.Events(ctx, crashBatch) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Cause == "crash-recovery" && sending[e.Ref] {
			recovered++
		}
	}
	if recovered < len(sending) && replayed == 0 {
		t.Errorf("%d crash-recovery events for %d lines", recovered, len(sending))
	}
}
