package batch

import (
	"context"
	"sync"
	"time"
)

// Callbacks reach the settler two ways (docs/design.md §3, invariant 5):
//
//   - Receive takes trusted results (a Kopo Kopo callback whose signature
//     the provider package verified). A result whose reference the ledger
//     does not know yet — the provider called back before its HTTP answer
//     reached us — is held and applied again until it matches or expires;
//     polling covers the rest.
//   - Hint takes an untrusted callback's reference (KiotaPay callbacks are
//     unsigned): the settler confirms it with a status query from a queue,
//     within the provider's status budget, and applies only what the query
//     says. Nothing from a hint's body is ever committed.
//
// Serve runs the holding and confirming work until its context ends.

// Held results and queued hints: at most this many, for at most this long.
const (
	maxHeld     = 100_000
	holdFor     = 2 * time.Minute
	holdTick    = 100 * time.Millisecond
	hintQueue   = 100_000
	hintWorkers = 64 // a KiotaPay confirmation is two round trips (status, then the record for its receipt)
)

type heldResult struct {
	r     Result
	until time.Time
}

type hint struct {
	p   ProviderName
	ref string
}

// receiveState is the settler's callback state, made on first use.
type receiveState struct {
	once   sync.Once
	mu     sync.Mutex
	early  []heldResult
	hints  chan hint
	queued map[hint]bool
}

func (s *Settler) recv() *receiveState {
	s.rs.once.Do(func() {
		s.rs.hints = make(chan hint, hintQueue)
		s.rs.queued = map[hint]bool{}
	})
	return &s.rs
}

// Receive applies trusted results from a callback, holding those whose
// reference is not recorded yet. An error means the ledger did not record
// them (the caller answers the provider with an error, so it calls again).
func (s *Settler) Receive(ctx context.Context, results []Result) error {
	Failpoint("mid-callback")
	_, unmatched, err := s.Apply(ctx, results)
	if err != nil {
		return err
	}
	if len(unmatched) > 0 {
		rs := s.recv()
		until := time.Now().Add(holdFor)
		rs.mu.Lock()
		for _, r := range unmatched {
			if len(rs.early) < maxHeld {
				rs.early = append(rs.early, heldResult{r, until})
			}
		}
		rs.mu.Unlock()
	}
	return nil
}

// Hint queues a status query for the reference an unsigned callback named.
// It reports false when the queue is full or the settler has no poller for
// the provider (the caller answers "busy", and polling settles the line
// anyway). A reference already queued is queued
// once.
func (s *Settler) Hint(p ProviderName, reference string) bool {
	if s.Pollers[p] == nil {
		return false // nothing to confirm it with
	}
	rs := s.recv()
	h := hint{p, reference}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.queued[h] {
		return true
	}
	if len(rs.queued) >= hintQueue {
		return false
	}
	rs.queued[h] = true
	rs.hints <- h // never blocks: the channel holds hintQueue hints
	return true
}

// Serve confirms hints and applies held results again until ctx ends.
func (s *Settler) Serve(ctx context.Context) {
	s.init()
	var wg sync.WaitGroup
	wg.Go(func() { s.retryHeld(ctx) })
	for range hintWorkers {
		wg.Go(func() { s.confirmLoop(ctx) })
	}
	wg.Wait()
}

// confirmLoop confirms queued hints with status queries, paced by the
// provider's status limiter (shared with polling).
func (s *Settler) confirmLoop(ctx context.Context) {
	rs := s.recv()
	for {
		var h hint
		select {
		case <-ctx.Done():
			return
		case h = <-rs.hints:
		}
		rs.mu.Lock()
		delete(rs.queued, h)
		rs.mu.Unlock()
		poller := s.Pollers[h.p]
		if poller == nil {
			continue
		}
		if lim := s.Limiters[h.p]; lim != nil && lim.Wait(ctx) != nil {
			return
		}
		results, err := poller.Poll(ctx, h.ref)
		if err != nil {
			if ctx.Err() == nil {
				s.logger().Warn("callback not confirmed: status query failed; polling will retry", "provider", h.p, "reference", h.ref, "err", err)
			}
			continue
		}
		Stamp(results, h.p, h.ref, "callback")
		if err := s.Receive(ctx, results); err != nil && ctx.Err() == nil {
			s.logger().Error("callback not recorded; polling will retry", "provider", h.p, "reference", h.ref, "err", err)
		}
	}
}

// retryHeld applies held results again every holdTick, until they match
// or expire.
func (s *Settler) retryHeld(ctx context.Context) {
	rs := s.recv()
	t := time.NewTicker(holdTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rs.mu.Lock()
		held := rs.early
		rs.early = nil
		rs.mu.Unlock()
		if len(held) == 0 {
			continue
		}
		results := make([]Result, len(held))
		for i, h := range held {
			results[i] = h.r
		}
		_, unmatched, err := s.apply(context.WithoutCancel(ctx), results)
		if err != nil {
			s.logger().Warn("held callbacks not recorded; polling will settle them", "err", err)
			continue
		}
		now := time.Now()
		var keep []heldResult
		for _, i := range unmatched {
			if now.Before(held[i].until) {
				keep = append(keep, held[i])
			}
		}
		rs.mu.Lock()
		rs.early = append(keep, rs.early...)
		rs.mu.Unlock()
	}
}
