package sandbox

import (
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/hex"
	"hash/maphash"

	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Provider names one of the emulated payout providers.
type Provider string

// The emulated providers.
const (
	KopoKopo Provider = "kopokopo"
	KiotaPay Provider = "kiotapay"
)

// Defaults used when the matching option is zero.
const (
	DefaultProcessingDelay      = 50 * time.Millisecond
	DefaultKopoKopoTokenLife    = 3600 * time.Second
	DefaultKiotaPayTokenLife    = 300 * time.Second
	DefaultKopoKopoMinAmount    = 10
	DefaultKopoKopoMaxAmount    = 250_000
	DefaultKopoKopoDestinations = 50
	DefaultCallbackTimeout      = 2 * time.Second
	DefaultCallbackWorkers      = 4
	DefaultCallbackDelay        = 100 * time.Millisecond
	DefaultRetryAfter           = time.Second
)

// Options configures a Sandbox. The zero value is usable: random
// credentials, seed 1, the documented defaults and no faults.
type Options struct {
	// Seed makes every random choice (ids, receipts, batch order, faults
	// with a probability) reproducible. Zero means 1.
	Seed uint64
	// Credentials the emulators accept; empty fields are generated randomly.
	Credentials Credentials
	// ProcessingDelay is the time from acceptance to settlement (Kopo Kopo
	// Scheduled -> Processed, KiotaPay PENDING -> SUCCESS/FAILED). Zero means
	// DefaultProcessingDelay; a negative value settles at once.
	ProcessingDelay time.Duration
	// FailRule decides which payouts fail, given the destination identity
	// (see Payout.Identity) and the whole-number amount. Nil means
	// FailSuffix("999"). It can be replaced at run time with SetFailRule.
	// It runs with the sandbox locked, so it must not call the Sandbox.
	FailRule func(identity, amount string) bool
	// CallbackTimeout bounds each callback POST. Zero means DefaultCallbackTimeout.
	CallbackTimeout time.Duration
	// CallbackWorkers is the size of the callback goroutine pool. Zero means
	// DefaultCallbackWorkers.
	CallbackWorkers int
	// BaseURL, if set, is used in Location headers and self links instead of
	// the scheme and Host of the incoming request.
	BaseURL string
	// Logger, if set, receives one line per request and per callback.
	Logger *slog.Logger

	// KopoKopo configures the Kopo Kopo emulator.
	KopoKopo KopoKopoOptions
	// KiotaPay configures the KiotaPay emulator.
	KiotaPay KiotaPayOptions
}

// Traffic holds the server-side traffic rules both emulators share.
type Traffic struct {
	// RateLimit, if positive, is the sustained number of send requests per
	// second the emulator accepts; requests beyond it get 429 with
	// Retry-After and count as ViolationRateLimit.
	RateLimit float64
	// Burst is the token-bucket size for RateLimit. Zero means 1.
	Burst int
	// MinPhoneInterval, if positive, is the least time allowed between two
	// accepted payouts to the same phone; a closer one counts as
	// ViolationPhoneInterval (the payout is still accepted, as a real
	// provider would).
	MinPhoneInterval time.Duration
	// Faults are the faults injected from the start; see SetFaults.
	Faults Faults
}

// KopoKopoOptions configures the Kopo Kopo K2 Connect emulator.
type KopoKopoOptions struct {
	Traffic
	// TokenLifetime of OAuth tokens. Zero means DefaultKopoKopoTokenLife.
	TokenLifetime time.Duration
	// MinAmount and MaxAmount bound each destination's amount in whole KES.
	// Zero means DefaultKopoKopoMinAmount / DefaultKopoKopoMaxAmount.
	MinAmount, MaxAmount int64
	// MaxDestinations caps destinations per send_money request. Zero means
	// DefaultKopoKopoDestinations. The real cap is undocumented.
	MaxDestinations int
	// SourceIdentifiers, if not empty, lists the only accepted
	// source_identifier values (null is always accepted).
	SourceIdentifiers []string
	// ErrorsArray makes 400 bodies {"errors":["..."]} instead of
	// {"error_code":400,"error_message":"..."}; both shapes are seen live.
	ErrorsArray bool
}

// KiotaPayOptions configures the KiotaPay emulator.
type KiotaPayOptions struct {
	Traffic
	// TokenLifetime of access tokens. Zero means DefaultKiotaPayTokenLife.
	TokenLifetime time.Duration
	// RecordReferenceID adds the referenceId sent to the records of
	// send-money/single and /all. The documented records do not show it
	// (docs/providers.md §3), so it is off by default; tests turn it on to
	// show what reconciling from the records can prove if the live API
	// returns it.
	RecordReferenceID bool
}

// Credentials are the secrets the emulators accept. The names follow the
// environment variables the payroll tool reads.
type Credentials struct {
	KopoKopoClientID     string `json:"kopokopo_client_id"`
	KopoKopoClientSecret string `json:"kopokopo_client_secret"`
	// KopoKopoAPIKey keys the HMAC of Kopo Kopo callbacks.
	KopoKopoAPIKey    string `json:"kopokopo_api_key"`
	KiotaPayAPIKey    string `json:"kiotapay_api_key"`
	KiotaPayAPISecret string `json:"kiotapay_api_secret"`
}

// Env returns the credentials as NAME=value pairs, in the names the payroll
// tool reads from its environment.
func (c Credentials) Env() []string {
	return []string{
		"KOPOKOPO_CLIENT_ID=" + c.KopoKopoClientID,
		"KOPOKOPO_CLIENT_SECRET=" + c.KopoKopoClientSecret,
		"KOPOKOPO_API_KEY=" + c.KopoKopoAPIKey,
		"KIOTAPAY_API_KEY=" + c.KiotaPayAPIKey,
		"KIOTAPAY_API_SECRET=" + c.KiotaPayAPISecret,
	}
}

// FailSuffix returns a FailRule that fails every payout whose destination
// number or account (the last part of its identity) ends in one of suffixes.
func FailSuffix(suffixes ...string) func(identity, amount string) bool {
	return func(identity, _ string) bool {
		last := identity[strings.LastIndexByte(identity, ':')+1:]
		for _, s := range suffixes {
			if s != "" && strings.HasSuffix(last, s) {
				return true
			}
		}
		return false
	}
}

// Sandbox emulates both providers. Create it with New, serve Handler (or
// call Start), and Close it when done. All methods are safe for concurrent use.
type Sandbox struct {
	opts  Options
	creds Credentials
	delay time.Duration
	log   *slog.Logger
	mux   *http.ServeMux

	mu       sync.Mutex
	rng      *mrand.Rand
	failRule func(identity, amount string) bool
	prov     map[Provider]*provState
	blocks   [][]payout         // the record of truth, in acceptance order
	npayouts int                // payouts in blocks
	byPayee  map[uint64]*payout // the latest payout to each payee (payeeHash), for the duplicate check
	seed     maphash.Seed
	packer   *flate.Writer // compresses Kopo Kopo requests' destinations (packLocked)
	k2       map[string]*k2Request
	kp       map[string]*kpRecord
	kpOrder  []string
	refIDs   map[string]string // KiotaPay referenceId -> requestId
	viol     []Violation
	requests map[string]int
	timers   map[*time.Timer]bool // true: a settlement
	nextKPID int

	cb  *callbacks
	srv *http.Server
}

// New returns a Sandbox configured by opts.
func New(opts Options) *Sandbox {
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	s := &Sandbox{
		opts:     opts,
		creds:    fillCredentials(opts.Credentials),
		delay:    opts.ProcessingDelay,
		log:      opts.Logger,
		rng:      mrand.New(mrand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		failRule: opts.FailRule,
		k2:       map[string]*k2Request{},
		kp:       map[string]*kpRecord{},
		refIDs:   map[string]string{},
		requests: map[string]int{},
		timers:   map[*time.Timer]bool{},
		nextKPID: 1000,
	}
	if s.delay == 0 {
		s.delay = DefaultProcessingDelay
	} else if s.delay < 0 {
		s.delay = 0
	}
	if s.failRule == nil {
		s.failRule = FailSuffix("999")
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	k2life := orDuration(opts.KopoKopo.TokenLifetime, DefaultKopoKopoTokenLife)
	kplife := orDuration(opts.KiotaPay.TokenLifetime, DefaultKiotaPayTokenLife)
	s.prov = map[Provider]*provState{
		KopoKopo: newProvState(KopoKopo, k2life, opts.KopoKopo.Traffic),
		KiotaPay: newProvState(KiotaPay, kplife, opts.KiotaPay.Traffic),
	}
	s.cb = newCallbacks(orInt(opts.CallbackWorkers, DefaultCallbackWorkers),
		orDuration(opts.CallbackTimeout, DefaultCallbackTimeout), s.log)
	s.mux = http.NewServeMux()
	s.routeKopoKopo()
	s.routeKiotaPay()
	s.routeAdmin()
	return s
}

// Credentials returns the credentials the emulators accept.
func (s *Sandbox) Credentials() Credentials { return s.creds }

// Handler returns the HTTP handler serving both emulators and the /_sandbox/
// inspection endpoints. Their paths do not overlap, so one base URL serves
// both providers.
func (s *Sandbox) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start serves Handler on a new listener on 127.0.0.1 and returns its base
// URL (e.g. "http://127.0.0.1:41234"). Close stops it.
func (s *Sandbox) Start() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("sandbox: listen: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Close stops the listener opened by Start (if any), cancels settlements and
// callbacks not yet due, and waits for the callback goroutines to finish.
// The record of truth stays readable.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	for t := range s.timers {
		t.Stop()
	}
	clear(s.timers)
	s.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.Close()
	}
	s.cb.close()
	return err
}

// Flush waits until every accepted payout is settled and every callback due
// so far has been delivered (or given up), or until ctx is done. With a long
// ProcessingDelay, call Settle first.
func (s *Sandbox) Flush(ctx context.Context) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		busy := len(s.timers) > 0
		s.mu.Unlock()
		if !busy && s.cb.idle() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// SetFailRule replaces the rule deciding which payouts fail (see
// Options.FailRule); nil restores FailSuffix("999"). It applies to payouts
// settled from now on.
func (s *Sandbox) SetFailRule(rule func(identity, amount string) bool) {
	if rule == nil {
		rule = FailSuffix("999")
	}
	s.mu.Lock()
	s.failRule = rule
	s.mu.Unlock()
}

// after runs f after d on a timer that Close cancels and Flush waits for.
// settle marks the timer as a settlement, which Settle may run early.
func (s *Sandbox) after(d time.Duration, settle bool, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		_, live := s.timers[t]
		s.mu.Unlock()
		if live {
			f()
		}
		s.mu.Lock()
		delete(s.timers, t)
		s.mu.Unlock()
	})
	s.timers[t] = settle
}

