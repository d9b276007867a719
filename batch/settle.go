package batch

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Unsettled is a provider request whose lines were accepted but are not
// yet paid or failed.
type Unsettled struct {
	Provider  ProviderName
	Reference string
	Lines     int
}

// SettleLedger is what settlement needs of the ledger.
type SettleLedger interface {
	// Unsettled lists the batch's accepted requests still waiting for a
	// result.
	Unsettled(ctx context.Context, batchID string) ([]Unsettled, error)
	// Settle records final results (paid or failed) in one commit:
	// forward transitions only; a repeated result is a no-op, a
	// contradicting or mismatched one is flagged, never applied. It says
	// what it did with each.
	Settle(ctx context.Context, results []Result) ([]Settled, error)
}

// StateCounter is a ledger that can say how many lines of a batch are in
// each state, cheaply (the settler logs it each poll round).
type StateCounter interface {
	Counts(ctx context.Context, batchID string) (map[State]int, error)
}

// SettleAction is what the ledger did with one result.
type SettleAction int

// Settle actions.
const (
	Applied   SettleAction = iota + 1 // the line moved to the result's state
	Repeated                          // the line already had this result: no-op
	Flagged                           // contradicts or mismatches the ledger: recorded, not applied
	Unmatched                         // no line has this reference (or identity and amount)
)

func (a SettleAction) String() string {
	switch a {
	case Applied:
		return "applied"
	case Repeated:
		return "repeated"
	case Flagged:
		return "flagged"
	case Unmatched:
		return "unmatched"
	}
	return fmt.Sprintf("SettleAction(%d)", int(a))
}

// Settled says what the ledger did with one Result.
type Settled struct {
	Result  Result
	BatchID string
	LineRef string
	From    State
	To      State // the line's state afterwards
	Action  SettleAction
	Note    string
}

// Apply records the final results among results (paid or failed; a
// result still pending changes nothing) and returns how many lines
// changed state and the results whose reference the ledger does not know
// yet (a callback faster than the send's response), for the caller to
// hold and apply again. An undocumented provider status is logged once
// per settler and status; a result that contradicts the ledger is logged.
func (s *Settler) Apply(ctx context.Context, results []Result) (int, []Result, error) {
	n, idx, err := s.apply(ctx, results)
	var unmatched []Result
	for _, i := range idx {
		unmatched = append(unmatched, results[i])
	}
	return n, unmatched, err
}

// apply is Apply returning the indexes of the unmatched results.
func (s *Settler) apply(ctx context.Context, results []Result) (int, []int, error) {
	s.init()
	var final []Result
	var from []int // final[i] is results[from[i]]
	for j, r := range results {
		if r.Undocumented != "" {
			if _, seen := s.undocumented.LoadOrStore(string(r.Provider)+"\x00"+r.Undocumented, true); !seen {
				s.logger().Warn("provider status not documented; the line stays pending until a documented status arrives",
					"provider", r.Provider, "status", r.Undocumented, "reference", r.Reference)
			}
		}
		if r.Status == StatePaid || r.Status == StateFailed {
			final = append(final, r)
			from = append(from, j)
		}
	}
	if len(final) == 0 {
		return 0, nil, nil
	}
	settled, err := s.Ledger.Settle(ctx, final)
	if err != nil {
		return 0, nil, err
	}
	n := 0
	var unmatched []int
	for i, st := range settled {
		switch st.Action {
		case Applied:
			n++
		case Flagged:
			s.logger().Warn("result not applied: it contradicts the ledger", "batch", st.BatchID, "line", st.LineRef,
				"source", st.Result.Source, "status", st.Result.Status, "note", st.Note)
		case Unmatched:
			unmatched = append(unmatched, from[i])
			s.logger().Debug("result matches no line yet", "provider", st.Result.Provider, "source", st.Result.Source, "note", st.Note)
		}
	}
	if n > 0 {
		s.Wake()
	}
	return n, unmatched, nil
}

func (s *Settler) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Settler waits until a batch's accepted lines settle: callbacks arrive
// through the ledger on their own (Wake tells the settler to look again),
// and whatever is left is polled with backoff and jitter, within each
// provider's rate budget.
type Settler struct {
	Ledger  SettleLedger
	Pollers map[ProviderName]Poller
	// Interval is the first wait before a request is polled, and the base
	// of its backoff (doubling up to MaxInterval).
	Interval    time.Duration
	MaxInterval time.Duration
	// Limiters pace status queries per provider; nil means unlimited. They
	// may be shared with other status queries (callback confirmation) so
	// that the total stays within the provider's budget.
	Limiters map[ProviderName]*rate.Limiter
	// Concurrency is how many status queries may be in flight at once
	// (default 8), so that provider latency does not stretch a sweep.
	Concurrency int
	Logger      *slog.Logger

	wakeOnce sync.Once
	wake     chan struct{}
	// undocumented remembers the provider statuses already logged.
	undocumented sync.Map
	// rs holds early results and queued hints (receive.go).
	rs receiveState
}

