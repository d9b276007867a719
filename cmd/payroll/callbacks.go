package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"payroll/batch"
	"payroll/providers/kiotapay"
	"payroll/providers/kopokopo"
)

// maxCallbackBody caps a callback's body: a Kopo Kopo result for 50
// destinations is about 40 KB.
const maxCallbackBody = 1 << 20

// callbackServer receives provider callbacks on callbacks.listen. A
// callback changes the ledger only when trusted (DESIGN.md §3, invariant
// 5): Kopo Kopo's by a valid HMAC over the raw body, KiotaPay's (unsigned)
// by confirming with a status query; and the ledger applies it only if its
// reference is known and its amount and destination match. The reply is
// sent after the ledger commit.
type callbackServer struct {
	e      *engine
	srv    *http.Server
	ln     net.Listener
	public string // base URL providers call
	token  string // KiotaPay path token
	done   chan struct{}
	served bool

	// early holds trusted results that arrived before the request's
	// reference was recorded: a provider may call back before its HTTP
	// answer reaches us. They are applied again until the reference is
	// known or they expire (polling covers the rest).
	mu       sync.Mutex
	early    []heldResult
	stopHold chan struct{}
	holdDone chan struct{}

	// KiotaPay callbacks are unsigned hints: each is acknowledged at once
	// and confirmed by a status query from this queue, so that provider
	// latency never holds the provider's callback delivery. Nothing from a
	// callback's body is ever committed; if the process stops before a
	// confirmation, polling settles the line.
	confirm     chan string
	queued      map[string]bool // request IDs waiting for confirmation
	confirmStop chan struct{}
	confirmWG   sync.WaitGroup
}

// Confirmation of KiotaPay callbacks: queue size and workers.
const (
	confirmQueue   = 100_000
	confirmWorkers = 64 // a confirmation is two round trips (status, then the record for its receipt)
)

type heldResult struct {
	r     batch.Result
	until time.Time
}

// Timeouts of the callback receiver: a client that never finishes its
// headers or trickles its body is cut off. Variables only so that tests
// can shorten them; nothing else changes them.
var (
	callbackReadHeaderTimeout = 5 * time.Second
	callbackReadTimeout       = 15 * time.Second
	callbackWriteTimeout      = 30 * time.Second
	callbackIdleTimeout       = 60 * time.Second
)

// Held results: at most this many, for at most this long.
const (
	maxHeld  = 100_000
	holdFor  = 2 * time.Minute
	holdTick = 100 * time.Millisecond
)

// startCallbacks listens and serves at once (for tests and tools that
// already have their clients).
func startCallbacks(ctx context.Context, listen, public string, e *engine) (*callbackServer, error) {
	c, err := listenCallbacks(ctx, listen, public, e)
	if err != nil {
		return nil, err
	}
	c.serve()
	return c, nil
}

// listenCallbacks opens the receiver's listener, so that its URLs are known
// before the provider clients are built, without serving yet: no handler
// may run before the engine is complete.
func listenCallbacks(ctx context.Context, listen, public string, e *engine) (*callbackServer, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("callbacks: listen on %s (callbacks.listen): %w", listen, err)
	}
	if public == "" {
		public = "http://" + ln.Addr().String()
	}
	c := &callbackServer{e: e, ln: ln, public: strings.TrimRight(public, "/"), token: callbackToken(e.secrets.kpAPISecret),
		done: make(chan struct{}), stopHold: make(chan struct{}), holdDone: make(chan struct{})}
	return c, nil
}

// serve starts the receiver's workers and HTTP server.
func (c *callbackServer) serve() {
	e := c.e
	c.served = true
	go c.retryHeld()
	c.confirm, c.queued, c.confirmStop = make(chan string, confirmQueue), map[string]bool{}, make(chan struct{})
	lim := e.status
	if lim == nil {
		kp := batch.DefaultConfig().KiotaPay
		lim = rate.NewLimiter(rate.Limit(2*kp.Rate), 2*kp.Burst)
	}
	for range confirmWorkers {
		c.confirmWG.Add(1)
		go c.confirmLoop(lim)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/kopokopo", c.kopokopo)
	mux.HandleFunc("/kiotapay/{token}", c.kiotapay)
	c.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: callbackReadHeaderTimeout,
		ReadTimeout:       callbackReadTimeout,
		WriteTimeout:      callbackWriteTimeout,
		IdleTimeout:       callbackIdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          nil,
	}
	go func() {
		defer close(c.done)
		if err := c.srv.Serve(c.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("callback receiver stopped", "err", err)
		}
	}()
	e.log.Debug("callback receiver listening", "addr", c.ln.Addr().String())
}

func (c *callbackServer) kopokopoURL() string { return c.public + "/kopokopo" }
func (c *callbackServer) kiotapayURL() string { return c.public + "/kiotapay/" + c.token }

