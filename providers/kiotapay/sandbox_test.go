package kiotapay

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"payroll/batch"
	"payroll/providers"
	"payroll/providers/sandbox"
)

func sandboxClient(t *testing.T, opts sandbox.Options, mod func(*Config)) (*Client, *sandbox.Sandbox) {
	t.Helper()
	sb := sandbox.New(opts)
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() { srv.Close(); sb.Close() })
	cr := sb.Credentials()
	cfg := Config{BaseURL: srv.URL, APIKey: cr.KiotaPayAPIKey, APISecret: cr.KiotaPayAPISecret,
		CallbackURL: "http://127.0.0.1:1/cb",
		HTTPClient:  providers.NewHTTPClient(5 * time.Second)}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, sb
}

// TestSandboxPacedBatch: a batch through the emulator with its own rate
// limit (20/s) and phone interval (100 ms) enforced server-side, tokens
// expired on every fifth request, and a failing phone. The client's pacing
// (10/s, 150 ms per phone) must cause no violation; every payout is made
// once; Poll and the callbacks agree with the sandbox's record.
func TestSandboxPacedBatch(t *testing.T) {
	var mu sync.Mutex
	var cbs [][]byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		cbs = append(cbs, b)
		mu.Unlock()
	}))
	defer recv.Close()
	c, sb := sandboxClient(t, sandbox.Options{ProcessingDelay: 5 * time.Millisecond,
		KiotaPay: sandbox.KiotaPayOptions{Traffic: sandbox.Traffic{RateLimit: 20, Burst: 1, MinPhoneInterval: 100 * time.Millisecond,
			Faults: sandbox.Faults{ExpireTokens: sandbox.Trigger{Every: 5}}}}},
		func(cfg *Config) {
			cfg.Pacer = batch.NewPacer(batch.Pacing{Rate: 10, Burst: 1, PerPhoneInterval: 150 * time.Millisecond})
			cfg.CallbackURL = recv.URL + "/kp"
		})
	phones := []string{"254712345601", "254712345999"}
	var ids []string
	start := time.Now()
	for i := range 8 {
		// The caller paces, as batch.Runner does: wait, send, done.
		ch := one(kes(fmt.Sprint("E", i), phones[i%2], fmt.Sprint(100+i)))
		if err := c.cfg.Pacer.Wait(t.Context(), ch); err != nil {
			t.Fatal(err)
		}
		acc, err := c.Send(t.Context(), ch)
		c.cfg.Pacer.Done(ch, err == nil)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		ids = append(ids, acc.Reference)
	}
	if took := time.Since(start); took < 450*time.Millisecond {
		t.Errorf("8 sends, 4 per phone 150 ms apart, took only %s", took)
	}
	if v := sb.Violations(); len(v) != 0 {
		t.Fatalf("violations: %+v", v)
	}
	st := sb.Stats()
	if st.Payouts != 8 || st.Requests["POST /api/v1/get-token"] < 2 {
		t.Errorf("payouts %d, token requests %d", st.Payouts, st.Requests["POST /api/v1/get-token"])
	}
	if err := sb.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		res, err := c.Poll(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		r := res[0]
		want := batch.StatePaid
		if i%2 == 1 {
			want = batch.StateFailed
		}
		if r.Status != want || r.Identity != "mobile_wallet:"+phones[i%2] || r.Amount.String() != fmt.Sprintf("%d.00", 100+i) {
			t.Errorf("Poll %d = %+v", i, r)
		}
		if want == batch.StatePaid && r.Receipt == "" {
			t.Errorf("paid without a receipt: %+v", r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cbs) != 8 {
		t.Fatalf("%d callbacks", len(cbs))
	}
	for _, b := range cbs {
		id, status, _, _, err := ParseCallback(b)
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Status(t.Context(), id) // callbacks are unsigned: confirm
		if err != nil || s.Status != status {
			t.Errorf("callback says %s, status says %s (%v)", status, s.Status, err)
		}
	}
}

func TestSandboxFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults sandbox.Faults
		kind   error
		paid   int
	}{
		{"rate limited", sandbox.Faults{RateLimited: sandbox.Always}, batch.ErrTransient, 0},
		{"unavailable", sandbox.Faults{Unavailable: sandbox.Always}, batch.ErrTransient, 0},
		{"500 before", sandbox.Faults{ErrorBefore: sandbox.Always}, batch.ErrOutcomeUnknown, 0},
		{"500 after", sandbox.Faults{ErrorAfter: sandbox.Always}, batch.ErrOutcomeUnknown, 1},
		{"drop after", sandbox.Faults{DropAfter: sandbox.Always}, batch.ErrOutcomeUnknown, 1},
		{"tokens always expired", sandbox.Faults{ExpireTokens: sandbox.Always}, batch.ErrTransient, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, sb := sandboxClient(t, sandbox.Options{ProcessingDelay: -1, KiotaPay: sandbox.KiotaPayOptions{Traffic: sandbox.Traffic{Faults: tc.faults}}}, nil)
			_, err := c.Send(t.Context(), one(kes("E1", "254712345678", "100")))
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want %v", err, tc.kind)
			}
			if d, ok := batch.RetryAfter(err); tc.name == "rate limited" && (!ok || d != time.Second) {
				t.Errorf("retry after %s", d)
			}
			st := sb.Stats()
			if st.Payouts != tc.paid {
				t.Errorf("%d payouts, want %d", st.Payouts, tc.paid)
			}
			wantPosts := 1
			if tc.name == "tokens always expired" {
				wantPosts = 2 // one resend after the first 401, never more
			}
			if got := st.Requests["POST /api/sandbox/v1/send-money"]; got != wantPosts {
				t.Errorf("%d send-money requests, want %d", got, wantPosts)
			}
		})
	}
}

func TestSandboxRejects(t *testing.T) {
	c, sb := sandboxClient(t, sandbox.Options{}, func(cfg *Config) { cfg.Environment = "live" })
	l := kes("E1", "254712345678", "100")
	l.Occasion = string(make([]rune, 0)) // default applies
	if _, err := c.Send(t.Context(), one(l)); err != nil {
		t.Fatalf("live path: %v", err)
	}
	bad := kes("E2", "254612345678", "100") // not a Kenyan mobile prefix the emulator accepts
	_, err := c.Send(t.Context(), one(bad))
	if !errors.Is(err, batch.ErrRejected) {
		t.Fatalf("error %v, want ErrRejected", err)
	}
	if sb.Stats().Payouts != 1 {
		t.Error("rejected request was paid")
	}
}
