package kiotapay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"payroll/batch"
)

// memTransport answers in memory (no network, so it runs inside a
// synctest bubble) and records when each send-money request arrived.
type memTransport struct {
	mu    sync.Mutex
	sends []sent
}

type sent struct {
	at    time.Time
	phone string
}

func (m *memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body := `{"status":"200 OK","data":{"access_token":"tok","expires_in":300}}`
	if strings.HasSuffix(r.URL.Path, "/send-money") {
		b, _ := io.ReadAll(r.Body)
		phone := string(b[len(`{"phoneNumber":"`) : len(`{"phoneNumber":"`)+12])
		m.mu.Lock()
		m.sends = append(m.sends, sent{time.Now(), phone})
		n := len(m.sends)
		m.mu.Unlock()
		body = fmt.Sprintf(`{"status":201,"data":{"requestId":"req-%d"}}`, n)
	}
	return &http.Response{StatusCode: 201, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// TestLimiter proves, on synctest's fake clock, that sends respect the
// global rate (2/s, burst 1) and the per-phone interval (10 s) from
// concurrent senders: 3 phones, 4 sends each.
func TestLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mt := &memTransport{}
		c := newTestClient(t, "http://kiotapay.test", func(cfg *Config) {
			cfg.HTTPClient = &http.Client{Transport: mt}
			cfg.Rate, cfg.Burst, cfg.PerPhoneInterval = 2, 1, 10*time.Second
		})
		start := time.Now()
		phones := []string{"254712345601", "254712345602", "254712345603"}
		var wg sync.WaitGroup
		for _, p := range phones {
			for i := range 4 {
				wg.Go(func() {
					if _, err := c.Send(t.Context(), one(kes(fmt.Sprint(p, i), p, "100"))); err != nil {
						t.Error(err)
					}
				})
			}
		}
		wg.Wait()
		if len(mt.sends) != 12 {
			t.Fatalf("%d sends, want 12", len(mt.sends))
		}
		last := map[string]time.Time{}
		for i, s := range mt.sends {
			if i > 0 {
				if gap := s.at.Sub(mt.sends[i-1].at); gap < 500*time.Millisecond {
					t.Errorf("send %d only %s after the previous one (rate 2/s)", i, gap)
				}
			}
			if prev, ok := last[s.phone]; ok && s.at.Sub(prev) < 10*time.Second {
				t.Errorf("send %d to %s only %s after the previous one to it", i, s.phone, s.at.Sub(prev))
			}
			last[s.phone] = s.at
		}
		// 4 sends per phone need 3 intervals: about 30 s of fake time.
		if took := time.Since(start); took < 30*time.Second || took > 32*time.Second {
			t.Errorf("took %s of fake time, want about 30 s", took)
		}
	})
}

// TestLimiterWaitFailureIsNotSent: a deadline that comes before the
// phone's turn fails the wait, and the error says nothing was sent.
func TestLimiterWaitFailureIsNotSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mt := &memTransport{}
		c := newTestClient(t, "http://kiotapay.test", func(cfg *Config) {
			cfg.HTTPClient = &http.Client{Transport: mt}
			cfg.Rate, cfg.Burst, cfg.PerPhoneInterval = 1, 1, time.Minute
		})
		if _, err := c.Send(t.Context(), one(kes("a", "254712345601", "100"))); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := c.Send(ctx, one(kes("b", "254712345601", "100")))
		if !errors.Is(err, batch.ErrTransient) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want ErrTransient wrapping the deadline", err)
		}
		// Global limiter: rate 1/s burst 1; a deadline shorter than the
		// wait fails at once with rate's own error, still "not sent".
		ctx2, cancel2 := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel2()
		if _, err := c.Send(t.Context(), one(kes("c", "254712345602", "100"))); err != nil {
			t.Fatal(err)
		}
		_, err = c.Send(ctx2, one(kes("d", "254712345603", "100")))
		if !errors.Is(err, batch.ErrTransient) {
			t.Fatalf("error %v, want ErrTransient", err)
		}
		if len(mt.sends) != 2 {
			t.Errorf("%d sends, want 2", len(mt.sends))
		}
	})
}
