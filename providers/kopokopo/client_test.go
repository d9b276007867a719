package kopokopo

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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

func sign(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func newTestClient(t *testing.T, base string, opts ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: base, ClientID: "id", ClientSecret: "secret", APIKey: "key",
		SourceIdentifier: "4321", CallbackURL: "https://payroll.example/callbacks/kopokopo",
		UserAgent: "payroll/test", HTTPClient: providers.NewHTTPClient(2 * time.Second),
		Metadata: map[string]string{"batch": "nov"}}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wallet(ref, phone, amount string) batch.Line {
	return batch.Line{Reference: ref, Provider: batch.KopoKopo, Currency: batch.KES, Name: "Jane " + ref,
		Dest:   batch.Destination{Type: batch.MobileWallet, Phone: batch.Phone(phone), Network: "Safaricom"},
		Amount: batch.MustMoney(amount), Description: "Salary"}
}

func chunkOf(lines ...batch.Line) batch.Chunk {
	return batch.Chunk{Provider: batch.KopoKopo, Currency: batch.KES, Lines: lines}
}

// fake is a scripted Kopo Kopo: /oauth/token issues tok-1, tok-2, ...;
// send_money answers with the script, given the 1-based POST number.
type fake struct {
	t      *testing.T
	srv    *httptest.Server
	tokens atomic.Int32
	posts  atomic.Int32
	gets   atomic.Int32
	mu     sync.Mutex
	auths  []string
	bodies [][]byte
	hdrs   []http.Header
	script func(w http.ResponseWriter, r *http.Request, n int)
	token  func(w http.ResponseWriter, r *http.Request, n int)
	poll   func(w http.ResponseWriter, r *http.Request)
}

func newFake(t *testing.T, script func(w http.ResponseWriter, r *http.Request, n int)) *fake {
	f := &fake{t: t, script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == "POST" && r.URL.Path == "/oauth/token":
			n := int(f.tokens.Add(1))
			if f.token != nil {
				f.token(w, r, n)
				return
			}
			if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || !strings.Contains(string(body), "grant_type=client_credentials") ||
				!strings.Contains(string(body), "client_id=id") || !strings.Contains(string(body), "client_secret=secret") {
				t.Errorf("token request %s %s", r.Header.Get("Content-Type"), body)
			}
			fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600,"created_at":"2021-04-06T13:52:40+03:00"}`, n)
		case r.Method == "POST" && r.URL.Path == "/api/v2/send_money":
			n := int(f.posts.Add(1))
			f.mu.Lock()
			f.auths = append(f.auths, r.Header.Get("Authorization"))
			f.bodies = append(f.bodies, body)
			f.hdrs = append(f.hdrs, r.Header.Clone())
			f.mu.Unlock()
			f.script(w, r, n)
		case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/api/v2/send_money/"):
			f.gets.Add(1)
			f.poll(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func created(w http.ResponseWriter, r *http.Request, n int) {
	w.Header()["location"] = []string{fmt.Sprintf("http://%s/api/v2/send_money/id-%d", r.Host, n)} // lower-case, as the PHP mock
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, "{}")
}

func status(code int, hdr map[string]string, body string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func hijackClose(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

func TestSendResponseClasses(t *testing.T) {
	unauthorized := status(401, nil, `{"error_code":401,"error_message":"ExpiredAccessToken: The access token expired"}`)
	tests := []struct {
		name       string
		script     func(http.ResponseWriter, *http.Request, int)
		timeout    time.Duration
		kind       error // nil: accepted
		wantMsg    string
		retryAfter time.Duration
		posts      int
		tokens     int
	}{
		{name: "201 created", script: created, posts: 1, tokens: 1},
		{name: "200 with location and empty body", script: func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Location", "/api/v2/send_money/rel-1") // relative: resolved against the request
			w.WriteHeader(200)
		}, posts: 1, tokens: 1},
		{name: "201 without location", script: status(201, nil, `{}`), kind: batch.ErrOutcomeUnknown, wantMsg: "Location", posts: 1, tokens: 1},
		{name: "400 error_code shape", script: status(400, nil, `{"error_code":400,"error_message":"Source identifier is invalid"}`),
			kind: batch.ErrRejected, wantMsg: "Source identifier is invalid", posts: 1, tokens: 1},
		{name: "400 errors array shape", script: status(400, nil, `{"errors":["Transfer amount must be between KSh 10.00 and KSh 250,000.00"]}`),
			kind: batch.ErrRejected, wantMsg: "Transfer amount must be between", posts: 1, tokens: 1},
		{name: "403 bodyless", script: status(403, nil, ``), kind: batch.ErrRejected, wantMsg: "Forbidden", posts: 1, tokens: 1},
		{name: "422", script: status(422, nil, `{"error_message":"bad"}`), kind: batch.ErrRejected, wantMsg: "bad", posts: 1, tokens: 1},
		{name: "401 then refresh then success", script: func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				unauthorized(w, r, n)
				return
			}
			created(w, r, n)
		}, posts: 2, tokens: 2},
		{name: "401 twice", script: unauthorized, kind: batch.ErrTransient, wantMsg: "ExpiredAccessToken", posts: 2, tokens: 2},
		{name: "429 retry-after seconds", script: status(429, map[string]string{"Retry-After": "7"}, `{"error_message":"Too many requests"}`),
			kind: batch.ErrTransient, retryAfter: 7 * time.Second, posts: 1, tokens: 1},
		{name: "503", script: status(503, map[string]string{"Retry-After": "2"}, `{"error_code":503,"error_message":"Service unavailable"}`),
			kind: batch.ErrTransient, retryAfter: 2 * time.Second, posts: 1, tokens: 1},
		{name: "500", script: status(500, nil, `{"error_message":"internal server error"}`), kind: batch.ErrOutcomeUnknown, wantMsg: "internal server error", posts: 1, tokens: 1},
		{name: "502", script: status(502, nil, `<html>bad gateway</html>`), kind: batch.ErrOutcomeUnknown, posts: 1, tokens: 1},
		{name: "302 unexpected", script: status(302, nil, ``), kind: batch.ErrOutcomeUnknown, posts: 1, tokens: 1},
		{name: "timeout after the request was written", script: func(w http.ResponseWriter, r *http.Request, n int) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, timeout: 150 * time.Millisecond, kind: batch.ErrOutcomeUnknown, posts: 1, tokens: 1},
		{name: "connection dropped after the request was written", script: func(w http.ResponseWriter, r *http.Request, n int) {
			hijackClose(w)
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
			acc, err := c.Send(t.Context(), chunkOf(wallet("E1", "254712345678", "1500"), wallet("E2", "254712345679", "2500")))
			if got := int(f.posts.Load()); got != tc.posts {
				t.Errorf("%d POSTs, want %d", got, tc.posts)
			}
			if got := int(f.tokens.Load()); got != tc.tokens {
				t.Errorf("%d token requests, want %d", got, tc.tokens)
			}
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if !strings.HasPrefix(acc.Reference, f.srv.URL+"/api/v2/send_money/") {
					t.Errorf("reference %q", acc.Reference)
				}
				return
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want %v", err, tc.kind)
			}
			for _, other := range []error{batch.ErrTransient, batch.ErrRejected, batch.ErrOutcomeUnknown} {
				if other != tc.kind && errors.Is(err, other) {
					t.Errorf("error %v also wraps %v", err, other)
				}
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q lacks %q", err, tc.wantMsg)
			}
			if d, _ := batch.RetryAfter(err); d != tc.retryAfter {
				t.Errorf("retry after %s, want %s", d, tc.retryAfter)
			}
		})
	}
}

func TestSendRequestShape(t *testing.T) {
	f := newFake(t, created)
	c := newTestClient(t, f.srv.URL)
	bank := batch.Line{Reference: "E3", Currency: batch.KES, Name: "Acme Ltd", Amount: batch.MustMoney("4200"),
		Dest: batch.Destination{Type: batch.BankAccount, BankBranchRef: "BC59F5C9-0EEF-4690-8F83-005840CC474A", AccountName: "Acme", AccountNumber: "0123"}}
	if _, err := c.Send(t.Context(), chunkOf(wallet("E1", "254712345678", "1500"), bank)); err != nil {
		t.Fatal(err)
	}
	h := f.hdrs[0]
	for k, v := range map[string]string{"Authorization": "Bearer tok-1", "Content-Type": "application/json",
		"Accept": "application/json", "User-Agent": "payroll/test"} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	if h.Get("Idempotency-Key") != "" || h.Get("X-Idempotency-Key") != "" {
		t.Error("an idempotency key header would let the transport resend the POST")
	}
	want := `{"destinations":[` +
		`{"type":"mobile_wallet","phone_number":"254712345678","network":"Safaricom","amount":1500,"description":"Salary","nickname":"Jane E1"},` +
		`{"type":"bank_account","bank_branch_ref":"BC59F5C9-0EEF-4690-8F83-005840CC474A","account_name":"Acme","account_number":"0123","amount":4200,"description":"Payment","nickname":"Acme Ltd"}],` +
		`"source_identifier":"4321","currency":"KES","metadata":{"batch":"nov","lines":"2","total":"5700.00"},` +
		`"_links":{"callback_url":"https://payroll.example/callbacks/kopokopo"}}`
	if string(f.bodies[0]) != want {
		t.Errorf("body\n%s\nwant\n%s", f.bodies[0], want)
	}
}

func TestSendRefusesWithoutHTTP(t *testing.T) {
	f := newFake(t, created)
	c := newTestClient(t, f.srv.URL)
	frac := wallet("E1", "254712345678", "1500.50")
	tzs := wallet("E1", "254712345678", "1500")
	tzs.Currency = batch.TZS
	noTill := batch.Line{Reference: "T", Currency: batch.KES, Amount: batch.MustMoney("10"), Dest: batch.Destination{Type: batch.Till}}
	odd := wallet("E1", "25471234", "1500")
	tests := []struct {
		name  string
		chunk batch.Chunk
	}{
		{"empty chunk", chunkOf()},
		{"nil lines", batch.Chunk{Provider: batch.KopoKopo, Currency: batch.KES}},
		{"fractional amount", chunkOf(frac)},
		{"TZS line", chunkOf(tzs)},
		{"TZS chunk", batch.Chunk{Provider: batch.KopoKopo, Currency: batch.TZS, Lines: []batch.Line{wallet("E1", "254712345678", "1500")}}},
		{"other provider", batch.Chunk{Provider: batch.KiotaPay, Currency: batch.KES, Lines: []batch.Line{wallet("E1", "254712345678", "1500")}}},
		{"repeated destination", chunkOf(wallet("E1", "254712345678", "1500"), wallet("E2", "254712345678", "1500"))},
		{"till without number", chunkOf(noTill)},
		{"short phone", chunkOf(odd)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Send(t.Context(), tc.chunk)
			if !errors.Is(err, batch.ErrRejected) {
				t.Fatalf("error %v, want ErrRejected", err)
			}
		})
	}
	if n := f.tokens.Load() + f.posts.Load(); n != 0 {
		t.Errorf("%d HTTP requests for refused chunks", n)
	}
}

func TestSendRefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newTestClient(t, "http://"+addr)
	_, err = c.Send(t.Context(), chunkOf(wallet("E1", "254712345678", "1500")))
	if !errors.Is(err, batch.ErrTransient) {
		t.Fatalf("error %v, want ErrTransient", err)
	}
	// The token endpoint failed first; the same holds for send_money with a cached token.
	f := newFake(t, created)
	c = newTestClient(t, f.srv.URL)
	if _, err := c.conn.Tokens.Get(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	f.srv.Close()
	_, err = c.Send(t.Context(), chunkOf(wallet("E1", "254712345678", "1500")))
	if !errors.Is(err, batch.ErrTransient) || !providers.NothingSent(err) {
		t.Fatalf("error %v, want ErrTransient (nothing sent)", err)
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	tests := []struct {
		name  string
		token func(http.ResponseWriter, *http.Request, int)
		msg   string
	}{
		{"invalid client", func(w http.ResponseWriter, r *http.Request, n int) {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"invalid_client","error_description":"Client authentication failed"}`)
		}, "credentials refused: Client authentication failed"},
		{"500", func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(500) }, "Internal Server Error"},
		{"no access token", func(w http.ResponseWriter, r *http.Request, n int) { io.WriteString(w, `{"token_type":"Bearer"}`) }, "no access_token"},
		{"not json", func(w http.ResponseWriter, r *http.Request, n int) { io.WriteString(w, `<html>`) }, "token response"},
		{"mac token", func(w http.ResponseWriter, r *http.Request, n int) {
			io.WriteString(w, `{"access_token":"x","token_type":"mac"}`)
		}, "not Bearer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, created)
			f.token = tc.token
			c := newTestClient(t, f.srv.URL)
			_, err := c.Send(t.Context(), chunkOf(wallet("E1", "254712345678", "1500")))
			if !errors.Is(err, batch.ErrTransient) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want ErrTransient with %q", err, tc.msg)
			}
			if errors.Is(err, batch.ErrOutcomeUnknown) || errors.Is(err, batch.ErrRejected) {
				t.Errorf("error %v wraps more than one class", err)
			}
			if f.posts.Load() != 0 {
				t.Error("send_money was called without a token")
			}
		})
	}
}

