package batch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeSettleLedger holds requests and the lines under each; Apply settles
// lines forward only.
type fakeSettleLedger struct {
	mu    sync.Mutex
	reqs  map[string]ProviderName
	state map[string]State // reference → state of its lines
}

func (l *fakeSettleLedger) Unsettled(ctx context.Context, batchID string) ([]Unsettled, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Unsettled
	for ref, p := range l.reqs {
		if l.state[ref] == StateAccepted {
			out = append(out, Unsettled{Provider: p, Reference: ref, Lines: 1})
		}
	}
	return out, nil
}

func (l *fakeSettleLedger) Settle(ctx context.Context, rs []Result) ([]Settled, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Settled, len(rs))
	for i, r := range rs {
		out[i] = Settled{Result: r, Action: Unmatched}
		switch st, ok := l.state[r.Reference]; {
		case !ok:
		case st == StateAccepted && (r.Status == StatePaid || r.Status == StateFailed):
			l.state[r.Reference] = r.Status
			out[i].Action = Applied
		case st == r.Status:
			out[i].Action = Repeated
		default:
			out[i].Action = Flagged
		}
	}
	return out, nil
}

func (l *fakeSettleLedger) set(ref string, p ProviderName, st State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs[ref], l.state[ref] = p, st
}

func (l *fakeSettleLedger) get(ref string) State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state[ref]
}

// TestReceiveHoldsEarlyResults: a trusted result that arrives before the
// reference is recorded is held and applied once it is.
func TestReceiveHoldsEarlyResults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeSettleLedger{reqs: map[string]ProviderName{}, state: map[string]State{}}
		s := &Settler{Ledger: l}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s.Serve(ctx); close(done) }()
		if err := s.Receive(ctx, []Result{{Provider: KopoKopo, Reference: "early", Status: StatePaid}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		l.set("early", KopoKopo, StateAccepted) // the send's answer is recorded
		time.Sleep(time.Second)
		if got := l.get("early"); got != StatePaid {
			t.Errorf("held result not applied: %s", got)
		}
		// One that never matches expires after holdFor.
		s.Receive(ctx, []Result{{Provider: KopoKopo, Reference: "never", Status: StatePaid}})
		time.Sleep(holdFor + time.Second)
		s.rs.mu.Lock()
		n := len(s.rs.early)
		s.rs.mu.Unlock()
		if n != 0 {
			t.Errorf("%d results still held after %s", n, holdFor)
		}
		cancel()
		<-done
	})
}

// TestHintConfirmedByPoll: an unsigned callback's reference is confirmed
// by the provider's status query; only the query's answer is applied, and
// a provider without a poller is refused.
func TestHintConfirmedByPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeSettleLedger{reqs: map[string]ProviderName{"r1": KiotaPay}, state: map[string]State{"r1": StateAccepted}}
		p := &fakePoller{result: func(string, int) (State, error) { return StateFailed, nil }}
		s := &Settler{Ledger: l, Pollers: map[ProviderName]Poller{KiotaPay: p}}
		// Both hints are queued before the workers start: a worker that
		// took the first before the second came would rightly query again.
		if !s.Hint(KiotaPay, "r1") || !s.Hint(KiotaPay, "r1") {
			t.Fatal("hint refused")
		}
		if s.Hint(KopoKopo, "x") {
			t.Error("a hint for a provider without a poller was taken")
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s.Serve(ctx); close(done) }()
		time.Sleep(time.Second)
		if got := l.get("r1"); got != StateFailed {
			t.Errorf("r1 is %s after the confirmation said failed", got)
		}
		if n := len(p.calls["r1"]); n != 1 {
			t.Errorf("%d status queries for one reference hinted twice, want 1", n)
		}
		cancel()
		<-done
	})
}

type fakePoller struct {
	mu     sync.Mutex
	calls  map[string][]time.Time
	result func(ref string, n int) (State, error)
}

