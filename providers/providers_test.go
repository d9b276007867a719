package providers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"payroll/batch"
)

func resp(code int, hdr ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return &http.Response{StatusCode: code, Header: h}
}

func TestClassify(t *testing.T) {
	date := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		name       string
		resp       *http.Response
		body       string
		err        error
		kind       error // nil: no error
		code, msg  string
		retryAfter time.Duration
	}{
		{name: "201", resp: resp(201)},
		{name: "200", resp: resp(200)},
		{name: "no response no error"},
		{name: "refused", err: dial, kind: batch.ErrTransient},
		{name: "refused errno only", err: fmt.Errorf("x: %w", syscall.ECONNREFUSED), kind: batch.ErrTransient},
		{name: "dns", err: &net.DNSError{Err: "no such host", Name: "x"}, kind: batch.ErrTransient},
		{name: "marked not sent", err: notSent{context.DeadlineExceeded}, kind: batch.ErrTransient},
		{name: "timeout after write", err: context.DeadlineExceeded, kind: batch.ErrOutcomeUnknown},
		{name: "reset after write", err: reset, kind: batch.ErrOutcomeUnknown},
		{name: "EOF after write", err: errors.New("EOF"), kind: batch.ErrOutcomeUnknown},
		{name: "already classified", err: &Error{Kind: batch.ErrRejected, Message: "pre"}, kind: batch.ErrRejected, msg: "pre"},
		{name: "429 seconds", resp: resp(429, "Retry-After", "7"), kind: batch.ErrTransient, retryAfter: 7 * time.Second, msg: "Too Many Requests"},
		{name: "429 date", resp: resp(429, "Retry-After", date), kind: batch.ErrTransient, retryAfter: 2 * time.Minute},
		{name: "429 garbage", resp: resp(429, "Retry-After", "soon"), kind: batch.ErrTransient},
		{name: "503", resp: resp(503, "Retry-After", "3"), kind: batch.ErrTransient, retryAfter: 3 * time.Second},
		{name: "401", resp: resp(401), body: `{"error":{"code":"AUTH_INVALID_TOKEN","message":"expired"}}`, kind: batch.ErrTransient, code: "AUTH_INVALID_TOKEN", msg: "expired"},
		{name: "400 k2", resp: resp(400), body: `{"error_code":400,"error_message":"Source identifier is invalid"}`, kind: batch.ErrRejected, code: "400", msg: "Source identifier is invalid"},
		{name: "400 k2 errors", resp: resp(400), body: `{"errors":["a","b"]}`, kind: batch.ErrRejected, msg: "a; b"},
		{name: "400 kiotapay nested", resp: resp(400), body: `{"error":{"code":"REQ_MISSING_FIELD","message":"remarks is required","details":"remarks"}}`, kind: batch.ErrRejected, code: "REQ_MISSING_FIELD", msg: "remarks is required (remarks)"},
		{name: "400 kiotapay flat", resp: resp(400), body: `{"errorCode":"REQ_INVALID_FIELD","message":"bad phone","details":"phoneNumber","statusCode":400}`, kind: batch.ErrRejected, code: "REQ_INVALID_FIELD", msg: "bad phone (phoneNumber)"},
		{name: "400 oauth", resp: resp(400), body: `{"error":"unsupported_grant_type","error_description":"nope"}`, kind: batch.ErrRejected, code: "unsupported_grant_type", msg: "nope"},
		{name: "403 empty", resp: resp(403), kind: batch.ErrRejected, msg: "Forbidden"},
		{name: "404 html", resp: resp(404), body: "<html>\nnot found", kind: batch.ErrRejected, msg: "<html>"},
		{name: "422", resp: resp(422), body: `{"message":"invalid"}`, kind: batch.ErrRejected, msg: "invalid"},
		{name: "409", resp: resp(409), kind: batch.ErrOutcomeUnknown},
		{name: "500", resp: resp(500), body: `{"error_message":"internal server error"}`, kind: batch.ErrOutcomeUnknown, msg: "internal server error"},
		{name: "502", resp: resp(502), kind: batch.ErrOutcomeUnknown},
		{name: "504", resp: resp(504), kind: batch.ErrOutcomeUnknown},
		{name: "302", resp: resp(302), kind: batch.ErrOutcomeUnknown},
		{name: "100", resp: resp(100), kind: batch.ErrOutcomeUnknown},
	}
	classes := []error{batch.ErrTransient, batch.ErrRejected, batch.ErrOutcomeUnknown}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Classify(batch.KopoKopo, "send", tc.resp, []byte(tc.body), tc.err)
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("Classify = %v, want nil", err)
				}
				return
			}
			n := 0
			for _, c := range classes {
				if errors.Is(err, c) {
					n++
				}
			}
			if !errors.Is(err, tc.kind) || n != 1 {
				t.Fatalf("Classify = %v, want exactly %v", err, tc.kind)
			}
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("not an *Error: %T", err)
			}
			if tc.code != "" && e.Code != tc.code {
				t.Errorf("code %q, want %q", e.Code, tc.code)
			}
			if tc.msg != "" && e.Message != tc.msg {
				t.Errorf("message %q, want %q", e.Message, tc.msg)
			}
			got, _ := batch.RetryAfter(err)
			if got < tc.retryAfter-time.Second || got > tc.retryAfter+time.Second {
				t.Errorf("retry after %s, want %s", got, tc.retryAfter)
			}
			if tc.err != nil && !errors.Is(tc.err, ErrNotSent) && !errors.Is(err, tc.err) {
				t.Errorf("errors.Is(err, cause) is false for %v", err)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "0": 0, "-5": 0, "120": 2 * time.Minute, " 3 ": 3 * time.Second, "99999999": 24 * time.Hour,
		"Sun, 01 Nov 2026 08:01:30 GMT": 90 * time.Second, "Sun, 01 Nov 2026 07:00:00 GMT": 0, "1.5": 0, "soon": 0,
	} {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]string{"1000.0": "1000.00", "236": "236.00", "1500.75": "1500.75", "10.500": "10.50", "0": "0.00"} {
		m, ok, err := ParseAmount(in)
		if err != nil || !ok || m.String() != want {
			t.Errorf("ParseAmount(%q) = %s, %v, %v; want %s", in, m, ok, err, want)
		}
	}
	for _, bad := range []string{"1e3", "-5", "+5", "1.005", "NaN", "1,000", "0x10"} {
		if _, _, err := ParseAmount(bad); err == nil {
			t.Errorf("ParseAmount(%q) accepted", bad)
		}
	}
	if _, ok, err := ParseAmount(""); ok || err != nil {
		t.Error("empty amount")
	}
}

