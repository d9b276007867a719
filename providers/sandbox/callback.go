package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// SignatureHeader is the header carrying a Kopo Kopo callback's signature.
const SignatureHeader = "X-KopoKopo-Signature"

// Sign returns the Kopo Kopo signature of body: the lower-case hex
// HMAC-SHA256 of the exact body bytes, keyed with the API key.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// callbackJob is one callback POST.
type callbackJob struct {
	provider Provider
	url      string
	body     []byte
	header   http.Header
	note     string // "genuine", "duplicate", "forged", "wrong_amount"
}

// callbacks is the pool of goroutines delivering callbacks.
type callbacks struct {
	log    *slog.Logger
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []callbackJob
	inflight int
	closed   bool
	sent     int
	errors   int
}

func newCallbacks(workers int, timeout time.Duration, log *slog.Logger) *callbacks {
	c := &callbacks{log: log, client: &http.Client{Timeout: timeout}}
	c.cond = sync.NewCond(&c.mu)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for range workers {
		c.wg.Go(c.work)
	}
	return c
}

// enqueue schedules a job without blocking; after close it is dropped.
func (c *callbacks) enqueue(j callbackJob) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.queue = append(c.queue, j)
	c.cond.Signal()
}

func (c *callbacks) work() {
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closed {
			c.cond.Wait()
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		j := c.queue[0]
		c.queue = c.queue[1:]
		c.inflight++
		c.mu.Unlock()

		ok := c.post(j)

		c.mu.Lock()
		c.inflight--
		if ok {
			c.sent++
		} else {
			c.errors++
		}
		c.mu.Unlock()
	}
}

func (c *callbacks) post(j callbackJob) bool {
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, j.url, bytes.NewReader(j.body))
	if err != nil {
		c.log.Warn("sandbox callback", "provider", j.provider, "url", j.url, "kind", j.note, "err", err)
		return false
	}
	for k, v := range j.header {
		req.Header[k] = v
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.log.Warn("sandbox callback", "provider", j.provider, "url", j.url, "kind", j.note, "err", err)
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	c.log.Info("sandbox callback", "provider", j.provider, "url", j.url, "kind", j.note, "status", resp.StatusCode)
	return resp.StatusCode/100 == 2
}

// idle reports whether no callback is queued or in flight.
func (c *callbacks) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue) == 0 && c.inflight == 0
}

// counts returns the number of delivered (2xx) and failed callbacks.
func (c *callbacks) counts() (sent, failed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent, c.errors
}

// close drops queued jobs, aborts those in flight and waits for the workers.
func (c *callbacks) close() {
	c.mu.Lock()
	c.closed = true
	c.queue = nil
	c.cond.Broadcast()
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// dispatch delivers the callbacks of one settlement, applying the callback
// faults of provider p. genuine is the true callback; forged and wrong build
// the faulty variants on demand.
func (s *Sandbox) dispatch(p Provider, genuine callbackJob, forged, wrong func() callbackJob) {
	s.mu.Lock()
	ps := s.prov[p]
	f := ps.faults
	doForge := s.fireLocked(ps, "callback_forged", f.CallbackForged)
	doWrong := s.fireLocked(ps, "callback_wrong_amount", f.CallbackWrongAmount)
	lost := s.fireLocked(ps, "callback_lost", f.CallbackLost)
	dup := s.fireLocked(ps, "callback_duplicate", f.CallbackDuplicate)
	late := s.fireLocked(ps, "callback_delayed", f.CallbackDelayed)
	delay := orDuration(f.CallbackDelay, DefaultCallbackDelay)
	s.mu.Unlock()

	if doForge {
		s.cb.enqueue(forged())
	}
	if lost {
		return
	}
	j := genuine
	if doWrong {
		j = wrong()
	}
	send := func() {
		s.cb.enqueue(j)
		if dup {
			d := j
			d.note += "+duplicate"
			s.cb.enqueue(d)
		}
	}
	if late {
		s.after(delay, false, send)
		return
	}
	send()
}

// CallbackCounts returns how many callbacks were delivered with a 2xx answer
// and how many failed (error or other status). Callbacks are not retried.
func (s *Sandbox) CallbackCounts() (delivered, failed int) { return s.cb.counts() }
