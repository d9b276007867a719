package kopokopo

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"payroll/batch"
	"payroll/providers"
)

// fixtureDir holds the provider fixtures (copied from the official SDKs' test
// suites; sources in testdata/fixtures/SOURCES.md).
const fixtureDir = "testdata/fixtures"

func fixtures(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(fixtureDir); err != nil {
		t.Fatalf("provider fixtures missing: %v", err)
	}
	return fixtureDir
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type wantResult struct {
	identity, amount string
	status           batch.State
	receipt          string
}

func TestParseResultFixtures(t *testing.T) {
	dir := fixtures(t)
	tests := []struct {
		file    string
		ref     string
		status  string
		results []wantResult
	}{
		{"send_money_result_processed_mobile_wallet_two_batches.json",
			"http://localhost:3000/api/v2/send_money/716481bc-635c-4d35-92c9-65bb0797196a", "Processed",
			[]wantResult{
				{"mobile_wallet:254900111111", "1000.00", batch.StatePaid, "QCL160124A7"},
				{"mobile_wallet:254900000000", "1000.00", batch.StatePaid, "QDZ273694C8"},
			}},
		{"send_money_result_processed_mobile_wallet_single_batch.json",
			"e848260e-5461-4633-be49-095a96d669b8", "Processed", // Ruby's self link is the callback URL
			[]wantResult{{"mobile_wallet:254700000000", "1000.00", batch.StatePaid, "DAVSM1757311336"}}},
		{"send_money_status_scheduled_unpopulated.json",
			"https://api.kopokopo.com/api/v2/send_money/14793a45-5ab1-42d2-bb8e-61f38a298d3d", "Scheduled", nil},
		{"legacy_v1_payment_result_processed_mobile_wallet.json",
			"https://sandbox.kopokopo.com/api/v1/payments/c6fda139-2480-4a93-95ed-f72c66b92364", "Processed",
			[]wantResult{{"mobile_wallet:?:0fcb2f42-9372-4a6c-8c2f-3fd977c548e8", "780.00", batch.StatePaid, "LBA10034460"}}},
		{"legacy_v1_settlement_transfer_result_processed_wallet_and_bank.json",
			"https://sandbox.kopokopo.com/api/v1/settlement_transfers/01aece24-e596-4f5c-9ace-9eb1a0939dda", "Processed",
			[]wantResult{
				{"mobile_wallet:?:17067bf7-648e-424c-af0f-8c541a1b4ec3", "19900.00", batch.StatePaid, "LDLJANAPH26"},
				{"bank_account:?:34a273d1-fedc-4610-8ab6-a1ba4828f317", "24452.00", batch.StatePaid, ""},
				{"bank_account:?:34a273d1-fedc-4610-8ab6-a1ba4828f317", "25000.00", batch.StatePaid, ""},
			}},
		{"legacy_pay_request_result_sent_flat.json",
			"https://sandbox.kopokopo.com/payments/d76265cd-0951-e511-80da-0aa34a9b2388", "Sent",
			[]wantResult{{"unknown:?:c7f300c0-f1ef-4151-9bbe-005005aa3747", "20000.00", batch.StateAccepted, ""}}},
		{"sdk_output_php_settlement_transfer_result_sandbox.json",
			"https://sandbox.kopokopo.com/api/v1/settlement_transfers/9a1ac4d5-76dc-4569-a03c-532938763ffa", "Transferred",
			[]wantResult{{"merchant_bank_account:?:cc0e5289-f964-4fc0-8e81-ab48fdb3d3d9", "236.00", batch.StatePaid, "1757640471"}}},
		{"signature_vector_16_ruby_send_money_result_processed.body",
			"e848260e-5461-4633-be49-095a96d669b8", "Processed",
			[]wantResult{{"mobile_wallet:254700000000", "1000.00", batch.StatePaid, "DAVSM1757311336"}}},
	}
	// Every result document in the directory must be in the table.
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.file] = true
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if (strings.HasPrefix(n, "send_money_result") || strings.HasPrefix(n, "send_money_status") ||
			strings.HasPrefix(n, "legacy_") || strings.HasPrefix(n, "sdk_output")) && !covered[n] {
			t.Errorf("result document %s is not in the table", n)
		}
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			body := readFixture(t, tc.file)
			ref, got, err := ParseResult(body)
			if err != nil {
				t.Fatalf("ParseResult: %v", err)
			}
			if ref != tc.ref {
				t.Errorf("reference %q, want %q", ref, tc.ref)
			}
			doc, _ := decodeDocument(body)
			if doc.status() != tc.status {
				t.Errorf("status %q, want %q", doc.status(), tc.status)
			}
			if len(got) != len(tc.results) {
				t.Fatalf("%d results, want %d: %+v", len(got), len(tc.results), got)
			}
			for i, w := range tc.results {
				g := got[i]
				if g.Identity != w.identity || g.Amount.String() != w.amount || g.Status != w.status || g.Receipt != w.receipt {
					t.Errorf("result %d = {%s %s %s %q}, want {%s %s %s %q}", i, g.Identity, g.Amount, g.Status, g.Receipt, w.identity, w.amount, w.status, w.receipt)
				}
				if g.Reference != tc.ref || g.Source != "callback" || g.Provider != batch.KopoKopo {
					t.Errorf("result %d reference/source/provider = %q/%q/%q", i, g.Reference, g.Source, g.Provider)
				}
			}
		})
	}
}

