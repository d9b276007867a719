package kiotapay

import (
	"testing"
)

// FuzzParseCallback: any callback body parses or is refused without a
// panic; a parsed one always has a request ID, an exact amount (never
// negative, at most two decimals) and a phone without "+".
func FuzzParseCallback(f *testing.F) {
	f.Add([]byte(`{"requestId":"8f0c2a9e-4b7d-4c8e-9a51-3d2f1e6b7c40","phoneNumber":"255652310001","status":"SUCCESS","amount":100000.0}`))
	f.Add([]byte(`{"requestId":"r1","phoneNumber":"+254712345678","status":"FAILED","amount":"1500.50"}`))
	f.Add([]byte(`{"requestId":"r2","status":"PENDING","amount":1e3}`))
	f.Add([]byte(`{"requestId":"","status":"SUCCESS"}`))
	f.Add([]byte(`{"requestId":12,"amount":-5}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"amount":0.005}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, _, amount, phone, err := ParseCallback(body)
		if err != nil {
			if id != "" || !amount.IsZero() || phone != "" {
				t.Fatalf("error %v, yet %q %s %q", err, id, amount, phone)
			}
			return
		}
		if id == "" {
			t.Fatalf("parsed a callback without a request ID")
		}
		d := amount.Decimal()
		if d.IsNegative() || !d.Equal(d.Truncate(2)) {
			t.Fatalf("amount %s is not an exact non-negative amount", d)
		}
		if len(phone) > 0 && phone[0] == '+' {
			t.Fatalf("phone %q keeps its +", phone)
		}
	})
}
