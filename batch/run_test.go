package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeLedger is an in-memory Ledger that enforces the runner's side of the
// invariants: a line is sent only while claimed (sending), and a line is
// accepted at most once.
type fakeLedger struct {
	mu       sync.Mutex
	state    map[string]State
	lines    map[string]Line
	accepted map[string]int
	attempts int
	claims   int
	records  int
}

func newFakeLedger(lines []Line) *fakeLedger {
	l := &fakeLedger{state: map[string]State{}, lines: map[string]Line{}, accepted: map[string]int{}}
	for _, x := range lines {
		l.state[x.Reference] = StatePending
		l.lines[x.Reference] = x
	}
	return l
}

func (l *fakeLedger) Claim(ctx context.Context, batchID string, refs []string) (string, []Line, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.claims++
	l.attempts++
	var out []Line
	for _, r := range refs {
		if l.state[r] == StatePending {
			l.state[r] = StateSending
			out = append(out, l.lines[r])
		}
	}
	return fmt.Sprintf("att-%d", l.attempts), out, nil
}

func (l *fakeLedger) RecordOutcomes(ctx context.Context, outs []Outcome) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records++
	for _, o := range outs {
		for _, r := range o.Refs {
			if l.state[r] != StateSending {
				return fmt.Errorf("outcome for %s in state %s", r, l.state[r])
			}
			switch o.Kind {
			case OutcomeAccepted:
				l.state[r] = StateAccepted
				l.accepted[r]++
			case OutcomeNotSent:
				l.state[r] = StatePending
			case OutcomeFailed:
				l.state[r] = StateFailed
			case OutcomeUnknown:
				l.state[r] = StateUnknown
			}
		}
	}
	return nil
}

func (l *fakeLedger) count(s State) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, st := range l.state {
		if st == s {
			n++
		}
	}
	return n
}

// fakeSender checks that every line it is asked to send is claimed, and
// answers with the error its script gives for the call.
type fakeSender struct {
	t      *testing.T
	ledger *fakeLedger
	script func(call int, c Chunk) error
	mu     sync.Mutex
	calls  int
	sent   map[string]int // line → requests that carried it
}

func (s *fakeSender) Send(ctx context.Context, c Chunk) (Accepted, error) {
	s.mu.Lock()
	s.calls++
	call := s.calls
	if s.sent == nil {
		s.sent = map[string]int{}
	}
	for _, l := range c.Lines {
		s.sent[l.Reference]++
	}
	s.mu.Unlock()
	s.ledger.mu.Lock()
	for _, l := range c.Lines {
		if st := s.ledger.state[l.Reference]; st != StateSending {
			s.t.Errorf("line %s sent in state %s: intent not committed first", l.Reference, st)
		}
	}
	s.ledger.mu.Unlock()
	if len(c.Lines) == 0 {
		s.t.Error("empty chunk sent")
	}
	if s.script != nil {
		if err := s.script(call, c); err != nil {
			return Accepted{}, err
		}
	}
	return Accepted{Reference: fmt.Sprintf("ref-%d", call)}, nil
}

func testLines(n int) []Line {
	lines := make([]Line, n)
	for i := range lines {
		lines[i] = Line{
			Row: i + 2, Reference: fmt.Sprintf("E%04d", i), Provider: KopoKopo, Currency: KES,
			Dest:   Destination{Type: MobileWallet, Phone: Phone(fmt.Sprintf("2547%08d", i))},
			Amount: MoneyFromUnits(1000), Requested: MoneyFromUnits(1000),
		}
	}
	return lines
}

func chunksOf(lines []Line, size int) []Chunk {
	var out []Chunk
	for _, ch := range ChunkLines(lines, size) {
		out = append(out, Chunk{Provider: KopoKopo, Currency: KES, Lines: ch})
	}
	return out
}

type errWithRetry struct {
	error
	after time.Duration
}

func (e errWithRetry) RetryAfter() time.Duration { return e.after }
func (e errWithRetry) Unwrap() error             { return e.error }

