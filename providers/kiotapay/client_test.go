package kiotapay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"payroll/batch"
	"payroll/providers"
)

type fake struct {
	srv    *httptest.Server
	tokens atomic.Int32
	posts  atomic.Int32
	mu     sync.Mutex
	bodies []string
	auths  []string
	script func(w http.ResponseWriter, r *http.Request, n int)
	get    func(w http.ResponseWriter, r *http.Request)
}

func newFake(t *testing.T, script func(w http.ResponseWriter, r *http.Request, n int)) *fake {
	f := &fake{script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == "POST" && r.URL.Path == "/api/v1/get-token":
			n := f.tokens.Add(1)
			var in map[string]string
			if json.Unmarshal(body, &in) != nil || in["apiKey"] != "key" || in["apiSecret"] != "secret" {
				t.Errorf("token body %s", body)
			}
			fmt.Fprintf(w, `{"status":"200 OK","data":{"access_token":"tok-%d","refresh_token":"r","expires_in":300,"refresh_expires_in":1800}}`, n)
		case r.Method == "POST" && r.URL.Path == "/api/sandbox/v1/send-money":
			n := int(f.posts.Add(1))
			f.mu.Lock()
			f.bodies = append(f.bodies, string(body))
			f.auths = append(f.auths, r.Header.Get("Authorization"))
			f.mu.Unlock()
			f.script(w, r, n)
		case r.Method == "GET" && f.get != nil:
			f.get(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func newTestClient(t *testing.T, base string, opts ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: base, APIKey: "key", APISecret: "secret", CallbackURL: "https://payroll.example/cb/kiotapay",
		HTTPClient: providers.NewHTTPClient(2 * time.Second)}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func kes(ref, phone, amount string) batch.Line {
	return batch.Line{Reference: ref, AttemptRef: batch.AttemptRef("b", ref, 1, "a"), Provider: batch.KiotaPay, Currency: batch.KES, Name: "Jane Doe",
		Dest: batch.Destination{Type: batch.MobileWallet, Phone: batch.Phone(phone)}, Amount: batch.MustMoney(amount),
		Description: "Salary", Occasion: "November"}
}

func one(l batch.Line) batch.Chunk {
	return batch.Chunk{Provider: batch.KiotaPay, Currency: l.Currency, Lines: []batch.Line{l}}
}

func reply(code int, hdr map[string]string, body string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

var accepted = func(w http.ResponseWriter, r *http.Request, n int) {
	w.WriteHeader(201)
	fmt.Fprintf(w, `{"status":201,"message":"Success","data":{"requestId":"req-%d","amount":1000.0,"phoneNumber":"254712345678","status":"PENDING"}}`, n)
}

func TestSendResponseClasses(t *testing.T) {
	expired := reply(401, nil, `{"error":{"code":"AUTH_INVALID_TOKEN","message":"Authorization token is invalid or expired","details":"token expired"}}`)
	tests := []struct {
		name       string
		script     func(http.ResponseWriter, *http.Request, int)
		timeout    time.Duration
		kind       error
		msg        string
		retryAfter time.Duration
		posts      int32
		tokens     int32
	}{
		{name: "201", script: accepted, posts: 1, tokens: 1},
		{name: "200 with status 200", script: reply(200, nil, `{"status":"200","data":{"requestId":"req-1"}}`), posts: 1, tokens: 1},
		{name: "2xx without requestId", script: reply(201, nil, `{"status":201,"message":"Success","data":{}}`), kind: batch.ErrOutcomeUnknown, msg: "requestId", posts: 1, tokens: 1},
		{name: "2xx with error body status", script: reply(200, nil, `{"status":400,"message":"bad","data":{"requestId":"x"}}`), kind: batch.ErrOutcomeUnknown, msg: "body status 400", posts: 1, tokens: 1},
		{name: "2xx not json", script: reply(200, nil, `ok`), kind: batch.ErrOutcomeUnknown, posts: 1, tokens: 1},
		{name: "400 nested error shape", script: reply(400, nil, `{"error":{"code":"REQ_INVALID_FIELD","message":"phoneNumber is invalid","details":"phoneNumber"}}`),
			kind: batch.ErrRejected, msg: "REQ_INVALID_FIELD", posts: 1, tokens: 1},
		{name: "400 flat error shape", script: reply(400, nil, `{"errorCode":"REQ_MISSING_FIELD","message":"remarks is required","details":"remarks","statusCode":400}`),
			kind: batch.ErrRejected, msg: "remarks is required", posts: 1, tokens: 1},
		{name: "403", script: reply(403, nil, `{"error":{"code":"AUTH_FORBIDDEN","message":"Forbidden"}}`), kind: batch.ErrRejected, posts: 1, tokens: 1},
		{name: "404", script: reply(404, nil, `{"error":{"code":"RESOURCE_NOT_FOUND","message":"nope"}}`), kind: batch.ErrRejected, posts: 1, tokens: 1},
		{name: "401 then refresh then success", script: func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				expired(w, r, n)
				return
			}
			accepted(w, r, n)
		}, posts: 2, tokens: 2},
		{name: "401 twice", script: expired, kind: batch.ErrTransient, msg: "AUTH_INVALID_TOKEN", posts: 2, tokens: 2},
		{name: "429 with HTTP-date", script: reply(429, map[string]string{"Retry-After": time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}, `{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"slow down"}}`),
			kind: batch.ErrTransient, retryAfter: 90 * time.Second, posts: 1, tokens: 1},
		{name: "503", script: reply(503, nil, ``), kind: batch.ErrTransient, posts: 1, tokens: 1},
		{name: "500", script: reply(500, nil, `{"error":{"code":"INTERNAL_SERVER_ERROR","message":"boom"}}`), kind: batch.ErrOutcomeUnknown, msg: "boom", posts: 1, tokens: 1},
		{name: "timeout", script: func(w http.ResponseWriter, r *http.Request, n int) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, timeout: 150 * time.Millisecond, kind: batch.ErrOutcomeUnknown, posts: 1, tokens: 1},
		{name: "dropped after written", script: func(w http.ResponseWriter, r *http.Request, n int) {
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		}, kind: batch.ErrOutcomeUnknown, posts: 1, tokens: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.script)
			c := newTestClient(t, f.srv.URL, func(cfg *Config) {
				if tc.timeout > 0 {
					cfg.HTTPClient = providers.NewHTTPClient(tc.timeout)
				}
			})
			acc, err := c.Send(t.Context(), one(kes("E1", "254712345678", "1000")))
			if f.posts.Load() != tc.posts || f.tokens.Load() != tc.tokens {
				t.Errorf("%d POSTs, %d tokens; want %d, %d", f.posts.Load(), f.tokens.Load(), tc.posts, tc.tokens)
			}
			if tc.kind == nil {
				if err != nil || !strings.HasPrefix(acc.Reference, "req-") {
					t.Fatalf("Send = %+v, %v", acc, err)
				}
				return
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want %v", err, tc.kind)
			}
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
			d, _ := batch.RetryAfter(err)
			if d < tc.retryAfter-2*time.Second || d > tc.retryAfter {
				t.Errorf("retry after %s, want about %s", d, tc.retryAfter)
			}
		})
	}
}