// TestParseResultVectorBodies decodes every signature-vector body that is a
// payment result (v1 payment, settlement transfer, legacy pay request, v2
// send_money): none may fail, and nothing but "Transferred" may be paid.
func TestParseResultVectorBodies(t *testing.T) {
	dir := fixtures(t)
	bodies, _ := filepath.Glob(filepath.Join(dir, "signature_vector_*_result*.body"))
	if len(bodies) < 6 {
		t.Fatalf("found %d result vector bodies, want at least 6", len(bodies))
	}
	for _, p := range bodies {
		t.Run(filepath.Base(p), func(t *testing.T) {
			b, _ := os.ReadFile(p)
			if n := filepath.Base(p); strings.Contains(n, "stk") || strings.Contains(n, "reversal") || strings.Contains(n, "payment_link") {
				t.Skip("not a payout result")
			}
			ref, res, err := ParseResult(b)
			if err != nil {
				t.Fatalf("ParseResult: %v", err)
			}
			if ref == "" || len(res) == 0 {
				t.Fatalf("ref %q, %d results", ref, len(res))
			}
			for _, r := range res {
				if r.Amount.IsZero() {
					t.Errorf("zero amount in %+v", r)
				}
			}
		})
	}
}

func TestErrorBodyFixtures(t *testing.T) {
	tests := []struct {
		file, code, msg string
	}{
		{"send_money_error_400_source_identifier_invalid.json", "400", "Source identifier is invalid"},
		{"api_error_400_invalid_phone_flutter.json", "400", "Subscriber phone number is an invalid number"},
		{"api_error_500_internal_server_error_ruby_stub.json", "", "internal server error"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			code, msg := providers.ParseErrorBody(readFixture(t, tc.file))
			if code != tc.code || msg != tc.msg {
				t.Errorf("got (%q, %q), want (%q, %q)", code, msg, tc.code, tc.msg)
			}
		})
	}
}

func TestTokenResponseFixtures(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		file    string
		token   string
		refresh time.Duration
	}{
		{"token_response_node.json", "0Sn0W6kzNicvoWhDbQcVSKLRUpGjIdlPSEYyrHqrDDoRnQwE7Q", 3240 * time.Second},
		{"token_response_php.json", "0Sn0W6kzNicvoWhDbQcVSKLRUpGjIdlPSEYyrHqrDDoRnQwE7Q", 3240 * time.Second},    // created_at ISO string
		{"token_response_python.json", "0Sn0W6kzNicvoWhDbQcVSKLRUpGjIdlPSEYyrHqrDDoRnQwE7Q", 3240 * time.Second}, // CRLF, no token_type
		{"token_response_flutter.json", "test-access-token", 9 * time.Second},                                    // created_at integer
		{"token_response_ruby_stub.json", "access_token", 3240 * time.Second},                                    // access_token only
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			tok, err := parseToken(readFixture(t, tc.file), start)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Value != tc.token || !tok.RefreshAt.Equal(start.Add(tc.refresh)) {
				t.Errorf("got %q refresh at +%s, want %q at +%s", tok.Value, tok.RefreshAt.Sub(start), tc.token, tc.refresh)
			}
		})
	}
}