// Settle settles every pending payout now, whatever the processing delay,
// and sends the callbacks. With a long ProcessingDelay it lets a test hold
// payouts pending and release them when it chooses.
func (s *Sandbox) Settle() {
	s.mu.Lock()
	for t, settle := range s.timers {
		if settle && t.Stop() {
			delete(s.timers, t)
		}
	}
	var k2, kp []string
	for id, req := range s.k2 {
		if !req.processed {
			k2 = append(k2, id)
		}
	}
	for _, id := range s.kpOrder {
		if s.kp[id].payout.state() == StatusPending {
			kp = append(kp, id)
		}
	}
	s.mu.Unlock()
	slices.Sort(k2) // map order is random; keep the seeded choices reproducible
	for _, id := range k2 {
		s.k2Settle(id)
	}
	for _, id := range kp {
		s.kpSettle(id)
	}
}

func (s *Sandbox) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		v := recover()
		if rec.status == 0 {
			// No response: the connection was dropped on purpose.
			s.log.Info("sandbox request", "method", r.Method, "path", r.URL.Path, "status", 0, "dropped", true, "duration", time.Since(start))
		} else {
			s.log.Info("sandbox request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
		}
		if v != nil {
			panic(v)
		}
	}()
	_, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mu.Lock()
		s.requests[pattern]++
		s.mu.Unlock()
	}
	s.mux.ServeHTTP(rec, r)
}

