package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"payroll/providers/sandbox"
)

// A test serves the sandbox with httptest, pays someone through KiotaPay and
// checks the record of truth.
func Example() {
	s := sandbox.New(sandbox.Options{Seed: 1})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	defer s.Close()
	c := s.Credentials()

	resp, _ := http.Post(srv.URL+"/api/v1/get-token", "application/json",
		strings.NewReader(fmt.Sprintf(`{"apiKey":%q,"apiSecret":%q}`, c.KiotaPayAPIKey, c.KiotaPayAPISecret)))
	var tok struct {
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()

	req, _ := http.NewRequest("POST", srv.URL+"/api/sandbox/v1/send-money", strings.NewReader(
		`{"phoneNumber":"254712345678","amount":1500,"remarks":"Salary","occasion":"November","callbackUrl":"http://127.0.0.1:1/cb"}`))
	req.Header.Set("Authorization", "Bearer "+tok.Data.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	fmt.Println("send-money:", resp.Status)

	_ = s.Flush(context.Background())
	for _, p := range s.Truth() {
		fmt.Println(p.Identity, p.Currency, p.Amount, p.Status)
	}
	fmt.Println("paid:", s.PaidCount("mobile_wallet:254712345678"), "violations:", len(s.Violations()))
	// Output:
	// send-money: 201 Created
	// mobile_wallet:254712345678 KES 1500 paid
	// paid: 1 violations: 0
}

// Sign computes the X-KopoKopo-Signature of a callback body (here the
// fixture vector 27 of the Ruby SDK).
func ExampleSign() {
	fmt.Println(sandbox.Sign([]byte("s"), []byte(`"hello"`)))
	// Output: 7ac46bd3e055f611e1c8e08ee430e5ceee0526a853dad5353e3df9ebfb1b1701
}
