package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Trigger decides when a fault fires. A trigger is evaluated once per
// eligible event (a send request, a settled callback, an authenticated
// request); it fires when any of its parts fires. The zero Trigger never fires.
type Trigger struct {
	// Probability fires the fault with this chance (0..1), drawn from the
	// sandbox's seeded generator.
	Probability float64 `json:"probability,omitempty"`
	// Every fires the fault on every Nth eligible event (the Nth, 2Nth, ...).
	Every int `json:"every,omitempty"`
	// Next fires the fault on the next N eligible events.
	Next int `json:"next,omitempty"`
}

// Always is a Trigger that fires on every eligible event.
var Always = Trigger{Every: 1}

// Faults are the faults injected into one provider's emulator. Send faults
// apply to the send endpoints only (Kopo Kopo POST /api/v2/send_money,
// KiotaPay POST .../send-money); they are evaluated in the order of the
// fields below, and the first that fires decides the response.
type Faults struct {
	// Latency delays every request of the provider by Latency plus a random
	// duration up to Jitter.
	Latency time.Duration `json:"latency,omitempty"`
	Jitter  time.Duration `json:"jitter,omitempty"`

	// ExpireTokens invalidates every token of the provider, before the
	// authenticated request that triggered it is checked (so it gets 401).
	ExpireTokens Trigger `json:"expire_tokens,omitzero"`

	// RateLimited answers 429 with Retry-After before accepting; nothing
	// is recorded.
	RateLimited Trigger `json:"rate_limited,omitzero"`
	// RetryAfter is the Retry-After of injected 429s. Zero means DefaultRetryAfter.
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// Unavailable answers 503 before accepting; nothing is recorded.
	Unavailable Trigger `json:"unavailable,omitzero"`
	// ErrorBefore answers 500 before accepting; nothing is recorded.
	ErrorBefore Trigger `json:"error_before,omitzero"`
	// ErrorAfter records (accepts) the payout, then answers 500.
	ErrorAfter Trigger `json:"error_after,omitzero"`
	// DropAfter records (accepts) the payout, then closes the connection
	// without any response.
	DropAfter Trigger `json:"drop_after,omitzero"`

	// CallbackLost never sends the genuine callback.
	CallbackLost Trigger `json:"callback_lost,omitzero"`
	// CallbackDuplicate sends the genuine callback twice.
	CallbackDuplicate Trigger `json:"callback_duplicate,omitzero"`
	// CallbackDelayed sends the genuine callback CallbackDelay late, so it
	// arrives after callbacks of later requests (reordered, late).
	CallbackDelayed Trigger `json:"callback_delayed,omitzero"`
	// CallbackDelay is the delay of CallbackDelayed. Zero means DefaultCallbackDelay.
	CallbackDelay time.Duration `json:"callback_delay,omitempty"`
	// CallbackForged sends a forged callback next to the genuine one (queued
	// first, but the pool may deliver them in either order) that claims
	// success (Kopo Kopo: every destination Transferred, signed with a wrong
	// key; KiotaPay: SUCCESS and FAILED swapped).
	CallbackForged Trigger `json:"callback_forged,omitzero"`
	// CallbackWrongAmount replaces the genuine callback with one whose
	// amounts are 100 higher than the truth (Kopo Kopo: correctly signed).
	CallbackWrongAmount Trigger `json:"callback_wrong_amount,omitzero"`
}

// trigState counts the evaluations of one trigger.
type trigState struct {
	seen int
	next int
}

// SetFaults replaces the faults of provider p at run time. Every/Next
// counters restart.
func (s *Sandbox) SetFaults(p Provider, f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.prov[p]
	if ps == nil {
		return
	}
	ps.faults = f
	clear(ps.trig)
}

// Faults returns the faults currently injected into provider p.
func (s *Sandbox) Faults(p Provider) Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps := s.prov[p]; ps != nil {
		return ps.faults
	}
	return Faults{}
}

// ExpireTokens invalidates every token issued by provider p: the next
// request with one of them gets 401 (expired).
func (s *Sandbox) ExpireTokens(p Provider) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps := s.prov[p]; ps != nil {
		ps.expireAll(time.Now())
	}
}

func (ps *provState) expireAll(now time.Time) {
	for tok, exp := range ps.tokens {
		if exp.After(now) {
			ps.tokens[tok] = now
		}
	}
}

// fireLocked evaluates trigger t, named name, of provider ps. s.mu must be held.
func (s *Sandbox) fireLocked(ps *provState, name string, t Trigger) bool {
	if t == (Trigger{}) {
		return false
	}
	st := ps.trig[name]
	if st == nil {
		st = &trigState{next: t.Next}
		ps.trig[name] = st
	}
	st.seen++
	fired := false
	if st.next > 0 {
		st.next--
		fired = true
	}
	if t.Every > 0 && st.seen%t.Every == 0 {
		fired = true
	}
	if t.Probability > 0 && s.rng.Float64() < t.Probability {
		fired = true
	}
	return fired
}