// TestTokenSingleFlight: many concurrent senders share one token fetch,
// and a token is replaced at 90% of its life.
func TestTokenSingleFlight(t *testing.T) {
	f := newFake(t, created)
	gate := make(chan struct{})
	f.token = func(w http.ResponseWriter, r *http.Request, n int) {
		<-gate // hold the first fetch until every sender is waiting
		fmt.Fprintf(w, `{"access_token":"tok-%d","expires_in":100}`, n)
	}
	var mu sync.Mutex
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := newTestClient(t, f.srv.URL, func(cfg *Config) { cfg.Now = clock })
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := c.Send(t.Context(), chunkOf(wallet(fmt.Sprint(i), fmt.Sprintf("2547123456%02d", i), "100")))
			errs <- err
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if f.tokens.Load() != 1 || f.posts.Load() != 20 {
		t.Fatalf("%d token fetches and %d POSTs, want 1 and 20", f.tokens.Load(), f.posts.Load())
	}
	mu.Lock()
	now = now.Add(89 * time.Second)
	mu.Unlock()
	c.Send(t.Context(), chunkOf(wallet("a", "254712345601", "100")))
	if f.tokens.Load() != 1 {
		t.Fatal("token replaced before 90% of its life")
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	c.Send(t.Context(), chunkOf(wallet("b", "254712345602", "100")))
	if f.tokens.Load() != 2 || f.auths[len(f.auths)-1] != "Bearer tok-2" {
		t.Fatalf("token not replaced at 90%% of its life: %d fetches, last %q", f.tokens.Load(), f.auths[len(f.auths)-1])
	}
}

// TestExactlyOnePOSTPerSend: the server closes every kept-alive connection
// right after answering, and on every third request closes it without any
// answer. No POST may reach the server twice, every unanswered one must be
// OutcomeUnknown, and every send must be seen exactly once when it was
// answered.
func TestExactlyOnePOSTPerSend(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close() // every connection dies after one exchange, without "Connection: close"
		if r.URL.Path == "/oauth/token" {
			b := `{"access_token":"tok","expires_in":3600}`
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
			bw.Flush()
			return
		}
		n := posts.Add(1)
		var req sendMoneyRequest
		json.Unmarshal(body, &req)
		mu.Lock()
		for _, d := range req.Destinations {
			seen[d.PhoneNumber]++
		}
		mu.Unlock()
		if n%3 == 0 {
			return // closed without an answer
		}
		fmt.Fprintf(bw, "HTTP/1.1 201 Created\r\nLocation: /api/v2/send_money/id-%d\r\nContent-Length: 0\r\n\r\n", n)
		bw.Flush()
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	const sends = 30
	var accepted, unknown int
	for i := range sends {
		phone := fmt.Sprintf("2547000000%02d", i)
		_, err := c.Send(t.Context(), chunkOf(wallet(fmt.Sprint(i), phone, "100")))
		mu.Lock()
		n := seen[phone]
		mu.Unlock()
		switch {
		case err == nil:
			accepted++
			if n != 1 {
				t.Errorf("send %d accepted but seen %d times", i, n)
			}
		case errors.Is(err, batch.ErrOutcomeUnknown):
			unknown++
			if n > 1 {
				t.Errorf("send %d seen %d times", i, n)
			}
		default:
			t.Errorf("send %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for phone, n := range seen {
		if n != 1 {
			t.Errorf("%s received %d times", phone, n)
		}
	}
	if int(posts.Load()) != sends || len(seen) != sends {
		t.Errorf("server saw %d POSTs for %d phones, want %d", posts.Load(), len(seen), sends)
	}
	if unknown != sends/3 || accepted != sends-sends/3 {
		t.Errorf("accepted %d, unknown %d; want %d and %d", accepted, unknown, sends-sends/3, sends/3)
	}
}

func TestPoll(t *testing.T) {
	doc := func(status, batches string) string {
		return `{"data":{"id":"id-1","type":"send_money","attributes":{"status":"` + status + `","source_identifier":null,
		"destinations":[{"type":"bank_account","bank_branch_ref":"BC59F5C9-0EEF-4690-8F83-005840CC474A","account_name":"A","account_number":"0123","amount":4200,"description":"x"},
		{"type":"paybill","paybill_number":"840106","paybill_account_number":"a098457","amount":700,"description":"x"}],
		"transfer_batches":` + batches + `,"errors":null,"_links":{"self":"http://x/api/v2/send_money/id-1"}}}}`
	}
	tests := []struct {
		name string
		body string
		want []wantResult
	}{
		{"scheduled", `{"data":{"id":"id-1","attributes":{"status":"Scheduled","destinations":null,"transfer_batches":null,"errors":null}}}`, nil},
		{"mixed", doc("Processed", `[
			{"status":"Failed","amount":"700.0","disbursements":[{"amount":"700.0","status":"Failed","errors":["Invalid paybill account"],"destination_type":"paybill","paybill_number":"840106","paybill_account_number":"a098457","transaction_reference":null}]},
			{"status":"Transferred","amount":4200,"disbursements":[{"amount":4200,"status":"Transferred","errors":null,"destination_type":"bank_account","account_number":"0123","destination_reference":"d1","transaction_reference":12345}]},
			{"status":"Transferred","disbursements":[{"amount":"10.0","status":"Transferred","errors":null,"destination_type":"till","till_number":"555","transaction_reference":"R1"}]},
			{"status":"Transferred","disbursements":[{"amount":"11","status":"Transferred","errors":"something odd","destination_type":"till","till_number":"556"}]},
			{"status":"Transferred","disbursements":[{"amount":"12.00","status":"Reversed","destination_type":"mobile_wallet","phone_number":"+254712000001"}]},
			{"status":"Transferred","disbursements":[{"amount":"13","status":"Processing","destination_type":"mobile_wallet","phone_number":254712000002}]},
			{"status":"Transferred","disbursements":[{"amount":"14","status":"Cancelled","destination_type":"bank_account","account_number":"999","destination_reference":"d9"}]}
		]`), []wantResult{
			{"paybill:840106:A098457", "700.00", batch.StateFailed, ""},
			{"bank_account:bc59f5c9-0eef-4690-8f83-005840cc474a:0123", "4200.00", batch.StatePaid, "12345"},
			{"till:555", "10.00", batch.StatePaid, "R1"},
			{"till:556", "11.00", batch.StateAccepted, ""},
			{"mobile_wallet:254712000001", "12.00", batch.StateFailed, ""},
			{"mobile_wallet:254712000002", "13.00", batch.StateAccepted, ""},
			{"bank_account:?:d9", "14.00", batch.StateFailed, ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, created)
			f.poll = func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer tok-1" || r.Header.Get("User-Agent") == "" {
					t.Errorf("poll headers %v", r.Header)
				}
				io.WriteString(w, tc.body)
			}
			c := newTestClient(t, f.srv.URL)
			loc := f.srv.URL + "/api/v2/send_money/id-1"
			for _, ref := range []string{loc, "id-1"} {
				got, err := c.Poll(t.Context(), ref)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("%d results, want %d: %+v", len(got), len(tc.want), got)
				}
				for i, w := range tc.want {
					g := got[i]
					if g.Identity != w.identity || g.Amount.String() != w.amount || g.Status != w.status || g.Receipt != w.receipt {
						t.Errorf("result %d = {%s %s %s %q}, want {%s %s %s %q}", i, g.Identity, g.Amount, g.Status, g.Receipt, w.identity, w.amount, w.status, w.receipt)
					}
					if g.Reference != ref || g.Source != "poll" {
						t.Errorf("reference %q source %q", g.Reference, g.Source)
					}
					if g.Status == batch.StateFailed && g.Reason == "" {
						t.Errorf("failed result %d without reason", i)
					}
				}
			}
		})
	}
}

