package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers"
	"payroll/providers/sandbox"
)

// callbackSheet has two Kopo Kopo chunks (max_destinations 2) and three
// KiotaPay requests, one line of each provider failing.
func callbackSheet() []row {
	s := kes(1, 3)
	s = append(s, row{"KFAIL", "Fail Kenya", "0712300999", "1500", "KES"})
	s = append(s, tzs(1, 2)...)
	return append(s, row{"TFAIL", "Fail Tanzania", "0652300999", "250000", "TZS"})
}

// TestE2ECallbackFaults runs a batch under each callback fault of both
// providers. Whatever the callbacks do, the final ledger equals the
// sandbox's truth, forged and wrong-amount callbacks change nothing, and
// the lines still settle (by polling when the callback cannot be used).
func TestE2ECallbackFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults sandbox.Faults
		// flagged: lines that may carry a mismatch flag (wrong amounts).
		flagged bool
	}{
		{"forged", sandbox.Faults{CallbackForged: sandbox.Always}, false},
		{"duplicate", sandbox.Faults{CallbackDuplicate: sandbox.Always}, false},
		{"delayed", sandbox.Faults{CallbackDelayed: sandbox.Trigger{Every: 2}, CallbackDelay: 300 * time.Millisecond}, false},
		{"lost", sandbox.Faults{CallbackLost: sandbox.Always}, false},
		{"wrong-amount", sandbox.Faults{CallbackWrongAmount: sandbox.Always}, true},
		{"mixed", sandbox.Faults{CallbackForged: sandbox.Trigger{Every: 2}, CallbackDuplicate: sandbox.Trigger{Every: 3},
			CallbackLost: sandbox.Trigger{Every: 4}, CallbackDelayed: sandbox.Trigger{Every: 5}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sandbox.Options{Seed: 7}, knobs{maxDest: 2, poll: "100ms"})
			h.sb.SetFaults(sandbox.KopoKopo, tc.faults)
			h.sb.SetFaults(sandbox.KiotaPay, tc.faults)
			sheet := callbackSheet()
			path := h.writeSheet("cb.csv", sheet)
			_, errOut := h.mustCode(exitUnsettled, "run", "--wait", "20s", path)
			recs := h.checkTruth("cb", truthOpts{})
			for _, rec := range recs {
				want := batch.StatePaid
				if strings.Contains(rec.Ref, "FAIL") {
					want = batch.StateFailed
				}
				if rec.State != want {
					t.Errorf("line %s: %s, want %s", rec.Ref, rec.State, want)
				}
				if len(rec.Flags) > 0 && !tc.flagged {
					t.Errorf("line %s flagged %v", rec.Ref, rec.Flags)
				}
				for _, f := range rec.Flags {
					if f != ledger.FlagMismatch {
						t.Errorf("line %s: flag %s", rec.Ref, f)
					}
				}
			}
			rows := h.checkReport("cb", sheet)
			if got := statuses(rows); got["paid"] != 5 || got["failed"] != 2 {
				t.Errorf("statuses %v", got)
			}
			if tc.name == "forged" && !strings.Contains(errOut, "bad or missing signature") {
				t.Errorf("forged Kopo Kopo callbacks were not refused:\n%s", errOut)
			}
			if tc.name == "wrong-amount" {
				// The signed Kopo Kopo callbacks with wrong amounts were
				// recorded, not applied: no line took an amount or a state
				// from them (checked above), and the events say so.
				n := 0
				for _, ev := range h.events("cb") {
					if ev.Flagged {
						n++
					}
					if ev.Cause == "callback" && ev.To != "" && !ev.Flagged && strings.HasPrefix(ev.Ref, "K") {
						t.Errorf("a wrong-amount Kopo Kopo callback was applied: %+v", ev)
					}
				}
				if n == 0 {
					t.Errorf("no wrong-amount callback was flagged")
				}
			}
			if tc.name == "lost" {
				for _, ev := range h.events("cb") {
					if ev.Cause == "callback" {
						t.Errorf("lost callbacks, yet an event came from a callback: %+v", ev)
					}
				}
			}
		})
	}
}

