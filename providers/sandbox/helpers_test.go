package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// env is a sandbox served over real HTTP plus a callback receiver.
type env struct {
	t    *testing.T
	s    *Sandbox
	url  string
	recv *receiver
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	if opts.ProcessingDelay == 0 {
		opts.ProcessingDelay = 5 * time.Millisecond
	}
	s := New(opts)
	srv := httptest.NewServer(s.Handler())
	recv := newReceiver(t, s.Credentials().KopoKopoAPIKey)
	t.Cleanup(func() {
		srv.Close()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &env{t: t, s: s, url: srv.URL, recv: recv}
}

// received is one callback as the receiver saw it.
type received struct {
	path  string
	body  []byte
	sig   string
	valid bool // HMAC over the raw bytes matches (Kopo Kopo)
}

// receiver is an httptest callback endpoint verifying Kopo Kopo signatures
// over the raw body bytes, independently of Sign.
type receiver struct {
	mu    sync.Mutex
	calls []received
	url   string
	key   []byte
}

func newReceiver(t *testing.T, key string) *receiver {
	rc := &receiver{key: []byte(key)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sig := r.Header.Get("X-KopoKopo-Signature")
		m := hmac.New(sha256.New, rc.key)
		m.Write(body)
		want := m.Sum(nil)
		got, err := hex.DecodeString(sig)
		rc.mu.Lock()
		rc.calls = append(rc.calls, received{r.URL.Path, body, sig, err == nil && hmac.Equal(got, want)})
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.calls...)
}

// wait waits until at least n callbacks arrived.
func (rc *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := rc.got()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d callbacks, want %d", len(got), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// flush waits until the sandbox is settled and its callbacks delivered.
func (e *env) flush() {
	e.t.Helper()
	ctx, cancel := contextWithTimeout(e.t, 5*time.Second)
	defer cancel()
	if err := e.s.Flush(ctx); err != nil {
		e.t.Fatalf("Flush: %v", err)
	}
}

// do sends a request and returns the status, headers and body.
func (e *env) do(method, path, token string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", "payroll-test")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (e *env) k2Token() string {
	e.t.Helper()
	c := e.s.Credentials()
	form := url.Values{"client_id": {c.KopoKopoClientID}, "client_secret": {c.KopoKopoClientSecret}, "grant_type": {"client_credentials"}}
	st, _, b := e.do("POST", "/oauth/token", "", []byte(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if st != 200 {
		e.t.Fatalf("token: %d %s", st, b)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	mustJSON(e.t, b, &tok)
	return tok.AccessToken
}

func (e *env) kpToken() string {
	e.t.Helper()
	c := e.s.Credentials()
	st, _, b := e.do("POST", "/api/v1/get-token", "", mustMarshal(e.t, map[string]string{"apiKey": c.KiotaPayAPIKey, "apiSecret": c.KiotaPayAPISecret}), nil)
	if st != 200 {
		e.t.Fatalf("get-token: %d %s", st, b)
	}
	var tok struct {
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	mustJSON(e.t, b, &tok)
	return tok.Data.AccessToken
}

// k2Body is a valid send_money body with one mobile_wallet destination per phone.
func (e *env) k2Body(amount int, phones ...string) map[string]any {
	var dests []any
	for _, p := range phones {
		dests = append(dests, map[string]any{
			"type": "mobile_wallet", "phone_number": p, "network": "Safaricom",
			"amount": amount, "description": "Salary", "nickname": "Jane", "favourite": true,
		})
	}
	return map[string]any{
		"destinations":      dests,
		"source_identifier": "4321",
		"currency":          "KES",
		"metadata":          map[string]any{"notes": "payroll"},
		"_links":            map[string]any{"callback_url": e.recv.url + "/k2"},
	}
}

// k2Send posts a send_money body and returns the status and Location.
func (e *env) k2Send(token string, body any) (int, string, []byte) {
	e.t.Helper()
	st, h, b := e.do("POST", "/api/v2/send_money", token, mustMarshal(e.t, body), nil)
	return st, h.Get("Location"), b
}

// k2Doc fetches a Location as a generic document.
func (e *env) k2Doc(token, location string) map[string]any {
	e.t.Helper()
	st, _, b := e.do("GET", strings.TrimPrefix(location, e.url), token, nil, nil)
	if st != 200 {
		e.t.Fatalf("GET %s: %d %s", location, st, b)
	}
	var doc map[string]any
	mustJSON(e.t, b, &doc)
	return doc
}

// kpBody is a valid KSH send-money body.
func (e *env) kpBody(phone string, amount int) map[string]any {
	return map[string]any{
		"phoneNumber": phone, "amount": amount, "remarks": "Salary", "occasion": "November",
		"callbackUrl": e.recv.url + "/kp", "currencyCode": "KSH",
	}
}

// kpSend posts a send-money body to the sandbox path.
func (e *env) kpSend(token string, body any) (int, []byte) {
	e.t.Helper()
	st, _, b := e.do("POST", "/api/sandbox/v1/send-money", token, mustMarshal(e.t, body), nil)
	return st, b
}

func (e *env) kpRequestID(token string, body any) string {
	e.t.Helper()
	st, b := e.kpSend(token, body)
	if st != 201 {
		e.t.Fatalf("send-money: %d %s", st, b)
	}
	var out struct {
		Data struct {
			RequestID string `json:"requestId"`
		} `json:"data"`
	}
	mustJSON(e.t, b, &out)
	return out.Data.RequestID
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	if b, ok := v.([]byte); ok {
		return b
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// path walks a generic JSON value: keys for objects, ints for arrays.
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}
