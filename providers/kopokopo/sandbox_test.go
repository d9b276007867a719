package kopokopo

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

// TestSandboxTokenExpiryMidBatch sends many chunks while the sandbox
// expires every token on every fourth authenticated request: each 401 is
// followed by one refresh and one resend, no payout is duplicated, and the
// polled and called-back results match what the sandbox paid.
func TestSandboxTokenExpiryMidBatch(t *testing.T) {
	var mu sync.Mutex
	var callbacks [][]byte
	var forged int
	creds := sandbox.Credentials{KopoKopoAPIKey: "cb-key"}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if Verify(creds.KopoKopoAPIKey, body, r.Header.Get(SignatureHeader)) {
			callbacks = append(callbacks, body)
		} else {
			forged++
		}
	}))
	defer recv.Close()
	sb := sandbox.New(sandbox.Options{Credentials: creds, ProcessingDelay: 5 * time.Millisecond,
		FailRule: sandbox.FailSuffix("999"),
		KopoKopo: sandbox.KopoKopoOptions{Traffic: sandbox.Traffic{Faults: sandbox.Faults{ExpireTokens: sandbox.Trigger{Every: 4}}}}})
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	defer sb.Close()
	cr := sb.Credentials()
	c, err := New(Config{BaseURL: srv.URL, ClientID: cr.KopoKopoClientID, ClientSecret: cr.KopoKopoClientSecret,
		SourceIdentifier: "4321", CallbackURL: recv.URL + "/k2", UserAgent: "payroll/test",
		HTTPClient: providers.NewHTTPClient(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	const chunks, per = 12, 3
	var locs []string
	for i := range chunks {
		var lines []batch.Line
		for j := range per {
			phone := fmt.Sprintf("2547%08d", i*per+j)
			if i == 0 && j == 0 {
				phone = "254700000999" // fails in the sandbox
			}
			lines = append(lines, wallet(fmt.Sprint(i, "-", j), phone, fmt.Sprint(100+j)))
		}
		// Sequential, as the runner sends: with a token expired on every
		// fourth request, no send can meet two 401s in a row.
		acc, err := c.Send(t.Context(), chunkOf(lines...))
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		locs = append(locs, acc.Reference)
	}
	st := sb.Stats()
	if st.Payouts != chunks*per || st.Violations[sandbox.ViolationDuplicatePayout] != 0 || len(sb.Violations()) != 0 {
		t.Fatalf("payouts %d (want %d), violations %v", st.Payouts, chunks*per, sb.Violations())
	}
	// Each 401 costs exactly one refresh and one resend.
	tokens, posts := st.Requests["POST /oauth/token"], st.Requests["POST /api/v2/send_money"]
	if tokens < 3 || posts != chunks+tokens-1 {
		t.Errorf("%d token requests and %d send_money requests for %d chunks", tokens, posts, chunks)
	}
	ctx := t.Context()
	if err := sb.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	paid, failed := 0, 0
	for _, loc := range locs {
		res, err := c.Poll(ctx, loc)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != per {
			t.Fatalf("%s: %d results", loc, len(res))
		}
		for _, r := range res {
			if r.Reference != loc {
				t.Errorf("reference %q, want %q", r.Reference, loc)
			}
			switch r.Status {
			case batch.StatePaid:
				paid++
				if r.Receipt == "" {
					t.Errorf("paid without receipt: %+v", r)
				}
			case batch.StateFailed:
				failed++
				if r.Identity != "mobile_wallet:254700000999" {
					t.Errorf("unexpected failure %+v", r)
				}
			default:
				t.Errorf("unsettled %+v", r)
			}
		}
	}
	if paid != chunks*per-1 || failed != 1 {
		t.Errorf("paid %d failed %d", paid, failed)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(callbacks) != chunks || forged != 0 {
		t.Fatalf("%d verified callbacks (want %d), %d unverified", len(callbacks), chunks, forged)
	}
	for _, b := range callbacks {
		ref, res, err := ParseResult(b)
		if err != nil || len(res) != per {
			t.Fatalf("ParseResult: %v, %d results", err, len(res))
		}
		found := false
		for _, loc := range locs {
			found = found || loc == ref
		}
		if !found {
			t.Errorf("callback reference %q is not a Location Send returned", ref)
		}
	}
}

// TestSandboxFaults drives the send faults of the emulator through Send.
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := sandbox.New(sandbox.Options{ProcessingDelay: -1, KopoKopo: sandbox.KopoKopoOptions{Traffic: sandbox.Traffic{Faults: tc.faults}}})
			srv := httptest.NewServer(sb.Handler())
			defer srv.Close()
			defer sb.Close()
			cr := sb.Credentials()
			c, err := New(Config{BaseURL: srv.URL, ClientID: cr.KopoKopoClientID, ClientSecret: cr.KopoKopoClientSecret,
				CallbackURL: "http://127.0.0.1:1/cb", HTTPClient: providers.NewHTTPClient(5 * time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Send(t.Context(), chunkOf(wallet("E1", "254712345678", "100")))
			if !errorsIs(err, tc.kind) {
				t.Fatalf("error %v, want %v", err, tc.kind)
			}
			if got := sb.Stats().Payouts; got != tc.paid {
				t.Errorf("%d payouts recorded, want %d", got, tc.paid)
			}
			if got := sb.Stats().Requests["POST /api/v2/send_money"]; got != 1 {
				t.Errorf("%d send_money requests, want exactly 1", got)
			}
		})
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