func TestSendRefusedConnection(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := newTestClient(t, "http://"+addr)
	if _, err := c.Send(t.Context(), one(kes("E1", "254712345678", "1000"))); !errors.Is(err, batch.ErrTransient) {
		t.Fatalf("error %v, want ErrTransient", err)
	}
}

func TestSendRequestBody(t *testing.T) {
	f := newFake(t, accepted)
	c := newTestClient(t, f.srv.URL)
	tz := batch.Line{Reference: "T1", AttemptRef: "pyT1-a1", Currency: batch.TZS, Name: "Amina Juma Mwakyusa", Amount: batch.MustMoney("15000"),
		Dest: batch.Destination{Type: batch.MobileWallet, Phone: "255652345678"}}
	noText := kes("E2", "254712345679", "1000")
	noText.Description, noText.Occasion = "", ""
	for _, l := range []batch.Line{kes("E1", "254712345678", "1000"), tz, noText} {
		if _, err := c.Send(t.Context(), one(l)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		`{"phoneNumber":"254712345678","amount":1000,"remarks":"Salary","occasion":"November","callbackUrl":"https://payroll.example/cb/kiotapay","currencyCode":"KSH","referenceId":"pya3305fd2d367652fe3da-a1"}`,
		`{"phoneNumber":"255652345678","amount":15000,"callbackUrl":"https://payroll.example/cb/kiotapay","currencyCode":"TZS","firstName":"Amina Juma","lastName":"Mwakyusa","serviceCode":"TZ-TIGO-B2C","narration":"MOBILE PAYOUT","referenceId":"pyT1-a1"}`,
		`{"phoneNumber":"254712345679","amount":1000,"remarks":"Payment","occasion":"Payroll","callbackUrl":"https://payroll.example/cb/kiotapay","currencyCode":"KSH","referenceId":"pyd89668e1f5c632dc7a2d-a1"}`,
	}
	for i, w := range want {
		if f.bodies[i] != w {
			t.Errorf("body %d\n%s\nwant\n%s", i, f.bodies[i], w)
		}
		if f.auths[i] != "Bearer tok-1" {
			t.Errorf("auth %q", f.auths[i])
		}
	}
}

// TestSendNeverBareReference: a line not claimed by the ledger (no attempt
// reference) is refused before any request, so the employee reference,
// which repeats every month, is never the referenceId.
func TestSendNeverBareReference(t *testing.T) {
	f := newFake(t, accepted)
	c := newTestClient(t, f.srv.URL)
	l := kes("E1", "254712345678", "1000")
	l.AttemptRef = ""
	if _, err := c.Send(t.Context(), one(l)); !errors.Is(err, batch.ErrRejected) {
		t.Fatalf("Send without an attempt reference: %v, want ErrRejected", err)
	}
	if len(f.bodies) != 0 {
		t.Fatalf("%d requests sent", len(f.bodies))
	}
}

func TestSendRefusesWithoutHTTP(t *testing.T) {
	f := newFake(t, accepted)
	c := newTestClient(t, f.srv.URL)
	bank := kes("B", "254712345678", "1000")
	bank.Dest = batch.Destination{Type: batch.BankAccount, BankBranchRef: "x", AccountNumber: "1"}
	tzSmall := batch.Line{Reference: "T", AttemptRef: "pyT-a1", Currency: batch.TZS, FirstName: "A", LastName: "B", Amount: batch.MustMoney("999"), Dest: batch.Destination{Type: batch.MobileWallet, Phone: "255652345678"}}
	tzNoName := tzSmall
	tzNoName.FirstName, tzNoName.LastName, tzNoName.Amount = "", "", batch.MustMoney("5000")
	vodacom := tzSmall
	vodacom.Amount, vodacom.Dest.Phone = batch.MustMoney("5000"), "255752345678"
	badCode := vodacom
	badCode.ServiceCode = "TZ-VODACOM-B2C"
	wrongCountry := kes("W", "255652345678", "1000")
	tests := []struct {
		name  string
		chunk batch.Chunk
	}{
		{"no line", batch.Chunk{Provider: batch.KiotaPay, Currency: batch.KES}},
		{"two lines", batch.Chunk{Provider: batch.KiotaPay, Currency: batch.KES, Lines: []batch.Line{kes("a", "254712345678", "10"), kes("b", "254712345679", "10")}}},
		{"bank account", one(bank)},
		{"fractional", one(kes("F", "254712345678", "1000.50"))},
		{"TZS under 1000", one(tzSmall)},
		{"TZS without names", one(tzNoName)},
		{"Vodacom TZ", one(vodacom)},
		{"unknown service code", one(badCode)},
		{"KES to a TZ phone", one(wrongCountry)},
		{"kopokopo chunk", batch.Chunk{Provider: batch.KopoKopo, Lines: []batch.Line{kes("k", "254712345678", "10")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Send(t.Context(), tc.chunk); !errors.Is(err, batch.ErrRejected) {
				t.Fatalf("error %v, want ErrRejected", err)
			}
		})
	}
	if f.tokens.Load()+f.posts.Load() != 0 {
		t.Error("HTTP requests made for refused chunks")
	}
}

func TestPollAndStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		state   batch.State
		receipt string
	}{
		{"success", `{"status":200,"message":"Success","data":{"requestId":"req-1","phoneNumber":"254712345678","status":"SUCCESS","amount":1000.0}}`, batch.StatePaid, "QCL160124A7"},
		{"failed", `{"status":"200","data":{"requestId":"req-1","phoneNumber":254712345678,"status":"FAILED","amount":"1000"}}`, batch.StateFailed, ""},
		{"pending", `{"status":200,"data":{"requestId":"req-1","phoneNumber":"254712345678","status":"PENDING","amount":1000}}`, batch.StateAccepted, ""},
		{"undocumented", `{"status":200,"data":{"requestId":"req-1","phoneNumber":"254712345678","status":"REVERSED","amount":1000}}`, batch.StateAccepted, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, accepted)
			f.get = func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("requestId") != "req-1" && r.URL.Path != "/api/sandbox/v1/send-money/all" {
					t.Errorf("query %s", r.URL.RawQuery)
				}
				switch r.URL.Path {
				case "/api/sandbox/v1/send-money/status":
					io.WriteString(w, tc.status)
				case "/api/sandbox/v1/send-money/single":
					io.WriteString(w, `{"status":200,"data":{"id":1001,"uuid":"req-1","phoneNumber":"254712345678","status":"SUCCESS","responseCode":"0","receiverName":"X","transactionReceipt":"QCL160124A7","createdAt":"2026-11-01T10:00:00.000"}}`)
				case "/api/sandbox/v1/send-money/all":
					io.WriteString(w, `{"status":200,"data":[{"id":1001,"uuid":"req-1","status":"SUCCESS","transactionReceipt":null},{"id":"1002","uuid":"req-2","status":"PENDING"}]}`)
				default:
					http.NotFound(w, r)
				}
			}
			c := newTestClient(t, f.srv.URL)
			res, err := c.Poll(t.Context(), "req-1")
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			if len(res) != 1 || r.Status != tc.state || r.Receipt != tc.receipt || r.Identity != "mobile_wallet:254712345678" ||
				r.Amount.String() != "1000.00" || r.Reference != "req-1" || r.Source != "poll" || r.Provider != batch.KiotaPay {
				t.Errorf("Poll = %+v", res)
			}
			all, err := c.All(t.Context())
			if err != nil || len(all) != 2 || all[1].ID != "1002" || all[0].TransactionReceipt != "" {
				t.Errorf("All = %+v, %v", all, err)
			}
		})
	}
	f := newFake(t, accepted)
	f.get = func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		io.WriteString(w, `{"error":{"code":"RESOURCE_NOT_FOUND","message":"Transaction not found"}}`)
	}
	c := newTestClient(t, f.srv.URL)
	if _, err := c.Poll(t.Context(), "nope"); !errors.Is(err, batch.ErrRejected) || !strings.Contains(err.Error(), "Transaction not found") {
		t.Errorf("Poll unknown id: %v", err)
	}
}

