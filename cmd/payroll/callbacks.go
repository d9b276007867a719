package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"payroll/batch"
	"payroll/providers/kiotapay"
	"payroll/providers/kopokopo"
)

// callbackServer is the listener and mux for provider callbacks on
// callbacks.listen. What a callback may change is decided elsewhere
// (docs/design.md §3, invariant 5): the provider packages' handlers verify
// (Kopo Kopo's HMAC) or only hint (KiotaPay's unsigned callbacks), and the
// settler applies trusted results, holds early ones and confirms hints.
type callbackServer struct {
	srv    *http.Server
	ln     net.Listener
	public string // base URL providers call
	token  string // KiotaPay path token
	done   chan struct{}
	stop   context.CancelFunc // ends the settler's callback work
	work   chan struct{}      // closed when it has ended
	served bool
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

// listenCallbacks opens the receiver's listener, so that its URLs are known
// before the provider clients are built, without serving yet: no handler
// may run before the engine is complete.
func listenCallbacks(ctx context.Context, listen, public, kiotapaySecret string) (*callbackServer, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("callbacks: listen on %s (callbacks.listen): %w", listen, err)
	}
	if public == "" {
		public = "http://" + ln.Addr().String()
	}
	return &callbackServer{ln: ln, public: strings.TrimRight(public, "/"), token: kiotapay.CallbackToken(kiotapaySecret),
		done: make(chan struct{})}, nil
}

// serve starts the settler's callback work and the HTTP server.
func (c *callbackServer) serve(e *engine) {
	c.served = true
	ctx, stop := context.WithCancel(context.Background())
	c.stop, c.work = stop, make(chan struct{})
	go func() {
		defer close(c.work)
		e.settler.Serve(ctx)
	}()
	mux := http.NewServeMux()
	mux.Handle("/kopokopo", kopokopo.CallbackHandler(e.secrets.KopoKopoAPIKey, e.settler.Receive, e.log))
	mux.Handle("/kiotapay/{token}", kiotapay.CallbackHandler(c.token,
		func(id string) bool { return e.settler.Hint(batch.KiotaPay, id) }, e.log))
	c.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: callbackReadHeaderTimeout,
		ReadTimeout:       callbackReadTimeout,
		WriteTimeout:      callbackWriteTimeout,
		IdleTimeout:       callbackIdleTimeout,
		MaxHeaderBytes:    16 << 10,
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
	c.stop()
	<-c.work
}
