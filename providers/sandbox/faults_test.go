package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"
)

// sender sends one valid payout request to a provider (distinct phone per i).
type sender struct {
	name     Provider
	token    func(e *env) string
	send     func(e *env, tok string, i int) (*http.Response, []byte, error)
	errShape func(t *testing.T, st int, b []byte, want int)
}

func senders() []sender {
	post := func(e *env, path, tok string, body any) (*http.Response, []byte, error) {
		req, _ := http.NewRequestWithContext(e.t.Context(), "POST", e.url+path, bytes.NewReader(mustMarshal(e.t, body)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b, nil
	}
	return []sender{
		{
			name:  KopoKopo,
			token: (*env).k2Token,
			send: func(e *env, tok string, i int) (*http.Response, []byte, error) {
				return post(e, "/api/v2/send_money", tok, e.k2Body(1000, phoneN(i)))
			},
			errShape: func(t *testing.T, st int, b []byte, want int) {
				t.Helper()
				var m struct {
					Code int `json:"error_code"`
				}
				if json.Unmarshal(b, &m) != nil || st != want || m.Code != want {
					t.Fatalf("got %d %s, want %d {error_code:%d}", st, b, want, want)
				}
			},
		},
		{
			name:  KiotaPay,
			token: (*env).kpToken,
			send: func(e *env, tok string, i int) (*http.Response, []byte, error) {
				return post(e, "/api/sandbox/v1/send-money", tok, e.kpBody(phoneN(i), 1000))
			},
			errShape: func(t *testing.T, st int, b []byte, want int) {
				t.Helper()
				var m struct{ Error *struct{ Code string } }
				if json.Unmarshal(b, &m) != nil || st != want || m.Error == nil || m.Error.Code == "" {
					t.Fatalf("got %d %s, want %d {error:{code...}}", st, b, want)
				}
			},
		},
	}
}

func phoneN(i int) string { return fmt.Sprintf("2547%08d", i) }

func TestSendFaults(t *testing.T) {
	tests := []struct {
		name     string
		faults   Faults
		status   int // 0: connection dropped
		recorded int
		check    func(t *testing.T, resp *http.Response)
	}{
		{name: "429 before accepting", faults: Faults{RateLimited: Trigger{Next: 1}, RetryAfter: 2 * time.Second}, status: 429,
			check: func(t *testing.T, resp *http.Response) {
				if ra := resp.Header.Get("Retry-After"); ra != "2" {
					t.Errorf("Retry-After %q, want 2", ra)
				}
			}},
		{name: "503 before accepting", faults: Faults{Unavailable: Trigger{Next: 1}}, status: 503},
		{name: "500 before accepting", faults: Faults{ErrorBefore: Trigger{Next: 1}}, status: 500},
		{name: "500 after accepting", faults: Faults{ErrorAfter: Trigger{Next: 1}}, status: 500, recorded: 1},
		{name: "drop after accepting", faults: Faults{DropAfter: Trigger{Next: 1}}, status: 0, recorded: 1},
		{name: "token expiry", faults: Faults{ExpireTokens: Trigger{Next: 1}}, status: 401},
	}
	for _, sd := range senders() {
		for _, tc := range tests {
			t.Run(string(sd.name)+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t, Options{})
				tok := sd.token(e)
				e.s.SetFaults(sd.name, tc.faults)
				resp, b, err := sd.send(e, tok, 1)
				if tc.status == 0 {
					if err == nil {
						t.Fatalf("got %d %s, want a dropped connection", resp.StatusCode, b)
					}
				} else {
					if err != nil {
						t.Fatal(err)
					}
					sd.errShape(t, resp.StatusCode, b, tc.status)
					if tc.check != nil {
						tc.check(t, resp)
					}
				}
				if n := len(e.s.Truth()); n != tc.recorded {
					t.Fatalf("truth has %d payouts, want %d", n, tc.recorded)
				}
				// The fault was for the next request only; a fresh token works.
				resp, b, err = sd.send(e, sd.token(e), 2)
				if err != nil || resp.StatusCode != 201 {
					t.Fatalf("second request: %v %s", err, b)
				}
				e.flush()
				for _, p := range e.s.Truth() {
					if p.Status != StatusPaid {
						t.Errorf("payout %+v not paid", p)
					}
				}
				// An accepted-then-failed request still gets its callback.
				e.recv.wait(t, tc.recorded+1)
			})
		}
	}
}

func TestLatencyFault(t *testing.T) {
	for _, sd := range senders() {
		t.Run(string(sd.name), func(t *testing.T) {
			e := newEnv(t, Options{})
			tok := sd.token(e)
			e.s.SetFaults(sd.name, Faults{Latency: 40 * time.Millisecond, Jitter: 10 * time.Millisecond})
			start := time.Now()
			resp, b, err := sd.send(e, tok, 1)
			if err != nil || resp.StatusCode != 201 {
				t.Fatalf("%v %s", err, b)
			}
			if d := time.Since(start); d < 40*time.Millisecond {
				t.Errorf("answered in %s, want at least 40ms", d)
			}
		})
	}
}