// fire evaluates a trigger of provider p.
func (s *Sandbox) fire(p Provider, name string, pick func(Faults) Trigger) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.prov[p]
	return s.fireLocked(ps, name, pick(ps.faults))
}

// latency applies the Latency fault; it reports false if the client went away.
func (s *Sandbox) latency(p Provider, r *http.Request) bool {
	s.mu.Lock()
	f := s.prov[p].faults
	d := f.Latency
	if f.Jitter > 0 {
		d += time.Duration(s.rng.Int64N(int64(f.Jitter) + 1))
	}
	s.mu.Unlock()
	return sleepCtx(r.Context(), d)
}

// issueToken creates a token of provider p valid for its lifetime.
func (s *Sandbox) issueToken(p Provider, tok string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.prov[p]
	ps.tokens[tok] = time.Now().Add(ps.lifetime)
	return ps.lifetime
}

// authResult is the outcome of a bearer token check.
type authResult int

const (
	authOK authResult = iota
	authMissing
	authInvalid
	authExpired
)

// authorize checks the request's bearer token for provider p, after
// applying the ExpireTokens fault.
func (s *Sandbox) authorize(p Provider, r *http.Request) authResult {
	h := r.Header.Get("Authorization")
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.prov[p]
	now := time.Now()
	if s.fireLocked(ps, "expire_tokens", ps.faults.ExpireTokens) {
		ps.expireAll(now)
	}
	if h == "" {
		return authMissing
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return authInvalid
	}
	exp, known := ps.tokens[tok]
	switch {
	case !known:
		return authInvalid
	case !now.Before(exp):
		return authExpired
	}
	return authOK
}

// newToken returns an opaque random token.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// errWriter writes a provider-shaped error response.
type errWriter func(w http.ResponseWriter, status int, msg string)

// sendAllowed counts a send request and applies the configured rate limit
// (a 429 that counts as ViolationRateLimit).
func (s *Sandbox) sendAllowed(p Provider, w http.ResponseWriter, fail errWriter) bool {
	s.mu.Lock()
	ps := s.prov[p]
	wait := ps.allowSend(time.Now())
	if wait > 0 {
		s.violationLocked(p, ViolationRateLimit, "send beyond %.3g/s (burst %d)", ps.traffic.RateLimit, ps.traffic.Burst)
	}
	s.mu.Unlock()
	if wait == 0 {
		return true
	}
	tooMany(w, wait, fail)
	return false
}

// tooMany answers 429 with a Retry-After of at least one second.
func tooMany(w http.ResponseWriter, wait time.Duration, fail errWriter) {
	secs := int64((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	fail(w, http.StatusTooManyRequests, "Too many requests")
}

// faultBefore applies the faults that refuse a valid send before anything
// is recorded; it reports whether one answered.
func (s *Sandbox) faultBefore(p Provider, w http.ResponseWriter, fail errWriter) bool {
	s.mu.Lock()
	ps := s.prov[p]
	f := ps.faults
	var status int
	switch {
	case s.fireLocked(ps, "rate_limited", f.RateLimited):
		status = http.StatusTooManyRequests
	case s.fireLocked(ps, "unavailable", f.Unavailable):
		status = http.StatusServiceUnavailable
	case s.fireLocked(ps, "error_before", f.ErrorBefore):
		status = http.StatusInternalServerError
	}
	s.mu.Unlock()
	switch status {
	case 0:
		return false
	case http.StatusTooManyRequests:
		tooMany(w, orDuration(f.RetryAfter, DefaultRetryAfter), fail)
	case http.StatusServiceUnavailable:
		fail(w, status, "Service unavailable")
	default:
		fail(w, status, "Internal server error")
	}
	return true
}

// faultAfter applies the faults that hit after the payout was recorded; it
// reports whether one answered (or dropped the connection).
func (s *Sandbox) faultAfter(p Provider, w http.ResponseWriter, fail errWriter) bool {
	s.mu.Lock()
	ps := s.prov[p]
	errAfter := s.fireLocked(ps, "error_after", ps.faults.ErrorAfter)
	drop := !errAfter && s.fireLocked(ps, "drop_after", ps.faults.DropAfter)
	s.mu.Unlock()
	switch {
	case errAfter:
		fail(w, http.StatusInternalServerError, "Internal server error")
	case drop:
		dropConnection(w)
	default:
		return false
	}
	return true
}