// TestRequestFixtures builds each destination type from a line and
// compares it with the official SDK request body for that type: the same
// keys (favourite is never sent) and values, amounts as JSON integers.
func TestRequestFixtures(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	line := func(d batch.Destination, amount, desc, name string) batch.Line {
		return batch.Line{Reference: "r1", Provider: batch.KopoKopo, Currency: batch.KES, Dest: d,
			Amount: batch.MustMoney(amount), Description: desc, Name: name}
	}
	tests := []struct {
		file string
		line batch.Line
	}{
		{"send_money_request_php_mobile_wallet.json", line(batch.Destination{Type: batch.MobileWallet, Phone: "254900000000", Network: "Safaricom"}, "100", "Contractor payment", "John Doe")},
		{"send_money_request_php_mobile_wallet_without_nickname_and_favourite.json", line(batch.Destination{Type: batch.MobileWallet, Phone: "254900000000", Network: "Safaricom"}, "100", "Contractor payment", "")},
		{"send_money_request_php_bank_account.json", line(batch.Destination{Type: batch.BankAccount, BankBranchRef: "bc59f5c9-0eef-4690-8f83-005840cc474a", AccountName: "Test Bank Account", AccountNumber: "0123456789014"}, "4200", "Contractor payment", "Test Bank Account")},
		{"send_money_request_php_till.json", line(batch.Destination{Type: batch.Till, TillNumber: "1234567"}, "1200", "Contractor payment", "External Till")},
		{"send_money_request_php_paybill.json", line(batch.Destination{Type: batch.Paybill, PaybillNumber: "840106", PaybillAccount: "A098457"}, "700", "Contractor payment", "Test Paybill")},
		{"send_money_request_node_till.json", line(batch.Destination{Type: batch.Till, TillNumber: "123456"}, "300", "Till test", "")},
		{"send_money_request_node_paybill.json", line(batch.Destination{Type: batch.Paybill, PaybillNumber: "123456", PaybillAccount: "7890"}, "400", "Paybill test", "")},
		{"send_money_request_node_bank_account.json", line(batch.Destination{Type: batch.BankAccount, BankBranchRef: "123", AccountName: "John Doe", AccountNumber: "456789"}, "200", "Bank account test", "")},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			var fx struct {
				Destinations []map[string]any `json:"destinations"`
				Currency     string           `json:"currency"`
			}
			if err := json.Unmarshal(readFixture(t, tc.file), &fx); err != nil {
				t.Fatal(err)
			}
			want := fx.Destinations[0]
			delete(want, "favourite")
			if want["nickname"] == nil {
				delete(want, "nickname")
			}
			req, err := c.buildRequest(batch.Chunk{Provider: batch.KopoKopo, Currency: batch.KES, Lines: []batch.Line{tc.line}})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(req)
			var got struct {
				Destinations []map[string]any `json:"destinations"`
				Currency     string           `json:"currency"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			g := got.Destinations[0]
			if keys(g) != keys(want) {
				t.Errorf("keys %s, want %s", keys(g), keys(want))
			}
			for k, v := range want {
				if g[k] != v {
					t.Errorf("%s = %#v, want %#v", k, g[k], v)
				}
			}
			if got.Currency != fx.Currency {
				t.Errorf("currency %q", got.Currency)
			}
			if !strings.Contains(string(b), `"amount":`+tc.line.Amount.Units()+`,`) {
				t.Errorf("amount is not a JSON integer in %s", b)
			}
		})
	}
}

func keys(m map[string]any) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func TestSignatureVectors(t *testing.T) {
	dir := fixtures(t)
	metas, _ := filepath.Glob(filepath.Join(dir, "signature_vector_*.json"))
	if len(metas) != 28 {
		t.Fatalf("found %d signature vectors, want 28", len(metas))
	}
	accepted, rejected := 0, []string{}
	for _, p := range metas {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		t.Run(name, func(t *testing.T) {
			var v struct {
				Key           string `json:"key"`
				Signature     string `json:"signature"`
				BodyFile      string `json:"body_file"`
				ExpectedValid bool   `json:"expected_valid"`
			}
			b, _ := os.ReadFile(p)
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			body, err := os.ReadFile(filepath.Join(dir, v.BodyFile))
			if err != nil {
				t.Fatal(err)
			}
			got := Verify(v.Key, body, v.Signature)
			if got != v.ExpectedValid {
				t.Fatalf("Verify = %v, want %v", got, v.ExpectedValid)
			}
			if got {
				accepted++
				// Any change to the raw bytes breaks it.
				if Verify(v.Key, append(body, ' '), v.Signature) {
					t.Error("a trailing space still verifies")
				}
				if Verify(v.Key+"x", body, v.Signature) {
					t.Error("a wrong key still verifies")
				}
				if !Verify(v.Key, body, strings.ToUpper(v.Signature)) {
					t.Error("upper-case hex refused")
				}
			} else {
				rejected = append(rejected, name[len("signature_vector_"):len("signature_vector_")+2])
			}
		})
	}
	if accepted != 25 || strings.Join(rejected, ",") != "18,19,28" {
		t.Errorf("accepted %d, rejected %v; want 25 and [18 19 28]", accepted, rejected)
	}
}

func TestVerifyMalformed(t *testing.T) {
	key, body := "k", []byte(`{"a":1}`)
	good := sign(key, body)
	tests := []struct {
		name, key, sig string
		want           bool
	}{
		{"good", key, good, true},
		{"padded", key, " " + good + " ", true},
		{"missing", key, "", false},
		{"odd length", key, good[:63], false},
		{"short", key, good[:62], false},
		{"long", key, good + "00", false},
		{"not hex", key, "zz" + good[2:], false},
		{"empty key", "", good, false},
		{"other key", "j", good, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verify(tc.key, body, tc.sig); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}
