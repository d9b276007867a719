package kiotapay

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter paces sends: a per-phone minimum interval between two sends to
// one phone, then a global token bucket. The per-phone wait comes first
// and the global one last, so the global rate holds at the moment each
// request leaves, and the per-phone gap is measured between the moments
// two requests to the phone left (the time is recorded after the global
// wait). Sends to one phone are serialised by that phone's gate.
type limiter struct {
	global   *rate.Limiter
	interval time.Duration

	mu     sync.Mutex
	phones map[string]*phoneGate // bounded by the batch: no eviction
}

type phoneGate struct {
	sem  chan struct{} // one send to this phone at a time
	last time.Time     // when the last request to this phone left; guarded by limiter.mu
}

func newLimiter(r rate.Limit, burst int, interval time.Duration) *limiter {
	return &limiter{global: rate.NewLimiter(r, burst), interval: interval, phones: map[string]*phoneGate{}}
}

// wait blocks until a request to phone may leave, or ctx ends. On success
// the send is recorded as leaving now. Any error means "not sent".
func (l *limiter) wait(ctx context.Context, phone string) error {
	if l.interval <= 0 {
		return l.global.Wait(ctx)
	}
	l.mu.Lock()
	g := l.phones[phone]
	if g == nil {
		g = &phoneGate{sem: make(chan struct{}, 1)}
		l.phones[phone] = g
	}
	l.mu.Unlock()
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.sem }()
	l.mu.Lock()
	last := g.last
	l.mu.Unlock()
	if !last.IsZero() {
		if d := time.Until(last.Add(l.interval)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
	}
	if err := l.global.Wait(ctx); err != nil {
		return err
	}
	l.mu.Lock()
	g.last = time.Now()
	l.mu.Unlock()
	return nil
}

// again paces the resend that follows a 401: the global rate holds for
// it too, and the phone's last send time moves to the resend. (The
// refused request did not pay, so the phone interval is not waited again.)
func (l *limiter) again(ctx context.Context, phone string) error {
	if err := l.global.Wait(ctx); err != nil {
		return err
	}
	l.mu.Lock()
	if g := l.phones[phone]; g != nil {
		g.last = time.Now()
	}
	l.mu.Unlock()
	return nil
}