// close stops accepting callbacks and waits for those being handled.
func (c *callbackServer) close() {
	if !c.served {
		c.ln.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.srv.Shutdown(ctx)
	<-c.done
	close(c.confirmStop)
	c.confirmWG.Wait()
	close(c.stopHold)
	<-c.holdDone
}

// confirmLoop confirms queued KiotaPay callbacks with status queries, paced
// by lim (the status-query budget shared with polling).
func (c *callbackServer) confirmLoop(lim *rate.Limiter) {
	defer c.confirmWG.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.confirmStop
		cancel()
	}()
	for {
		var id string
		select {
		case <-c.confirmStop:
			return
		case id = <-c.confirm:
		}
		c.mu.Lock()
		delete(c.queued, id)
		c.mu.Unlock()
		if lim.Wait(ctx) != nil {
			return
		}
		results, err := c.e.kp.Poll(ctx, id)
		if err != nil {
			if ctx.Err() == nil {
				c.e.log.Warn("kiotapay callback not confirmed: status query failed; polling will retry", "request", id, "err", err)
			}
			continue
		}
		for i := range results {
			results[i].Provider = batch.KiotaPay
			results[i].Source = "callback"
			if results[i].Reference == "" {
				results[i].Reference = id
			}
		}
		batch.Failpoint("mid-callback")
		if err := c.apply(ctx, results); err != nil && ctx.Err() == nil {
			c.e.log.Error("kiotapay callback not recorded; polling will retry", "request", id, "err", err)
		}
	}
}

// apply records trusted results and holds those whose reference is not
// recorded yet.
func (c *callbackServer) apply(ctx context.Context, results []batch.Result) error {
	_, unmatched, err := applyResults(ctx, c.e.db, c.e.log, results)
	if err != nil {
		return err
	}
	if len(unmatched) > 0 {
		c.mu.Lock()
		until := time.Now().Add(holdFor)
		for _, i := range unmatched {
			if len(c.early) < maxHeld {
				c.early = append(c.early, heldResult{results[i], until})
			}
		}
		c.mu.Unlock()
	}
	c.e.settler.Wake()
	return nil
}

// retryHeld applies held results again every holdTick.
func (c *callbackServer) retryHeld() {
	defer close(c.holdDone)
	t := time.NewTicker(holdTick)
	defer t.Stop()
	for {
		select {
		case <-c.stopHold:
			return
		case <-t.C:
		}
		c.mu.Lock()
		held := c.early
		c.early = nil
		c.mu.Unlock()
		if len(held) == 0 {
			continue
		}
		rs := make([]batch.Result, len(held))
		for i, h := range held {
			rs[i] = h.r
		}
		n, unmatched, err := applyResults(context.Background(), c.e.db, c.e.log, rs)
		if err != nil {
			c.e.log.Warn("held callbacks not recorded; polling will settle them", "err", err)
			continue
		}
		now := time.Now()
		var keep []heldResult
		for _, i := range unmatched {
			if now.Before(held[i].until) {
				keep = append(keep, held[i])
			}
		}
		c.mu.Lock()
		c.early = append(keep, c.early...)
		c.mu.Unlock()
		if n > 0 {
			c.e.settler.Wake()
		}
	}
}

// body reads a POST body up to the cap.
func readCallback(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallbackBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "cannot read body", http.StatusBadRequest)
		}
		return nil, false
	}
	return body, true
}

func (c *callbackServer) kopokopo(w http.ResponseWriter, r *http.Request) {
	body, ok := readCallback(w, r)
	if !ok {
		return
	}
	log := c.e.log
	if !kopokopo.Verify(c.e.secrets.k2APIKey, body, r.Header.Get(kopokopo.SignatureHeader)) {
		log.Warn("kopokopo callback refused: bad or missing signature", "remote", r.RemoteAddr, "bytes", len(body))
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	ref, results, err := kopokopo.ParseResult(body)
	if err != nil {
		log.Warn("kopokopo callback refused: cannot parse", "err", err)
		http.Error(w, "cannot parse", http.StatusBadRequest)
		return
	}
	for i := range results {
		results[i].Provider = batch.KopoKopo
		results[i].Source = "callback"
		if results[i].Reference == "" {
			results[i].Reference = ref
		}
	}
	batch.Failpoint("mid-callback")
	if err := c.apply(r.Context(), results); err != nil {
		log.Error("kopokopo callback not recorded", "err", err)
		http.Error(w, "not recorded", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (c *callbackServer) kiotapay(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("token") != c.token {
		http.NotFound(w, r)
		return
	}
	body, ok := readCallback(w, r)
	if !ok {
		return
	}
	log := c.e.log
	requestID, status, amount, _, err := kiotapay.ParseCallback(body)
	if err != nil || requestID == "" {
		log.Warn("kiotapay callback refused: cannot parse", "err", err)
		http.Error(w, "cannot parse", http.StatusBadRequest)
		return
	}
	if c.e.kp == nil {
		http.Error(w, "no kiotapay client", http.StatusServiceUnavailable)
		return
	}
	// Unsigned: believe only the status query, made from the queue.
	if !amount.IsZero() || status != "" {
		log.Debug("kiotapay callback queued for confirmation", "request", requestID, "claims", status)
	}
	c.mu.Lock()
	full := len(c.queued) >= confirmQueue
	if !full && !c.queued[requestID] {
		c.queued[requestID] = true
		c.confirm <- requestID // never blocks: the queue holds confirmQueue IDs
	}
	c.mu.Unlock()
	if full {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}