func (p *fakePoller) Poll(ctx context.Context, ref string) ([]Result, error) {
	p.mu.Lock()
	if p.calls == nil {
		p.calls = map[string][]time.Time{}
	}
	p.calls[ref] = append(p.calls[ref], time.Now())
	n := len(p.calls[ref])
	p.mu.Unlock()
	st, err := p.result(ref, n)
	if err != nil {
		return nil, err
	}
	return []Result{{Reference: ref, Status: st}}, nil
}

func TestSettlePollsWithBackoffUntilSettled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeSettleLedger{reqs: map[string]ProviderName{"a": KopoKopo, "b": KopoKopo, "c": KiotaPay},
			state: map[string]State{"a": StateAccepted, "b": StateAccepted, "c": StateAccepted}}
		p := &fakePoller{result: func(ref string, n int) (State, error) {
			switch {
			case ref == "a":
				return StatePaid, nil
			case ref == "b" && n >= 4: // an undocumented status three times, then paid
				return StatePaid, nil
			case ref == "c" && n == 1:
				return "", errors.New("503")
			case ref == "c":
				return StateFailed, nil
			}
			return StateAccepted, nil
		}}
		s := &Settler{Ledger: l, Pollers: map[ProviderName]Poller{KopoKopo: p, KiotaPay: p}, Interval: time.Second, MaxInterval: 8 * time.Second}
		left, err := s.Settle(t.Context(), "batch", time.Time{})
		if err != nil || left != 0 {
			t.Fatalf("Settle = %d, %v", left, err)
		}
		if l.state["a"] != StatePaid || l.state["b"] != StatePaid || l.state["c"] != StateFailed {
			t.Errorf("states %v", l.state)
		}
		calls := p.calls["b"]
		for i := 2; i < len(calls); i++ {
			prev, gap := calls[i-1].Sub(calls[i-2]), calls[i].Sub(calls[i-1])
			if gap < prev*5/4 { // doubling, with ±20% jitter
				t.Errorf("poll gaps %v then %v: no backoff", prev, gap)
			}
		}
		if len(p.calls["a"]) != 1 {
			t.Errorf("settled request polled %d times", len(p.calls["a"]))
		}
	})
}

func TestSettleDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeSettleLedger{reqs: map[string]ProviderName{"a": KopoKopo}, state: map[string]State{"a": StateAccepted}}
		p := &fakePoller{result: func(string, int) (State, error) { return StateAccepted, nil }}
		s := &Settler{Ledger: l, Pollers: map[ProviderName]Poller{KopoKopo: p}, Interval: time.Second}
		start := time.Now()
		left, err := s.Settle(t.Context(), "batch", start.Add(time.Minute))
		if err != nil || left != 1 {
			t.Fatalf("Settle = %d, %v; want 1 left at the deadline", left, err)
		}
		if took := time.Since(start); took != time.Minute {
			t.Errorf("returned after %v, want exactly the deadline", took)
		}
	})
}

func TestSettleWakeAppliesCallbacksWithoutPolling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeSettleLedger{reqs: map[string]ProviderName{"a": KopoKopo}, state: map[string]State{"a": StateAccepted}}
		p := &fakePoller{result: func(string, int) (State, error) { return StateAccepted, nil }}
		s := &Settler{Ledger: l, Pollers: map[ProviderName]Poller{KopoKopo: p}, Interval: time.Hour}
		go func() {
			time.Sleep(time.Second)
			s.Receive(context.Background(), []Result{{Reference: "a", Status: StatePaid}}) // a callback; it wakes Settle
		}()
		start := time.Now()
		if left, err := s.Settle(t.Context(), "batch", time.Time{}); left != 0 || err != nil {
			t.Fatalf("Settle = %d, %v", left, err)
		}
		if took := time.Since(start); took != time.Second {
			t.Errorf("settled after %v, want 1s (woken by the callback)", took)
		}
		if len(p.calls) != 0 {
			t.Errorf("polled %v although the callback settled it", p.calls)
		}
	})
}