// statusRecorder remembers the status code for the request log (0 while
// nothing was written).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Hijack).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// baseURL is the scheme and host used in Location headers and self links.
func (s *Sandbox) baseURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimRight(s.opts.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// dropConnection closes the client connection without any response.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// sleepCtx waits d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// uuidLocked returns a version-4 UUID from the seeded generator. s.mu must be held.
func (s *Sandbox) uuidLocked() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := s.rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// receiptLocked returns an M-PESA style receipt such as "QCL160124A7".
// s.mu must be held.
func (s *Sandbox) receiptLocked() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 11)
	for i := range b {
		if i < 3 {
			b[i] = letters[s.rng.IntN(len(letters))]
		} else {
			b[i] = alnum[s.rng.IntN(len(alnum))]
		}
	}
	return string(b)
}

func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

func fillCredentials(c Credentials) Credentials {
	fill := func(v *string, n int) {
		if *v == "" {
			*v = randomSecret(n)
		}
	}
	fill(&c.KopoKopoClientID, 16)
	fill(&c.KopoKopoClientSecret, 24)
	fill(&c.KopoKopoAPIKey, 20)
	fill(&c.KiotaPayAPIKey, 16)
	fill(&c.KiotaPayAPISecret, 24)
	return c
}

func orDuration(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

func orInt[T int | int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}