// Wake makes a waiting Settle look at the ledger again now (a callback was
// applied). It never blocks.
func (s *Settler) Wake() {
	s.init()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// init makes the wake channel once: callbacks call Wake concurrently with
// each other and with Settle.
func (s *Settler) init() {
	s.wakeOnce.Do(func() { s.wake = make(chan struct{}, 1) })
}

// Settle waits until no line of the batch is accepted-but-unsettled, or
// until the deadline (zero: no deadline) or ctx ends. It returns the
// number of requests still unsettled.
func (s *Settler) Settle(ctx context.Context, batchID string, deadline time.Time) (int, error) {
	s.init()
	if s.Interval <= 0 {
		s.Interval = 30 * time.Second
	}
	if s.MaxInterval < s.Interval {
		s.MaxInterval = max(10*time.Minute, s.Interval)
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Concurrency <= 0 {
		s.Concurrency = 8
	}
	limiters := s.Limiters
	type due struct {
		at    time.Time
		tries int
	}
	next := map[string]*due{} // provider reference → when to poll
	polledRound := 0          // requests polled since the last "poll round" log
	for {
		pending, err := s.Ledger.Unsettled(ctx, batchID)
		if err != nil {
			return 0, fmt.Errorf("settle: %w", err)
		}
		if len(pending) == 0 {
			return 0, nil
		}
		now := time.Now()
		if !deadline.IsZero() && !now.Before(deadline) {
			return len(pending), nil
		}
		earliest := time.Time{}
		var dueList []Unsettled
		for _, u := range pending {
			key := string(u.Provider) + " " + u.Reference
			d, ok := next[key]
			if !ok {
				d = &due{at: now.Add(jitter(s.Interval))}
				next[key] = d
			}
			if d.at.After(now) {
				if earliest.IsZero() || d.at.Before(earliest) {
					earliest = d.at
				}
				continue
			}
			if s.Pollers[u.Provider] != nil {
				dueList = append(dueList, u)
			}
		}
		if len(dueList) > 0 {
			polledRound += len(dueList)
			if err := s.sweep(ctx, dueList, limiters, func(u Unsettled) {
				d := next[string(u.Provider)+" "+u.Reference]
				d.tries++
				d.at = time.Now().Add(jitter(min(s.Interval<<min(d.tries, 10), s.MaxInterval)))
			}); err != nil {
				return len(pending), err
			}
			continue // look at the ledger again
		}
		wait := s.Interval // nothing pollable is due: wait for a callback
		if !earliest.IsZero() {
			wait = time.Until(earliest)
		}
		if !deadline.IsZero() {
			wait = min(wait, time.Until(deadline))
		}
		if polledRound > 0 {
			// One line per poll round: a cron settle shows it is alive,
			// and a person sees where the batch stands.
			args := []any{"batch", batchID, "polled", polledRound, "unsettled_requests", len(pending),
				"next_poll_in", max(wait, 0).Round(time.Second).String()}
			if c, ok := s.Ledger.(StateCounter); ok {
				if counts, err := c.Counts(ctx, batchID); err == nil {
					for _, st := range []State{StatePaid, StateFailed, StateAccepted, StateUnknown} {
						args = append(args, string(st), counts[st])
					}
				}
			}
			s.logger().Info("poll round", args...)
			polledRound = 0
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-t.C:
		case <-s.wake:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return len(pending), ctx.Err()
		}
	}
}

// jitter spreads d by ±20% so that many batches do not poll in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - d/5 + rand.N(2*d/5+1)
}

// sweep polls the due requests, Concurrency at a time within each
// provider's rate, and applies what they say. polled is called for each
// request queried, successfully or not.
func (s *Settler) sweep(ctx context.Context, dueList []Unsettled, limiters map[ProviderName]*rate.Limiter, polled func(Unsettled)) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(s.Concurrency, 1))
	for _, u := range dueList {
		if lim := limiters[u.Provider]; lim != nil {
			if err := lim.Wait(gctx); err != nil {
				break
			}
		}
		g.Go(func() error {
			results, err := s.Pollers[u.Provider].Poll(gctx, u.Reference)
			mu.Lock()
			polled(u)
			mu.Unlock()
			if err != nil {
				if gctx.Err() == nil {
					s.Logger.Warn("status query failed; will try again", "provider", u.Provider, "reference", u.Reference, "err", err)
				}
				return nil
			}
			Stamp(results, u.Provider, u.Reference, "poll")
			if _, _, err := s.Apply(gctx, results); err != nil {
				return fmt.Errorf("settle: apply poll results: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
