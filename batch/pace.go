package batch

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Pacer applies a provider's rate limit and per-phone spacing: the one
// place sends are paced (docs/design.md §4). It has two gates at the same
// rate. The runner waits at the first (Wait) before it commits a chunk's
// intent, so that a crash while waiting leaves the lines pending, not
// unknown, and claims are never far ahead of the rate. A client that
// shares the pacer passes the second (Depart) right before each request
// leaves, and again before the resend after a 401, so that requests leave
// evenly spaced however the claims' commits bunch up (measured: without
// it, a 50/s run left at up to 1.10 × the rate). A phone is held busy from
// the moment its request may go until the request returns, and its
// interval starts when the request returns, so two payouts to one phone
// are at least PerPhoneInterval apart however long a request takes.
type Pacer struct {
	inFlight int // concurrent requests the runner keeps
	global   *rate.Limiter
	depart   *rate.Limiter
	interval time.Duration
	mu       sync.Mutex
	next     map[string]time.Time // phone → earliest next send
	busy     map[string]bool      // phone → a request is in flight
}

// NewPacer makes a pacer for one provider.
func NewPacer(l Pacing) *Pacer {
	p := &Pacer{interval: l.PerPhoneInterval, inFlight: l.InFlight, next: map[string]time.Time{}, busy: map[string]bool{}}
	if l.Rate > 0 {
		p.global = rate.NewLimiter(l.Rate, max(l.Burst, 1))
		p.depart = rate.NewLimiter(l.Rate, max(l.Burst, 1))
	}
	return p
}

func phonesOf(c Chunk) []string {
	var out []string
	for i := range c.Lines {
		if ph := c.Lines[i].Dest.Phone; ph != "" {
			out = append(out, ph.Digits())
		}
	}
	return out
}

// Wait blocks until the chunk may be sent. An error means it must not be
// sent now (shutdown). After a nil error the caller must call Done.
func (p *Pacer) Wait(ctx context.Context, c Chunk) error {
	if p.interval > 0 {
		phones := phonesOf(c)
		for {
			p.mu.Lock()
			now := time.Now()
			until, busy := now, false
			for _, k := range phones {
				busy = busy || p.busy[k]
				if t := p.next[k]; t.After(until) {
					until = t
				}
			}
			if !busy && !until.After(now) {
				for _, k := range phones {
					p.busy[k] = true
				}
				p.mu.Unlock()
				break
			}
			p.mu.Unlock()
			d := until.Sub(now)
			if busy {
				d = max(d, 5*time.Millisecond) // poll until the phone's request returns
			}
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
	}
	if p.global != nil {
		if err := p.global.Wait(ctx); err != nil {
			p.Done(c, false)
			return err
		}
	}
	return nil
}

// Done releases the chunk's phones; if a request was sent, their interval
// starts now.
func (p *Pacer) Done(c Chunk, sent bool) {
	if p.interval <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for _, k := range phonesOf(c) {
		delete(p.busy, k)
		if sent {
			p.next[k] = now.Add(p.interval)
		}
	}
}

// Depart waits for a request's turn to leave. A client calls it right
// before each request, including the resend after a 401 (the refused
// request ran nothing, but it counted against the provider's rate). An
// error means the request must not go (shutdown). A nil pacer, or one
// without a rate, never waits.
func (p *Pacer) Depart(ctx context.Context) error {
	if p == nil || p.depart == nil {
		return nil
	}
	return p.depart.Wait(ctx)
}