func TestTriggers(t *testing.T) {
	fires := func(seed uint64, tr Trigger, n int) []bool {
		s := New(Options{Seed: seed})
		defer s.Close()
		var out []bool
		for range n {
			out = append(out, s.fire(KopoKopo, "x", func(Faults) Trigger { return tr }))
		}
		return out
	}
	count := func(b []bool) (n int) {
		for _, v := range b {
			if v {
				n++
			}
		}
		return n
	}
	if got := fires(1, Trigger{Every: 3}, 9); count(got) != 3 || !got[2] || !got[5] || !got[8] {
		t.Errorf("Every 3: %v", got)
	}
	if got := fires(1, Trigger{Next: 2}, 5); count(got) != 2 || !got[0] || !got[1] {
		t.Errorf("Next 2: %v", got)
	}
	if got := fires(1, Trigger{}, 5); count(got) != 0 {
		t.Errorf("zero trigger fired: %v", got)
	}
	a, b := fires(42, Trigger{Probability: 0.3}, 1000), fires(42, Trigger{Probability: 0.3}, 1000)
	if !jsonEqual(a, b) {
		t.Error("same seed, different fault sequence")
	}
	if n := count(a); n < 230 || n > 370 {
		t.Errorf("probability 0.3 fired %d/1000", n)
	}
	if jsonEqual(a, fires(43, Trigger{Probability: 0.3}, 1000)) {
		t.Error("different seeds, same sequence")
	}
}

func TestFaultsSwitchAtRunTime(t *testing.T) {
	e := newEnv(t, Options{KiotaPay: KiotaPayOptions{Traffic: Traffic{Faults: Faults{Unavailable: Always}}}})
	tok := e.kpToken()
	if st, _ := e.kpSend(tok, e.kpBody("254712345678", 1000)); st != 503 {
		t.Fatalf("start-up fault: %d", st)
	}
	e.s.SetFaults(KiotaPay, Faults{})
	if st, _ := e.kpSend(tok, e.kpBody("254712345678", 1000)); st != 201 {
		t.Fatalf("faults cleared: %d", st)
	}
	st, _, b := e.do("PUT", "/_sandbox/faults/kiotapay", "", []byte(`{"error_before":{"next":1}}`), nil)
	if st != 200 {
		t.Fatalf("PUT faults: %d %s", st, b)
	}
	if f := e.s.Faults(KiotaPay); f.ErrorBefore.Next != 1 {
		t.Errorf("Faults() = %+v", f)
	}
	st, _, b = e.do("GET", "/_sandbox/faults/kiotapay", "", nil, nil)
	if st != 200 || string(b) != `{"error_before":{"next":1}}` {
		t.Errorf("GET faults: %d %s", st, b)
	}
	if st, _ := e.kpSend(tok, e.kpBody("254712345670", 1000)); st != 500 {
		t.Fatalf("after PUT: %d", st)
	}
	if st, _, _ := e.do("PUT", "/_sandbox/faults/kiotapay", "", []byte(`{"bogus":1}`), nil); st != 400 {
		t.Errorf("unknown fault accepted: %d", st)
	}
	if st, _, _ := e.do("GET", "/_sandbox/faults/mpesa", "", nil, nil); st != 404 {
		t.Errorf("unknown provider: %d", st)
	}
	if st, _, _ := e.do("POST", "/_sandbox/expire-tokens/kiotapay", "", nil, nil); st != 204 {
		t.Errorf("expire-tokens: %d", st)
	}
	if st, _ := e.kpSend(tok, e.kpBody("254712345671", 1000)); st != 401 {
		t.Errorf("after expire-tokens: %d", st)
	}
}