func TestParseCallback(t *testing.T) {
	id, st, amt, phone, err := ParseCallback([]byte(`{"requestId":"d290f1ee-6c54-4b01-90e6-d701748f0851","phoneNumber":"254728762287","status":"SUCCESS","amount":1500.75}`))
	if err != nil || id != "d290f1ee-6c54-4b01-90e6-d701748f0851" || st != "SUCCESS" || amt.String() != "1500.75" || phone != "254728762287" {
		t.Errorf("ParseCallback = %q %q %s %q %v", id, st, amt, phone, err)
	}
	for _, bad := range []string{`{}`, `nope`, `{"requestId":"x","amount":1e3}`, `{"requestId":"x","amount":1.001}`} {
		if _, _, _, _, err := ParseCallback([]byte(bad)); err == nil {
			t.Errorf("ParseCallback(%s) accepted", bad)
		}
	}
}

func TestCode(t *testing.T) {
	for in, want := range map[string]Code{`"200 OK"`: 200, `201`: 201, `"201"`: 201, `null`: 0, `""`: 0} {
		var c Code
		if err := json.Unmarshal([]byte(in), &c); err != nil || c != want {
			t.Errorf("Code(%s) = %d, %v; want %d", in, c, err, want)
		}
	}
}

func TestTokenRefreshAt80Percent(t *testing.T) {
	f := newFake(t, accepted)
	var mu sync.Mutex
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	c := newTestClient(t, f.srv.URL, func(cfg *Config) {
		cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	step := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
		if _, err := c.Send(t.Context(), one(kes(fmt.Sprint(d), "254712345678", "1000"))); err != nil {
			t.Fatal(err)
		}
	}
	step(0)
	step(239 * time.Second)
	if f.tokens.Load() != 1 {
		t.Fatalf("%d tokens before 80%% of 300 s", f.tokens.Load())
	}
	step(time.Second)
	if f.tokens.Load() != 2 {
		t.Fatalf("%d tokens at 80%% of 300 s, want 2", f.tokens.Load())
	}
}

func TestNewValidates(t *testing.T) {
	base := Config{APIKey: "k", APISecret: "s", CallbackURL: "https://x/cb"}
	for name, tc := range map[string]struct {
		mod func(*Config)
		ok  bool
	}{
		"defaults":     {func(*Config) {}, true},
		"live":         {func(c *Config) { c.Environment = "live" }, true},
		"bad env":      {func(c *Config) { c.Environment = "staging" }, false},
		"no secret":    {func(c *Config) { c.APISecret = "" }, false},
		"no callback":  {func(c *Config) { c.CallbackURL = "" }, false},
		"relative url": {func(c *Config) { c.BaseURL = "api.kiotapay.co" }, false},
	} {
		cfg := base
		tc.mod(&cfg)
		c, err := New(cfg)
		if (err == nil) != tc.ok {
			t.Errorf("%s: New: %v", name, err)
		}
		if name == "live" && c.prefix != LivePrefix || name == "defaults" && c.prefix != SandboxPrefix {
			t.Errorf("%s: prefix %q", name, c.prefix)
		}
	}
}