func TestRunnerOutcomes(t *testing.T) {
	unknownOn2 := func(call int, c Chunk) error {
		if call == 2 {
			return fmt.Errorf("read: connection reset: %w", ErrOutcomeUnknown)
		}
		return nil
	}
	tests := []struct {
		name                                     string
		lines, size                              int
		script                                   func(call int, c Chunk) error
		accepted, pending, failed, unknown, reqs int
	}{
		{"all accepted", 120, 50, nil, 120, 0, 0, 0, 3},
		{"response lost mid-run: unknown, never resent", 120, 50, unknownOn2, 70, 0, 0, 50, 3},
		{"transient twice then accepted", 10, 50, func(call int, c Chunk) error {
			if call <= 2 {
				return errWithRetry{fmt.Errorf("429: %w", ErrTransient), time.Millisecond}
			}
			return nil
		}, 10, 0, 0, 0, 1},
		{"transient forever: left pending", 10, 50, func(int, Chunk) error { return fmt.Errorf("503: %w", ErrTransient) }, 0, 10, 0, 0, 1},
		{"unclassified error is unknown", 5, 50, func(int, Chunk) error { return errors.New("weird") }, 0, 0, 0, 5, 1},
		{"rejected chunk is bisected to the bad line", 16, 16, func(call int, c Chunk) error {
			for _, l := range c.Lines {
				if l.Reference == "E0011" {
					return fmt.Errorf("400 invalid phone: %w", ErrRejected)
				}
			}
			return nil
		}, 15, 0, 1, 0, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := testLines(tt.lines)
			led := newFakeLedger(lines)
			snd := &fakeSender{t: t, ledger: led, script: tt.script}
			r := &Runner{Ledger: led, Senders: map[ProviderName]Sender{KopoKopo: snd}, TransientRetries: 3,
				Backoff: func(int) time.Duration { return time.Microsecond }}
			st, err := r.Run(t.Context(), "b", chunksOf(lines, tt.size))
			if err != nil {
				t.Fatal(err)
			}
			if got := led.count(StateAccepted); got != tt.accepted {
				t.Errorf("accepted %d, want %d", got, tt.accepted)
			}
			if got := led.count(StatePending); got != tt.pending {
				t.Errorf("pending %d, want %d", got, tt.pending)
			}
			if got := led.count(StateFailed); got != tt.failed {
				t.Errorf("failed %d, want %d", got, tt.failed)
			}
			if got := led.count(StateUnknown); got != tt.unknown {
				t.Errorf("unknown %d, want %d", got, tt.unknown)
			}
			if st.Accepted != tt.accepted || st.Failed != tt.failed || st.Unknown != tt.unknown || st.NotSent != tt.pending {
				t.Errorf("stats %+v disagree with the ledger", st)
			}
			if st.Requests != tt.reqs {
				t.Errorf("requests %d, want %d", st.Requests, tt.reqs)
			}
			for ref, n := range led.accepted {
				if n > 1 {
					t.Errorf("line %s accepted %d times", ref, n)
				}
			}

			// A re-run resumes: only pending lines are sent again; lines
			// accepted, failed or unknown are never resent.
			before := map[string]int{}
			for k, v := range snd.sent {
				before[k] = v
			}
			snd.script = nil
			if _, err := r.Run(t.Context(), "b", chunksOf(lines, tt.size)); err != nil {
				t.Fatal(err)
			}
			for _, l := range lines {
				resent := snd.sent[l.Reference] - before[l.Reference]
				if resent > 0 && tt.pending == 0 {
					t.Errorf("re-run resent %s", l.Reference)
				}
			}
			if got := led.count(StateAccepted); got != tt.accepted+tt.pending {
				t.Errorf("after re-run: accepted %d, want %d", got, tt.accepted+tt.pending)
			}
		})
	}
}

func TestRunnerShutdownFinishesInFlight(t *testing.T) {
	lines := testLines(200)
	led := newFakeLedger(lines)
	ctx, cancel := context.WithCancel(t.Context())
	release := make(chan struct{})
	snd := &fakeSender{t: t, ledger: led, script: func(call int, c Chunk) error {
		if call == 1 {
			cancel() // SIGINT while the first request is in flight
			<-release
		}
		return nil
	}}
	go func() { time.Sleep(20 * time.Millisecond); close(release) }()
	r := &Runner{Ledger: led, Senders: map[ProviderName]Sender{KopoKopo: snd}, Pacing: map[ProviderName]Pacing{KopoKopo: {InFlight: 1}}}
	st, err := r.Run(ctx, "b", chunksOf(lines, 50))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if st.Accepted != 50 || led.count(StateAccepted) != 50 {
		t.Errorf("in-flight chunk not recorded: stats %+v, ledger accepted %d", st, led.count(StateAccepted))
	}
	if led.count(StateSending) != 0 {
		t.Errorf("%d lines left sending", led.count(StateSending))
	}
	if led.count(StatePending) != 150 {
		t.Errorf("pending %d, want 150 (not claimed after shutdown)", led.count(StatePending))
	}
}