func TestErrorText(t *testing.T) {
	e := (&Error{Kind: batch.ErrTransient, Provider: batch.KiotaPay, Op: "send", StatusCode: 429, Code: "RATE_LIMIT_EXCEEDED", Message: "slow"}).WithRetryAfter(time.Second)
	want := "kiotapay: send: HTTP 429 (RATE_LIMIT_EXCEEDED): slow (retry after 1s) [" + batch.ErrTransient.Error() + "]"
	if e.Error() != want {
		t.Errorf("%q\nwant %q", e.Error(), want)
	}
}

// TestDoMarksNotSent: a refused connection is marked not sent; a request
// that was written and then dropped is not.
func TestDoMarksNotSent(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := NewHTTPClient(time.Second)
	req, _ := http.NewRequest("POST", "http://"+addr+"/x", strings.NewReader("{}"))
	if _, _, err := Do(c, req); !errors.Is(err, ErrNotSent) || !NothingSent(err) {
		t.Errorf("refused: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	defer srv.Close()
	req, _ = http.NewRequest("POST", srv.URL, strings.NewReader("{}"))
	if _, _, err := Do(c, req); err == nil || NothingSent(err) {
		t.Errorf("dropped after write: %v", err)
	}
}

// TestTransportNeverResendsPOST: Go's transport does not resend a POST
// whose connection dies after it was written, on a pooled transport either
// (no Idempotency-Key), while a GET on the same situation is resent. This
// pins the stdlib behaviour the clients rely on.
func TestTransportNeverResendsPOST(t *testing.T) {
	var mu sync.Mutex
	counts := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		counts[r.Method]++
		n := counts[r.Method]
		mu.Unlock()
		if n == 2 { // the second request of each method: written, then dropped
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
			return
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	pooled := &http.Client{Transport: &http.Transport{}}
	for _, m := range []string{"POST", "POST"} {
		req, _ := http.NewRequest(m, srv.URL, strings.NewReader("{}"))
		Do(pooled, req)
	}
	for range 2 {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		Do(pooled, req)
	}
	mu.Lock()
	defer mu.Unlock()
	if counts["POST"] != 2 {
		t.Errorf("server saw %d POSTs for 2 sends", counts["POST"])
	}
	if counts["GET"] != 3 {
		t.Errorf("server saw %d GETs, want 3 (the dropped one resent on a reused connection)", counts["GET"])
	}
}

func TestTokenCache(t *testing.T) {
	var fetches atomic.Int32
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := NewTokenCache(func(ctx context.Context) (Token, error) {
		n := fetches.Add(1)
		time.Sleep(10 * time.Millisecond)
		return Token{Value: fmt.Sprint("t", n), RefreshAt: clock().Add(time.Minute)}, nil
	}, clock)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if tok, err := c.Get(t.Context(), ""); err != nil || tok != "t1" {
				t.Errorf("Get = %q, %v", tok, err)
			}
		})
	}
	wg.Wait()
	if fetches.Load() != 1 {
		t.Fatalf("%d fetches for 10 concurrent callers", fetches.Load())
	}
	// A stale token forces one refresh; a second caller with the same stale
	// token gets the new one without another fetch.
	if tok, _ := c.Get(t.Context(), "t1"); tok != "t2" {
		t.Fatalf("after stale: %q", tok)
	}
	if tok, _ := c.Get(t.Context(), "t1"); tok != "t2" || fetches.Load() != 2 {
		t.Fatalf("second stale caller: %q, %d fetches", tok, fetches.Load())
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if tok, _ := c.Get(t.Context(), ""); tok != "t3" {
		t.Fatalf("after expiry: %q", tok)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	c.sem <- struct{}{} // a fetch in progress
	if _, err := c.Get(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting with a cancelled context: %v", err)
	}
	<-c.sem
}