// TestE2ESettleAfterShortWait: run gives up waiting while the provider
// still processes (exit 5, report pending); later settle polls the
// batch to its end (exit 4 with a failing line) and the report shows
// nothing pending.
func TestE2ESettleAfterShortWait(t *testing.T) {
	h := newHarness(t, sandbox.Options{ProcessingDelay: time.Hour}, knobs{maxDest: 2, poll: "100ms"})
	sheet := callbackSheet()
	path := h.writeSheet("slow.csv", sheet)
	h.mustCode(exitPending, "run", "--wait", "300ms", path)
	if got := statuses(h.checkReport("slow", sheet)); got["pending"] != len(sheet) {
		t.Errorf("after run: statuses %v, want all pending", got)
	}
	h.checkTruth("slow", truthOpts{pendingOK: true})
	k2, kp := h.sends()

	// A re-run with --wait 0 sends nothing and is still pending.
	h.mustCode(exitPending, "run", "--wait", "0", path)
	// settle with nothing settled yet runs out too.
	h.mustCode(exitPending, "settle", "--wait", "300ms", "slow")

	h.sb.Settle() // the provider finishes; its callbacks find no receiver
	h.mustCode(exitUnsettled, "settle", "--wait", "20s", "slow")
	if k2b, kpb := h.sends(); k2b != k2 || kpb != kp {
		t.Errorf("settle sent payouts: kopokopo %d→%d, kiotapay %d→%d", k2, k2b, kp, kpb)
	}
	h.checkTruth("slow", truthOpts{})
	rows := h.checkReport("slow", sheet)
	if got := statuses(rows); got["pending"] != 0 || got["paid"] != 5 || got["failed"] != 2 {
		t.Errorf("after settle: statuses %v", got)
	}
	// settle without a batch finds nothing left.
	out, _ := h.mustCode(exitOK, "settle", "--wait", "1s")
	if !strings.Contains(out, "No batch has unsettled lines") {
		t.Errorf("settle of all batches:\n%s", out)
	}
}