func TestRunnerNoSenderForProvider(t *testing.T) {
	lines := testLines(3)
	led := newFakeLedger(lines)
	r := &Runner{Ledger: led, Senders: map[ProviderName]Sender{}}
	if _, err := r.Run(t.Context(), "b", chunksOf(lines, 50)); err == nil {
		t.Fatal("want an error for a provider without a sender")
	}
	if led.claims != 0 {
		t.Error("claimed lines with no sender")
	}
}

func TestPacerRateAndPerPhoneInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var lines []Line
		for i := range 20 {
			l := Line{Reference: fmt.Sprintf("T%02d", i), Provider: KiotaPay, Currency: TZS,
				Dest: Destination{Type: MobileWallet, Phone: Phone(fmt.Sprintf("2556512345%02d", i%10))}, Amount: MoneyFromUnits(5000)}
			lines = append(lines, l)
		}
		var chunks []Chunk
		for _, l := range lines {
			chunks = append(chunks, Chunk{Provider: KiotaPay, Currency: TZS, Lines: []Line{l}})
		}
		led := newFakeLedger(lines)
		var mu sync.Mutex
		sendTimes := map[string][]time.Time{}
		var all []time.Time
		snd := &fakeSender{t: t, ledger: led, script: func(call int, c Chunk) error {
			mu.Lock()
			defer mu.Unlock()
			now := time.Now()
			all = append(all, now)
			p := c.Lines[0].Dest.Phone.Digits()
			sendTimes[p] = append(sendTimes[p], now)
			return nil
		}}
		r := &Runner{Ledger: led, Senders: map[ProviderName]Sender{KiotaPay: snd},
			Pacing: map[ProviderName]Pacing{KiotaPay: {Rate: 5, Burst: 1, PerPhoneInterval: 2 * time.Minute, InFlight: 20}}}
		start := time.Now()
		if _, err := r.Run(t.Context(), "b", chunks); err != nil {
			t.Fatal(err)
		}
		for p, ts := range sendTimes {
			for i := 1; i < len(ts); i++ {
				if gap := ts[i].Sub(ts[i-1]); gap < 2*time.Minute {
					t.Errorf("phone %s paid twice %v apart", Phone(p), gap)
				}
			}
		}
		// 10 distinct phones at 5/s, then the second payout of each phone
		// two minutes later.
		if took := time.Since(start); took < 2*time.Minute {
			t.Errorf("run took %v; per-phone interval not applied", took)
		}
		for i := 1; i < 10; i++ {
			if gap := all[i].Sub(all[i-1]); gap < 199*time.Millisecond {
				t.Errorf("sends %d and %d only %v apart at rate 5/s", i-1, i, gap)
			}
		}
	})
}

// TestPacerDepart: the departure gate paces at the rate too (the
// request, then the resend after a 401).
func TestPacerDepart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPacer(Pacing{Rate: 1, Burst: 1})
		c := Chunk{Provider: KiotaPay, Lines: []Line{{Dest: Destination{Type: MobileWallet, Phone: "255652345678"}}}}
		start := time.Now()
		if err := p.Wait(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		if err := p.Depart(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := p.Depart(t.Context()); err != nil {
			t.Fatal(err)
		}
		p.Done(c, true)
		if took := time.Since(start); took != time.Second {
			t.Errorf("send and resend took %v, want 1s at 1/s", took)
		}
		var none *Pacer
		if err := none.Depart(t.Context()); err != nil {
			t.Errorf("nil pacer: %v", err)
		}
	})
}

// Run sends chunks held in memory through RunFeeds, one feed per
// provider: the tests' way to hand a runner its chunks.
func (r *Runner) Run(ctx context.Context, batchID string, chunks []Chunk) (RunStats, error) {
	var feeds []Feed
	at := map[ProviderName]int{}
	var held [][]Chunk
	for _, c := range chunks {
		i, ok := at[c.Provider]
		if !ok {
			i = len(feeds)
			at[c.Provider] = i
			feeds = append(feeds, Feed{Provider: c.Provider})
			held = append(held, nil)
		}
		held[i] = append(held[i], c)
	}
	for i := range feeds {
		feeds[i].Chunks = func(yield func(Chunk, error) bool) {
			for _, c := range held[i] {
				if !yield(c, nil) {
					return
				}
			}
		}
	}
	return r.RunFeeds(ctx, batchID, feeds)
}
