package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestTruthUnderConcurrentSends(t *testing.T) {
	e := newEnv(t, Options{})
	k2, kp := e.k2Token(), e.kpToken()
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan string, 2*n)
	for i := range n {
		wg.Go(func() {
			if st, _, b := e.k2Send(k2, e.k2Body(1000+i, phoneN(i), phoneN(1000+i))); st != 201 {
				errs <- fmt.Sprintf("k2 %d: %d %s", i, st, b)
			}
		})
		wg.Go(func() {
			if st, b := e.kpSend(kp, e.kpBody(phoneN(2000+i), 500+i)); st != 201 {
				errs <- fmt.Sprintf("kp %d: %d %s", i, st, b)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.flush()
	if got := len(e.s.Truth()); got != 3*n {
		t.Fatalf("truth has %d payouts, want %d", got, 3*n)
	}
	for i := range n {
		for _, id := range []string{phoneN(i), phoneN(1000 + i), phoneN(2000 + i)} {
			if c := e.s.PaidCount("mobile_wallet:" + id); c != 1 {
				t.Errorf("%s paid %d times", id, c)
			}
		}
	}
	calls := e.recv.wait(t, 2*n)
	for _, c := range calls {
		if c.path == "/k2" && !c.valid {
			t.Error("invalid Kopo Kopo signature")
		}
	}
	st := e.s.Stats()
	if st.Payouts != 3*n || st.Paid != 3*n || st.Requests["POST /api/v2/send_money"] != n || st.KiotaPay.Sends != n || st.KopoKopo.Sends != n {
		t.Errorf("stats %+v", st)
	}
	if len(e.s.Violations()) != 0 {
		t.Errorf("violations %+v", e.s.Violations())
	}
	if d, f := e.s.CallbackCounts(); d != 2*n || f != 0 {
		t.Errorf("callbacks delivered %d failed %d", d, f)
	}
}

func TestDuplicatePayoutViolation(t *testing.T) {
	e := newEnv(t, Options{})
	k2, kp := e.k2Token(), e.kpToken()
	mustSend := func(st int, b []byte) {
		t.Helper()
		if st != 201 {
			t.Fatalf("%d %s", st, b)
		}
	}
	st, _, b := e.k2Send(k2, e.k2Body(1000, "254711000001"))
	mustSend(st, b)
	st, _, b = e.k2Send(k2, e.k2Body(2000, "254711000001")) // another amount: not a duplicate
	mustSend(st, b)
	if n := e.s.ViolationCount(ViolationDuplicatePayout); n != 0 {
		t.Fatalf("violations %d after distinct amounts", n)
	}
	st, _, b = e.k2Send(k2, e.k2Body(1000, "254711000001")) // blind resend while pending
	mustSend(st, b)
	e.flush()
	st, b = e.kpSend(kp, e.kpBody("254711000001", 1000)) // same person, other provider, after paid
	mustSend(st, b)
	if n := e.s.ViolationCount(ViolationDuplicatePayout); n != 2 {
		t.Errorf("duplicate_payout = %d, want 2: %+v", n, e.s.Violations())
	}
	if c := e.s.PaidCount("mobile_wallet:254711000001"); c != 3 {
		t.Errorf("PaidCount %d, want 3 (the emulator pays duplicates, like the real thing)", c)
	}

	// A retry after a conclusive failure is not a duplicate.
	st, _, b = e.k2Send(k2, e.k2Body(1000, "254711000999"))
	mustSend(st, b)
	e.flush()
	st, _, b = e.k2Send(k2, e.k2Body(1000, "254711000999"))
	mustSend(st, b)
	if n := e.s.ViolationCount(ViolationDuplicatePayout); n != 2 {
		t.Errorf("retry after failure counted as duplicate")
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, Options{KiotaPay: KiotaPayOptions{Traffic: Traffic{RateLimit: 4, Burst: 1}}})
	tok := e.kpToken()
	var got []int
	var retry string
	for i := range 3 {
		st, h, _ := e.do("POST", "/api/sandbox/v1/send-money", tok, mustMarshal(t, e.kpBody(phoneN(i), 1000)), nil)
		got = append(got, st)
		if st == 429 {
			retry = h.Get("Retry-After")
		}
	}
	if got[0] != 201 || got[1] != 429 || got[2] != 429 || retry != "1" {
		t.Fatalf("statuses %v Retry-After %q, want 201 429 429 and 1", got, retry)
	}
	if n := e.s.ViolationCount(ViolationRateLimit); n != 2 {
		t.Errorf("rate_limit_exceeded = %d, want 2", n)
	}
	if n := len(e.s.Truth()); n != 1 {
		t.Errorf("truth %d, want 1", n)
	}
	time.Sleep(260 * time.Millisecond)
	if st, b := e.kpSend(tok, e.kpBody(phoneN(9), 1000)); st != 201 {
		t.Errorf("after waiting: %d %s", st, b)
	}
	st := e.s.Stats().KiotaPay
	if st.Sends != 4 || st.MaxPerSecond != 4 || st.Rate <= 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestPhoneSpacing(t *testing.T) {
	e := newEnv(t, Options{KiotaPay: KiotaPayOptions{Traffic: Traffic{MinPhoneInterval: time.Hour}}})
	tok := e.kpToken()
	e.kpRequestID(tok, e.kpBody("254712345678", 1000))
	e.kpRequestID(tok, e.kpBody("254712345670", 1000))
	time.Sleep(30 * time.Millisecond)
	e.kpRequestID(tok, e.kpBody("254712345678", 2000))
	st := e.s.Stats().KiotaPay
	if st.PhoneRepeats != 1 || st.MinPhoneSpacing < 30*time.Millisecond || st.MinPhoneSpacing > 5*time.Second {
		t.Errorf("stats %+v", st)
	}
	if n := e.s.ViolationCount(ViolationPhoneInterval); n != 1 {
		t.Errorf("phone_interval = %d, want 1", n)
	}
}

func TestFailRule(t *testing.T) {
	e := newEnv(t, Options{FailRule: FailSuffix("13", "77")})
	tok := e.kpToken()
	e.kpRequestID(tok, e.kpBody("254712345613", 1000))
	e.kpRequestID(tok, e.kpBody("254712345999", 1000))
	e.flush()
	e.s.SetFailRule(func(id, amount string) bool { return amount == "4242" })
	e.kpRequestID(tok, e.kpBody("254712345600", 4242))
	e.flush()
	e.s.SetFailRule(nil)
	e.kpRequestID(tok, e.kpBody("254712340999", 1000))
	e.flush()
	var got []Status
	for _, p := range e.s.Truth() {
		got = append(got, p.Status)
	}
	want := []Status{StatusFailed, StatusPaid, StatusFailed, StatusFailed}
	if !jsonEqual(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	rule := FailSuffix("999")
	for id, want := range map[string]bool{
		"mobile_wallet:254700000999": true, "paybill:999:12": false, "paybill:1:A999": true,
		"bank_account:x:0999": true, "till:5999": true, "till:9990": false,
	} {
		if rule(id, "1") != want {
			t.Errorf("FailSuffix(999)(%s) != %v", id, want)
		}
	}
}

func TestInspectionEndpoints(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.k2Token()
	e.k2Send(tok, e.k2Body(1000, "254712345678"))
	e.k2Send(tok, map[string]any{"currency": "KES"})
	e.flush()
	st, h, b := e.do("GET", "/_sandbox/truth", "", nil, nil)
	var truth struct{ Payouts []Payout }
	mustJSON(t, b, &truth)
	if st != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || len(truth.Payouts) != 1 ||
		truth.Payouts[0].Identity != "mobile_wallet:254712345678" || truth.Payouts[0].Status != StatusPaid {
		t.Errorf("truth: %d %s", st, b)
	}
	st, _, b = e.do("GET", "/_sandbox/stats", "", nil, nil)
	var stats struct {
		Stats
		ViolationList []Violation    `json:"violation_list"`
		Callbacks     map[string]int `json:"callbacks"`
	}
	mustJSON(t, b, &stats)
	if st != 200 || stats.Violations[ViolationEmptyDestinations] != 1 || len(stats.ViolationList) != 1 ||
		stats.Requests["POST /api/v2/send_money"] != 2 || stats.Requests["POST /oauth/token"] != 1 ||
		stats.Callbacks["delivered"] != 1 || stats.KopoKopo.Sends != 2 {
		t.Errorf("stats: %d %s", st, b)
	}
}

func TestStart(t *testing.T) {
	s := New(Options{})
	base, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("base %q", base)
	}
	c := s.Credentials()
	resp, err := http.PostForm(base+"/oauth/token", url.Values{"client_id": {c.KopoKopoClientID}, "client_secret": {c.KopoKopoClientSecret}, "grant_type": {"client_credentials"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("token over Start: %v %v", err, resp)
	}
	resp.Body.Close()
	c2 := New(Options{}).Credentials()
	if c == c2 || c.KopoKopoAPIKey == "" || c.KiotaPayAPISecret == "" {
		t.Error("credentials not random")
	}
	fixed := Credentials{KopoKopoClientID: "id", KopoKopoClientSecret: "secret", KopoKopoAPIKey: "key", KiotaPayAPIKey: "k", KiotaPayAPISecret: "s"}
	if got := New(Options{Credentials: fixed}).Credentials(); got != fixed {
		t.Errorf("given credentials replaced: %+v", got)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var out, logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ServeOptions{}, logger, &out) }()

	var base string
	env := map[string]string{}
	deadline := time.Now().Add(5 * time.Second)
	for len(env) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("no credentials printed: %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
		env = map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "# kopokopo base_url = "); ok {
				base = v
			}
			if kv, ok := strings.CutPrefix(line, "export "); ok {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		}
	}
	for _, k := range []string{"KOPOKOPO_CLIENT_ID", "KOPOKOPO_CLIENT_SECRET", "KOPOKOPO_API_KEY", "KIOTAPAY_API_KEY", "KIOTAPAY_API_SECRET"} {
		if env[k] == "" {
			t.Errorf("%s not exported", k)
		}
	}
	resp, err := http.PostForm(base+"/oauth/token", url.Values{"client_id": {env["KOPOKOPO_CLIENT_ID"]}, "client_secret": {env["KOPOKOPO_CLIENT_SECRET"]}, "grant_type": {"client_credentials"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("token from printed credentials: %v %v", err, resp)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if !strings.Contains(logs.String(), "path=/oauth/token status=200") {
		t.Errorf("request not logged: %s", logs.String())
	}
	if err := Serve(t.Context(), ServeOptions{Addr: "256.0.0.1:1"}, nil, &out); err == nil {
		t.Error("bad address accepted")
	}
}

// TestTimingSynctest checks token lifetimes and the processing delay with a
// fake clock, serving the handler in-process.
func TestTimingSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Options{
			KopoKopo: KopoKopoOptions{Traffic: Traffic{Faults: Faults{CallbackLost: Always}}},
			KiotaPay: KiotaPayOptions{Traffic: Traffic{Faults: Faults{CallbackLost: Always}}},
		})
		defer s.Close()
		h := s.Handler()
		c := s.Credentials()
		call := func(method, target, tok, ct, body string) *httptest.ResponseRecorder {
			r := httptest.NewRequest(method, target, strings.NewReader(body))
			r.Header.Set("User-Agent", "synctest")
			r.Header.Set("Content-Type", ct)
			if tok != "" {
				r.Header.Set("Authorization", "Bearer "+tok)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		var k2 struct {
			AccessToken string `json:"access_token"`
		}
		w := call("POST", "/oauth/token", "", "application/x-www-form-urlencoded",
			url.Values{"client_id": {c.KopoKopoClientID}, "client_secret": {c.KopoKopoClientSecret}, "grant_type": {"client_credentials"}}.Encode())
		mustJSON(t, w.Body.Bytes(), &k2)
		var kp struct {
			Data struct {
				AccessToken string `json:"access_token"`
			}
		}
		w = call("POST", "/api/v1/get-token", "", "application/json", fmt.Sprintf(`{"apiKey":%q,"apiSecret":%q}`, c.KiotaPayAPIKey, c.KiotaPayAPISecret))
		mustJSON(t, w.Body.Bytes(), &kp)

		body := `{"destinations":[{"type":"till","till_number":"123","amount":100,"description":"x"}],"currency":"KES","_links":{"callback_url":"http://127.0.0.1:1/cb"}}`
		w = call("POST", "/api/v2/send_money", k2.AccessToken, "application/json", body)
		if w.Code != 201 {
			t.Fatalf("send: %d %s", w.Code, w.Body)
		}
		loc := strings.TrimPrefix(w.Header().Get("Location"), "http://example.com")
		if w := call("GET", loc, k2.AccessToken, "", ""); !strings.Contains(w.Body.String(), `"status":"Scheduled"`) {
			t.Errorf("before the delay: %s", w.Body)
		}
		time.Sleep(DefaultProcessingDelay)
		synctest.Wait()
		if s.Truth()[0].Status != StatusPaid {
			t.Errorf("not settled after %s: %+v", DefaultProcessingDelay, s.Truth())
		}
		if w := call("GET", loc, k2.AccessToken, "", ""); !strings.Contains(w.Body.String(), `"status":"Processed"`) {
			t.Errorf("after the delay: %s", w.Body)
		}

		time.Sleep(DefaultKiotaPayTokenLife - DefaultProcessingDelay - time.Second)
		if w := call("GET", "/api/v1/send-money/all", kp.Data.AccessToken, "", ""); w.Code != 200 {
			t.Errorf("KiotaPay token before 300 s: %d", w.Code)
		}
		time.Sleep(time.Second)
		if w := call("GET", "/api/v1/send-money/all", kp.Data.AccessToken, "", ""); w.Code != 401 || !strings.Contains(w.Body.String(), "expired") {
			t.Errorf("KiotaPay token after 300 s: %d %s", w.Code, w.Body)
		}
		time.Sleep(DefaultKopoKopoTokenLife - DefaultKiotaPayTokenLife - time.Second)
		if w := call("GET", loc, k2.AccessToken, "", ""); w.Code != 200 {
			t.Errorf("Kopo Kopo token before 3600 s: %d", w.Code)
		}
		time.Sleep(time.Second)
		if w := call("GET", loc, k2.AccessToken, "", ""); w.Code != 401 || !strings.Contains(w.Body.String(), "ExpiredAccessToken") {
			t.Errorf("Kopo Kopo token after 3600 s: %d %s", w.Code, w.Body)
		}
	})
}

func TestHoldAndSettle(t *testing.T) {
	e := newEnv(t, Options{ProcessingDelay: time.Hour})
	tok := e.kpToken()
	id := e.kpRequestID(tok, e.kpBody("254712345678", 1000))
	st, _, b := e.do("GET", "/api/v1/send-money/status?requestId="+id, tok, nil, nil)
	if st != 200 || !strings.Contains(string(b), `"status":"PENDING"`) {
		t.Fatalf("held: %d %s", st, b)
	}
	e.s.Settle()
	e.flush() // returns: the settlement timer is gone
	st, _, b = e.do("GET", "/api/v1/send-money/status?requestId="+id, tok, nil, nil)
	if st != 200 || !strings.Contains(string(b), `"status":"SUCCESS"`) {
		t.Fatalf("settled: %d %s", st, b)
	}
	if calls := e.recv.got(); len(calls) != 1 {
		t.Errorf("%d callbacks, want 1", len(calls))
	}
}

// TestServeEnvFile: --env-file holds the same export lines, mode 0600,
// written once the sandbox listens (so sourcing it never waits on a pipe).
func TestServeEnvFile(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	file := filepath.Join(t.TempDir(), "sandbox.env")
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ServeOptions{EnvFile: file}, nil, &out) }()
	deadline := time.Now().Add(5 * time.Second)
	var body []byte
	for {
		if b, err := os.ReadFile(file); err == nil && bytes.Count(b, []byte("export ")) == 5 {
			body = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no env file")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "export ") && !strings.Contains(out.String(), line) {
			t.Errorf("%q is not what was printed", line)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