func TestCallbackFaults(t *testing.T) {
	type cbCheck func(t *testing.T, e *env, calls []received)
	decodeK2 := func(t *testing.T, c received) (status, amount string) {
		var d map[string]any
		mustJSON(t, c.body, &d)
		disb := path(d, "data", "attributes", "transfer_batches", 0, "disbursements", 0)
		return path(disb, "status").(string), path(disb, "amount").(string)
	}
	decodeKP := func(t *testing.T, c received) (status string, amount float64) {
		var d struct {
			Status string
			Amount float64
		}
		mustJSON(t, c.body, &d)
		return d.Status, d.Amount
	}
	tests := []struct {
		name  string
		f     Faults
		phone string
		n     int // callbacks expected
		k2    cbCheck
		kp    cbCheck
	}{
		{name: "lost", f: Faults{CallbackLost: Always}, n: 0},
		{name: "duplicate", f: Faults{CallbackDuplicate: Always}, n: 2,
			k2: func(t *testing.T, e *env, c []received) {
				if !bytes.Equal(c[0].body, c[1].body) || !c[0].valid || !c[1].valid {
					t.Error("duplicates differ or are unsigned")
				}
			},
			kp: func(t *testing.T, e *env, c []received) {
				if !bytes.Equal(c[0].body, c[1].body) {
					t.Error("duplicates differ")
				}
			}},
		{name: "forged", f: Faults{CallbackForged: Always}, phone: "254712345999", n: 2,
			k2: func(t *testing.T, e *env, c []received) {
				var forged, genuine int
				for _, x := range c {
					st, _ := decodeK2(t, x)
					switch {
					case !x.valid && st == "Transferred":
						forged++
					case x.valid && st == "Failed":
						genuine++
					}
				}
				if forged != 1 || genuine != 1 {
					t.Errorf("forged %d genuine %d", forged, genuine)
				}
			},
			kp: func(t *testing.T, e *env, c []received) {
				var got []string
				for _, x := range c {
					st, _ := decodeKP(t, x)
					got = append(got, st)
				}
				slices.Sort(got) // the pool delivers them in parallel
				if !slices.Equal(got, []string{"FAILED", "SUCCESS"}) {
					t.Errorf("statuses %v, want a forged SUCCESS and the genuine FAILED", got)
				}
			}},
		{name: "wrong amount", f: Faults{CallbackWrongAmount: Always}, n: 1,
			k2: func(t *testing.T, e *env, c []received) {
				if _, amt := decodeK2(t, c[0]); amt != "1100.0" || !c[0].valid {
					t.Errorf("amount %s valid %v, want 1100.0 correctly signed", amt, c[0].valid)
				}
			},
			kp: func(t *testing.T, e *env, c []received) {
				if _, amt := decodeKP(t, c[0]); amt != 1100 {
					t.Errorf("amount %v, want 1100", amt)
				}
			}},
	}
	for _, sd := range senders() {
		for _, tc := range tests {
			t.Run(string(sd.name)+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t, Options{})
				tok := sd.token(e)
				e.s.SetFaults(sd.name, tc.f)
				var resp *http.Response
				var err error
				if tc.phone != "" && sd.name == KopoKopo {
					resp, _, err = sendBody(e, "/api/v2/send_money", tok, e.k2Body(1000, tc.phone))
				} else if tc.phone != "" {
					resp, _, err = sendBody(e, "/api/sandbox/v1/send-money", tok, e.kpBody(tc.phone, 1000))
				} else {
					resp, _, err = sd.send(e, tok, 1)
				}
				if err != nil || resp.StatusCode != 201 {
					t.Fatalf("send: %v", err)
				}
				e.flush()
				calls := e.recv.got()
				if len(calls) != tc.n {
					t.Fatalf("%d callbacks, want %d", len(calls), tc.n)
				}
				if c := map[Provider]cbCheck{KopoKopo: tc.k2, KiotaPay: tc.kp}[sd.name]; c != nil {
					c(t, e, calls)
				}
				// Truth is unaffected by callback faults.
				if p := e.s.Truth(); len(p) != 1 || p[0].Amount != "1000" || p[0].Status == StatusPending {
					t.Errorf("truth %+v", p)
				}
			})
		}
	}
}

func sendBody(e *env, path, tok string, body any) (*http.Response, []byte, error) {
	st, h, b := e.do("POST", path, tok, mustMarshal(e.t, body), nil)
	return &http.Response{StatusCode: st, Header: h}, b, nil
}

func TestCallbackDelayedReorders(t *testing.T) {
	for _, sd := range senders() {
		t.Run(string(sd.name), func(t *testing.T) {
			e := newEnv(t, Options{})
			tok := sd.token(e)
			e.s.SetFaults(sd.name, Faults{CallbackDelayed: Trigger{Next: 1}, CallbackDelay: 150 * time.Millisecond})
			for i := range 2 {
				if resp, b, err := sd.send(e, tok, i+1); err != nil || resp.StatusCode != 201 {
					t.Fatalf("send %d: %v %s", i, err, b)
				}
				time.Sleep(20 * time.Millisecond)
			}
			calls := e.recv.wait(t, 2)
			if !bytes.Contains(calls[0].body, []byte(phoneN(2))) || !bytes.Contains(calls[1].body, []byte(phoneN(1))) {
				t.Errorf("callbacks not reordered:\n%s\n%s", calls[0].body, calls[1].body)
			}
		})
	}
}

func TestCloseCancelsPendingCallbacks(t *testing.T) {
	s := New(Options{ProcessingDelay: time.Hour})
	srvURL, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, s: s, url: srvURL, recv: newReceiver(t, s.Credentials().KopoKopoAPIKey)}
	tok := e.kpToken()
	e.kpRequestID(tok, e.kpBody("254712345678", 1000))
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %s", d)
	}
	if _, err := http.Get(srvURL + "/_sandbox/stats"); err == nil {
		t.Error("listener still open after Close")
	}
	if len(e.recv.got()) != 0 || s.Truth()[0].Status != StatusPending {
		t.Error("settled after Close")
	}
}
