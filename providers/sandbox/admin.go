package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// routeAdmin serves the /_sandbox/ inspection endpoints (see the package doc).
func (s *Sandbox) routeAdmin() {
	s.mux.HandleFunc("GET /_sandbox/truth", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string][]Payout{"payouts": s.Truth()})
	})
	s.mux.HandleFunc("GET /_sandbox/stats", func(w http.ResponseWriter, r *http.Request) {
		sent, failed := s.CallbackCounts()
		writeJSON(w, http.StatusOK, struct {
			Stats
			ViolationList []Violation    `json:"violation_list"`
			Callbacks     map[string]int `json:"callbacks"`
		}{s.Stats(), s.Violations(), map[string]int{"delivered": sent, "failed": failed}})
	})
	provider := func(w http.ResponseWriter, r *http.Request) (Provider, bool) {
		p := Provider(r.PathValue("provider"))
		if p != KopoKopo && p != KiotaPay {
			http.Error(w, fmt.Sprintf("unknown provider %q (kopokopo, kiotapay)", p), http.StatusNotFound)
			return "", false
		}
		return p, true
	}
	s.mux.HandleFunc("GET /_sandbox/faults/{provider}", func(w http.ResponseWriter, r *http.Request) {
		if p, ok := provider(w, r); ok {
			writeJSON(w, http.StatusOK, s.Faults(p))
		}
	})
	s.mux.HandleFunc("PUT /_sandbox/faults/{provider}", func(w http.ResponseWriter, r *http.Request) {
		p, ok := provider(w, r)
		if !ok {
			return
		}
		var f Faults
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			http.Error(w, "faults: "+err.Error(), http.StatusBadRequest)
			return
		}
		s.SetFaults(p, f)
		writeJSON(w, http.StatusOK, f)
	})
	s.mux.HandleFunc("POST /_sandbox/expire-tokens/{provider}", func(w http.ResponseWriter, r *http.Request) {
		if p, ok := provider(w, r); ok {
			s.ExpireTokens(p)
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

// ServeOptions configures Serve.
type ServeOptions struct {
	// Addr is the listen address. Empty means "127.0.0.1:0" (a free port).
	Addr string
	// Options configure the sandbox; its Logger is replaced by Serve's logger.
	Options Options
	// EnvFile, if set, is written (mode 0600) once the sandbox listens: the
	// export lines of its credentials, for `. FILE` in another shell.
	EnvFile string
}

// Serve runs both emulators on one listener until ctx is cancelled. It
// writes the base URLs and shell export lines for the credentials to out,
// logs every request and callback to logger, and on cancellation shuts the
// server down and returns nil.
func Serve(ctx context.Context, opts ServeOptions, logger *slog.Logger, out io.Writer) error {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := opts.Options
	o.Logger = logger
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen %s: %w", addr, err)
	}
	base := "http://" + ln.Addr().String()
	s := New(o)
	defer s.Close()
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}

	if _, err := fmt.Fprintf(out, "# payroll sandbox: Kopo Kopo and KiotaPay emulators\n"+
		"# kopokopo base_url = %s\n# kiotapay base_url = %s (paths %s and %s)\n"+
		"# inspect: %s/_sandbox/truth  %s/_sandbox/stats\n",
		base, base, KiotaPaySandboxPrefix, KiotaPayLivePrefix, base, base); err != nil {
		_ = ln.Close()
		return fmt.Errorf("sandbox: %w", err)
	}
	var env strings.Builder
	for _, kv := range s.Credentials().Env() {
		fmt.Fprintf(&env, "export %s\n", kv)
	}
	io.WriteString(out, env.String())
	if opts.EnvFile != "" {
		body := fmt.Sprintf("# payroll sandbox at %s (written %s)\n%s", base, time.Now().Format(time.RFC3339), env.String())
		if err := os.WriteFile(opts.EnvFile, []byte(body), 0o600); err != nil {
			_ = ln.Close()
			return fmt.Errorf("sandbox: --env-file: %w", err)
		}
		if err := os.Chmod(opts.EnvFile, 0o600); err != nil {
			_ = ln.Close()
			return fmt.Errorf("sandbox: --env-file: %w", err)
		}
	}
	logger.Info("sandbox listening", "url", base)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("sandbox: serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sandbox: serve: %w", err)
	}
	logger.Info("sandbox stopped")
	return nil
}
