package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

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
}

func startCallbacks(ctx context.Context, listen, public string, e *engine) (*callbackServer, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("callbacks: listen on %s (callbacks.listen): %w", listen, err)
	}
	if public == "" {
		public = "http://" + ln.Addr().String()
	}
	c := &callbackServer{e: e, ln: ln, public: strings.TrimRight(public, "/"), token: callbackToken(e.secrets.kpAPISecret), done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/kopokopo", c.kopokopo)
	mux.HandleFunc("/kiotapay/{token}", c.kiotapay)
	c.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          nil,
	}
	go func() {
		defer close(c.done)
		if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("callback receiver stopped", "err", err)
		}
	}()
	e.log.Debug("callback receiver listening", "addr", ln.Addr().String())
	return c, nil
}

func (c *callbackServer) kopokopoURL() string { return c.public + "/kopokopo" }
func (c *callbackServer) kiotapayURL() string { return c.public + "/kiotapay/" + c.token }

// close stops accepting callbacks and waits for those being handled.
func (c *callbackServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.srv.Shutdown(ctx)
	<-c.done
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
	if _, err := applyResults(r.Context(), c.e.db, log, results); err != nil {
		log.Error("kopokopo callback not recorded", "err", err)
		http.Error(w, "not recorded", http.StatusInternalServerError)
		return
	}
	c.e.settler.Wake()
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
	// Unsigned: believe only the status query.
	results, err := c.e.kp.Poll(r.Context(), requestID)
	if err != nil {
		log.Warn("kiotapay callback not confirmed: status query failed; polling will retry", "request", requestID, "err", err)
		http.Error(w, "cannot confirm", http.StatusServiceUnavailable)
		return
	}
	for i := range results {
		results[i].Provider = batch.KiotaPay
		results[i].Source = "callback"
		if results[i].Reference == "" {
			results[i].Reference = requestID
		}
		if st := kiotapay.State(status); st != results[i].Status || !amount.Equal(results[i].Amount) {
			log.Warn("kiotapay callback disagrees with the status query; the status query wins",
				"request", requestID, "callback_status", status, "status", results[i].Status)
		}
	}
	if _, err := applyResults(r.Context(), c.e.db, log, results); err != nil {
		log.Error("kiotapay callback not recorded", "err", err)
		http.Error(w, "not recorded", http.StatusInternalServerError)
		return
	}
	c.e.settler.Wake()
	w.WriteHeader(http.StatusOK)
}