// TestCallbackReceiver drives the receiver's HTTP handlers with hostile
// requests: wrong method, oversized body, wrong KiotaPay path token, bad
// or missing Kopo Kopo signature, garbage, and a correctly signed
// document for a reference nobody knows. None changes the ledger.
func TestCallbackReceiver(t *testing.T) {
	h := newHarness(t, sandbox.Options{ProcessingDelay: time.Hour}, knobs{})
	sheet := kes(1, 2)
	path := h.writeSheet("rx.csv", sheet)
	h.mustCode(exitPending, "run", "--wait", "0", path)
	before := h.lines("rx")

	db, err := ledger.Open(h.db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	creds := h.sb.Credentials()
	var logs bytes.Buffer
	e := &engine{db: db, log: slog.New(slog.NewTextHandler(&logs, nil)), settler: &batch.Settler{Ledger: db},
		secrets: providers.Credentials{KopoKopoAPIKey: creds.KopoKopoAPIKey, KiotaPayAPISecret: creds.KiotaPayAPISecret}}
	cb, err := startCallbacks(context.Background(), "127.0.0.1:0", "", e)
	if err != nil {
		t.Fatal(err)
	}
	base := cb.public
	// A genuine-looking Kopo Kopo document for the first line's request,
	// claiming it was paid.
	doc := fmt.Sprintf(`{"data":{"id":"00000000-0000-0000-0000-000000000000","type":"send_money","attributes":{"status":"Processed"}},"_links":{"self":%q}}`, before[0].ProviderRef)
	post := func(url, body string, hdr map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	sig := func(key, body string) map[string]string {
		return map[string]string{sandbox.SignatureHeader: sandbox.Sign([]byte(key), []byte(body))}
	}
	big := strings.Repeat("x", providers.MaxCallbackBody+1)
	for _, tc := range []struct {
		name string
		do   func() int
		want int
	}{
		{"GET kopokopo", func() int {
			resp, err := http.Get(base + "/kopokopo")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}, http.StatusMethodNotAllowed},
		{"GET kiotapay", func() int {
			resp, err := http.Get(cb.kiotapayURL())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}, http.StatusMethodNotAllowed},
		{"oversized kopokopo", func() int { return post(base+"/kopokopo", big, sig(creds.KopoKopoAPIKey, big)) }, http.StatusRequestEntityTooLarge},
		{"oversized kiotapay", func() int { return post(cb.kiotapayURL(), big, nil) }, http.StatusRequestEntityTooLarge},
		{"kiotapay wrong token", func() int {
			return post(base+"/kiotapay/"+strings.Repeat("0", 32), `{"requestId":"x","status":"SUCCESS","amount":1000}`, nil)
		}, http.StatusNotFound},
		{"kiotapay no token", func() int { return post(base+"/kiotapay/", `{}`, nil) }, http.StatusNotFound},
		{"kopokopo unsigned", func() int { return post(base+"/kopokopo", doc, nil) }, http.StatusUnauthorized},
		{"kopokopo wrong key", func() int { return post(base+"/kopokopo", doc, sig("not-the-key", doc)) }, http.StatusUnauthorized},
		{"kopokopo signature of another body", func() int {
			return post(base+"/kopokopo", doc, sig(creds.KopoKopoAPIKey, doc+" "))
		}, http.StatusUnauthorized},
		{"kopokopo signed garbage", func() int { return post(base+"/kopokopo", "{", sig(creds.KopoKopoAPIKey, "{")) }, http.StatusBadRequest},
		{"kiotapay garbage", func() int { return post(cb.kiotapayURL(), "not json", nil) }, http.StatusBadRequest},
		{"kiotapay without a client", func() int {
			return post(cb.kiotapayURL(), `{"requestId":"abc","status":"SUCCESS","amount":1000}`, nil)
		}, http.StatusServiceUnavailable},
	} {
		if got := tc.do(); got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, got, tc.want)
		}
	}
	cb.close()
	db.Close()
	after := h.lines("rx")
	for i := range before {
		b, a := before[i], after[i]
		if a.State != b.State || a.Receipt != b.Receipt || len(a.Flags) != 0 || !a.Updated.Equal(b.Updated) {
			t.Errorf("line %s changed: %s → %s, flags %v", a.Ref, b.State, a.State, a.Flags)
		}
	}
	if strings.Contains(logs.String(), creds.KopoKopoAPIKey) {
		t.Errorf("the receiver logged the signing key")
	}
}

// TestSettlerWakeConcurrent: callbacks call Wake from many goroutines,
// before and while Settle runs. (The wake channel was made lazily without
// synchronisation: a data race under -race, and a wake could go to a
// channel Settle never reads.)
func TestSettlerWakeConcurrent(t *testing.T) {
	s := &batch.Settler{Ledger: emptySettleLedger{}, Interval: time.Millisecond}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				s.Wake()
			}
		})
	}
	wg.Go(func() {
		if _, err := s.Settle(t.Context(), "b", time.Now().Add(10*time.Millisecond)); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
}

type emptySettleLedger struct{}

func (emptySettleLedger) Unsettled(context.Context, string) ([]batch.Unsettled, error) {
	return nil, nil
}
func (emptySettleLedger) Settle(context.Context, []batch.Result) ([]batch.Settled, error) {
	return nil, nil
}

// startCallbacks listens and serves at once, for tests that build their
// own engine.
func startCallbacks(ctx context.Context, listen, public string, e *engine) (*callbackServer, error) {
	c, err := listenCallbacks(ctx, listen, public, e.secrets.KiotaPayAPISecret)
	if err != nil {
		return nil, err
	}
	c.serve(e)
	return c, nil
}