func TestPollErrors(t *testing.T) {
	tests := []struct {
		name string
		poll func(http.ResponseWriter, *http.Request)
		kind error
	}{
		{"404", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, batch.ErrRejected},
		{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, batch.ErrOutcomeUnknown},
		{"bad json", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"data":`) }, batch.ErrOutcomeUnknown},
		{"float amount with 3 decimals", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"data":{"id":"x","attributes":{"transfer_batches":[{"disbursements":[{"amount":"1.005"}]}]}}}`)
		}, batch.ErrOutcomeUnknown},
		{"exponent amount", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"data":{"id":"x","attributes":{"transfer_batches":[{"disbursements":[{"amount":1e3}]}]}}}`)
		}, batch.ErrOutcomeUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, created)
			f.poll = tc.poll
			c := newTestClient(t, f.srv.URL)
			_, err := c.Poll(t.Context(), f.srv.URL+"/api/v2/send_money/x")
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want %v", err, tc.kind)
			}
		})
	}
}

func TestReferenceFromLocation(t *testing.T) {
	for in, want := range map[string]string{
		"https://sandbox.kopokopo.com/api/v2/send_money/d76265cd-0951-e511-80da-0aa34a9b2388":  "d76265cd-0951-e511-80da-0aa34a9b2388",
		"https://sandbox.kopokopo.com/api/v2/send_money/d76265cd-0951-e511-80da-0aa34a9b2388/": "d76265cd-0951-e511-80da-0aa34a9b2388",
		"/api/v2/send_money/abc?x=1": "abc?x=1",
		"abc":                        "abc",
	} {
		if got := ReferenceFromLocation(in); got != want {
			t.Errorf("ReferenceFromLocation(%q) = %q, want %q", in, got, want)
		}
	}
	c := newTestClient(t, "https://sandbox.kopokopo.com/")
	if got := c.Location("abc"); got != "https://sandbox.kopokopo.com/api/v2/send_money/abc" {
		t.Errorf("Location = %q", got)
	}
}

func TestNewValidates(t *testing.T) {
	base := Config{ClientID: "i", ClientSecret: "s", CallbackURL: "https://x/cb"}
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"bad base", func(c *Config) { c.BaseURL = "sandbox.kopokopo.com" }, false},
		{"no secret", func(c *Config) { c.ClientSecret = "" }, false},
		{"no callback", func(c *Config) { c.CallbackURL = "" }, false},
		{"4 metadata keys", func(c *Config) { c.Metadata = map[string]string{"a": "", "b": "", "c": "", "d": ""} }, false},
		{"reserved key", func(c *Config) { c.Metadata = map[string]string{"total": ""} }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mod(&cfg)
			_, err := New(cfg)
			if (err == nil) != tc.ok {
				t.Errorf("New: %v", err)
			}
		})
	}
}
