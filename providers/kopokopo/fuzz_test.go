package kopokopo

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// processedDoc is a Processed send_money document (the shape of the SDK
// fixture), used as a fuzz seed.
const processedDoc = `{"data":{"id":"e848260e-5461-4633-be49-095a96d669b8","type":"send_money","attributes":{"status":"Processed",
"created_at":"2025-09-08T09:01:02.200+03:00","source_identifier":"","currency":"KES",
"destinations":[{"type":"mobile_wallet","amount":1000,"network":"Safaricom","description":"Testing","phone_number":"254700000000"}],
"transfer_batches":[{"status":"Transferred","amount":"1000.0","disbursements":[{"amount":"1000.0","errors":null,"status":"Transferred",
"phone_number":"254700000000","destination_type":"mobile_wallet","destination_reference":"9764ef5f-fcd6-42c1-bbff-de280becc64b",
"transaction_reference":"DAVSM1757311336"}]},{"status":"Failed","amount":"250.0","disbursements":[{"amount":"250.0",
"errors":["The transfer to this destination failed"],"status":"Failed","till_number":"123456","destination_type":"till"}]}],
"errors":null,"metadata":{"notes":"x"},"_links":{"callback_url":"https://example.com/cb","self":"https://sandbox.kopokopo.com/api/v2/send_money/e848260e-5461-4633-be49-095a96d669b8"}}}}`

// addFixtureSeeds adds the provider fixtures (testdata/fixtures, copied from the
// repository) whose names contain one of the words.
func addFixtureSeeds(f *testing.F, words ...string) {
	paths, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	for _, p := range paths {
		for _, w := range words {
			if strings.Contains(filepath.Base(p), w) {
				if b, err := os.ReadFile(p); err == nil && len(b) < 16<<10 {
					f.Add(b)
				}
				break
			}
		}
	}
}

// FuzzParseResult: any callback body parses or is refused without a
// panic, deterministically; a parsed document's results carry a known
// status, amounts with at most two decimals and never a negative amount.
func FuzzParseResult(f *testing.F) {
	f.Add([]byte(processedDoc))
	f.Add([]byte(`{"data":{"id":"x","type":"send_money","attributes":{"status":"Scheduled"}}}`))
	f.Add([]byte(`{"data":{"attributes":{"transfer_batches":[{"disbursements":[{"amount":"1e3","status":"Transferred"}]}]}}}`))
	f.Add([]byte(`{"data":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{`))
	addFixtureSeeds(f, "result", "settlement")
	f.Fuzz(func(t *testing.T, body []byte) {
		ref, results, err := ParseResult(body)
		ref2, results2, err2 := ParseResult(body)
		if (err == nil) != (err2 == nil) || ref != ref2 || !reflect.DeepEqual(results, results2) {
			t.Fatalf("ParseResult is not deterministic")
		}
		if err != nil {
			if ref != "" || len(results) != 0 {
				t.Fatalf("error %v with results %q %v", err, ref, results)
			}
			return
		}
		for _, r := range results {
			switch r.Status {
			case "paid", "failed", "accepted":
			default:
				t.Fatalf("result with state %q", r.Status)
			}
			if d := r.Amount.Decimal(); d.IsNegative() {
				t.Fatalf("negative amount %s", r.Amount)
			}
			if d := r.Amount.Decimal(); !d.Equal(d.Truncate(2)) {
				t.Fatalf("amount %s has more than two decimals", r.Amount)
			}
		}
	})
}

// FuzzVerify: Verify never panics; it accepts the body's own signature
// (in either hex case, with surrounding spaces) for a non-empty key,
// never with an empty key, never the signature of another body or key,
// and whatever it accepts is that signature.
func FuzzVerify(f *testing.F) {
	f.Add("api-key", []byte(processedDoc), sign("api-key", []byte(processedDoc)))
	f.Add("", []byte("{}"), sign("", []byte("{}")))
	f.Add("k", []byte(""), "")
	f.Add("k", []byte("x"), strings.Repeat("0", 64))
	f.Add("k", []byte("x"), strings.Repeat("zz", 32))
	f.Fuzz(func(t *testing.T, key string, body []byte, sig string) {
		got := Verify(key, body, sig)
		want := sign(key, body)
		if got && (key == "" || strings.ToLower(strings.TrimSpace(sig)) != want) {
			t.Fatalf("Verify(%q, %q, %q) accepted a signature that is not the body's (%s)", key, body, sig, want)
		}
		if ok := Verify(key, body, want); ok != (key != "") {
			t.Fatalf("Verify of the body's own signature = %v with key %q", ok, key)
		}
		if key != "" && !Verify(key, body, " "+strings.ToUpper(want)+"\n") {
			t.Fatalf("upper-case or padded signature refused")
		}
		if Verify(key, append(append([]byte{}, body...), ' '), want) {
			t.Fatalf("signature of another body accepted")
		}
		if Verify(key+"x", body, want) {
			t.Fatalf("signature made with another key accepted")
		}
	})
}
