package sandbox

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestKiotaPayToken(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.s.Credentials()
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"ok", `{"apiKey":"` + c.KiotaPayAPIKey + `","apiSecret":"` + c.KiotaPayAPISecret + `"}`, 200, ""},
		{"wrong secret", `{"apiKey":"` + c.KiotaPayAPIKey + `","apiSecret":"x"}`, 403, "AUTH_FORBIDDEN"},
		{"no key", `{"apiSecret":"x"}`, 400, "REQ_MISSING_FIELD"},
		{"no secret", `{"apiKey":"x"}`, 400, "REQ_MISSING_FIELD"},
		{"not json", `apiKey=x`, 400, "REQ_BAD_REQUEST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _, b := e.do("POST", "/api/v1/get-token", "", []byte(tc.body), nil)
			if tc.code != "" {
				assertKPError(t, st, b, tc.status, tc.code)
				return
			}
			var m struct {
				Status string `json:"status"`
				Data   struct {
					AccessToken      string `json:"access_token"`
					RefreshToken     string `json:"refresh_token"`
					ExpiresIn        int    `json:"expires_in"`
					RefreshExpiresIn int    `json:"refresh_expires_in"`
				} `json:"data"`
			}
			mustJSON(t, b, &m)
			if st != 200 || m.Status != "200 OK" || m.Data.ExpiresIn != 300 || m.Data.RefreshExpiresIn != 1800 ||
				strings.Count(m.Data.AccessToken, ".") != 2 || m.Data.RefreshToken == "" {
				t.Errorf("got %d %s", st, b)
			}
		})
	}
}

func assertKPError(t *testing.T, st int, b []byte, want int, code string) {
	t.Helper()
	var m struct {
		Error *struct {
			Code    string  `json:"code"`
			Message string  `json:"message"`
			Details *string `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &m); err != nil || st != want || m.Error == nil || m.Error.Code != code || m.Error.Message == "" || m.Error.Details == nil {
		t.Fatalf("got %d %s, want %d {error:{code:%s, message, details}}", st, b, want, code)
	}
}

func TestKiotaPayAuth(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.kpToken()
	body := mustMarshal(t, e.kpBody("254712345678", 1000))
	for _, p := range []string{"/api/sandbox/v1/send-money", "/api/v1/send-money"} {
		st, _, b := e.do("POST", p, "", body, nil)
		assertKPError(t, st, b, 401, "AUTH_MISSING_TOKEN")
		st, _, b = e.do("POST", p, "garbage", body, nil)
		assertKPError(t, st, b, 401, "AUTH_INVALID_TOKEN")
	}
	e.s.ExpireTokens(KiotaPay)
	st, b := e.kpSend(tok, e.kpBody("254712345678", 1000))
	assertKPError(t, st, b, 401, "AUTH_INVALID_TOKEN")
	if !strings.Contains(string(b), "expired") {
		t.Errorf("expired token body %s", b)
	}
	for _, p := range []string{"/status?requestId=x", "/single?requestId=x", "/all"} {
		st, _, b := e.do("GET", "/api/sandbox/v1/send-money"+p, tok, nil, nil)
		assertKPError(t, st, b, 401, "AUTH_INVALID_TOKEN")
	}
	if len(e.s.Truth()) != 0 {
		t.Fatal("unauthorised request recorded")
	}
}

func TestKiotaPaySendValidation(t *testing.T) {
	tz := func(b map[string]any) {
		b["currencyCode"] = "TZS"
		b["phoneNumber"] = "255712345678"
		b["amount"] = 5000
		delete(b, "remarks")
		delete(b, "occasion")
		b["narration"] = "MOBILE PAYOUT"
		b["firstName"] = "Asha"
		b["lastName"] = "Juma"
		b["serviceCode"] = "TZ-TIGO-B2C"
	}
	tests := []struct {
		name   string
		mutate func(b map[string]any)
		raw    string
		code   string
		field  string
	}{
		{name: "not json", raw: "{", code: "REQ_BAD_REQUEST"},
		{name: "array", raw: "[1]", code: "REQ_BAD_REQUEST"},
		{name: "phone missing", mutate: func(b map[string]any) { delete(b, "phoneNumber") }, code: "REQ_MISSING_FIELD", field: "phoneNumber"},
		{name: "phone plus", mutate: func(b map[string]any) { b["phoneNumber"] = "+254712345678" }, code: "REQ_INVALID_FIELD", field: "phoneNumber"},
		{name: "phone local", mutate: func(b map[string]any) { b["phoneNumber"] = "0712345678" }, code: "REQ_INVALID_FIELD", field: "phoneNumber"},
		{name: "phone uganda", mutate: func(b map[string]any) { b["phoneNumber"] = "256712345678" }, code: "REQ_INVALID_FIELD", field: "phoneNumber"},
		{name: "phone number type", mutate: func(b map[string]any) { b["phoneNumber"] = 254712345678 }, code: "REQ_INVALID_FIELD", field: "phoneNumber"},
		{name: "phone landline", mutate: func(b map[string]any) { b["phoneNumber"] = "254202345678" }, code: "REQ_INVALID_FIELD", field: "phoneNumber"},
		{name: "KSH to 255", mutate: func(b map[string]any) { b["phoneNumber"] = "255712345678" }, code: "REQ_INVALID_FIELD", field: "phoneNumber"},
		{name: "amount missing", mutate: func(b map[string]any) { delete(b, "amount") }, code: "REQ_MISSING_FIELD", field: "amount"},
		{name: "amount zero", mutate: func(b map[string]any) { b["amount"] = 0 }, code: "REQ_INVALID_FIELD", field: "amount"},
		{name: "amount negative", mutate: func(b map[string]any) { b["amount"] = -5 }, code: "REQ_INVALID_FIELD", field: "amount"},
		{name: "amount fraction", mutate: func(b map[string]any) { b["amount"] = 10.5 }, code: "REQ_INVALID_FIELD", field: "amount"},
		{name: "amount string", mutate: func(b map[string]any) { b["amount"] = "1000" }, code: "REQ_INVALID_FIELD", field: "amount"},
		{name: "callbackUrl missing", mutate: func(b map[string]any) { delete(b, "callbackUrl") }, code: "REQ_MISSING_FIELD", field: "callbackUrl"},
		{name: "callbackUrl not url", mutate: func(b map[string]any) { b["callbackUrl"] = "kiotapay" }, code: "REQ_INVALID_FIELD", field: "callbackUrl"},
		{name: "currency KES", mutate: func(b map[string]any) { b["currencyCode"] = "KES" }, code: "REQ_INVALID_FIELD", field: "currencyCode"},
		{name: "currency UGX", mutate: func(b map[string]any) { b["currencyCode"] = "UGX" }, code: "REQ_INVALID_FIELD", field: "currencyCode"},
		{name: "KSH remarks missing", mutate: func(b map[string]any) { delete(b, "remarks") }, code: "REQ_MISSING_FIELD", field: "remarks"},
		{name: "KSH occasion missing", mutate: func(b map[string]any) { delete(b, "occasion") }, code: "REQ_MISSING_FIELD", field: "occasion"},
		{name: "KSH occasion blank", mutate: func(b map[string]any) { b["occasion"] = "  " }, code: "REQ_MISSING_FIELD", field: "occasion"},
		{name: "remarks too long", mutate: func(b map[string]any) { b["remarks"] = strings.Repeat("x", 101) }, code: "REQ_INVALID_FIELD", field: "remarks"},
		{name: "referenceId number", mutate: func(b map[string]any) { b["referenceId"] = 7 }, code: "REQ_INVALID_FIELD", field: "referenceId"},
		{name: "TZS to 254", mutate: func(b map[string]any) { tz(b); b["phoneNumber"] = "254712345678" }, code: "REQ_INVALID_FIELD", field: "phoneNumber"},
		{name: "TZS narration missing", mutate: func(b map[string]any) { tz(b); delete(b, "narration") }, code: "REQ_MISSING_FIELD", field: "narration"},
		{name: "TZS firstName missing", mutate: func(b map[string]any) { tz(b); delete(b, "firstName") }, code: "REQ_MISSING_FIELD", field: "firstName"},
		{name: "TZS lastName missing", mutate: func(b map[string]any) { tz(b); delete(b, "lastName") }, code: "REQ_MISSING_FIELD", field: "lastName"},
		{name: "TZS serviceCode missing", mutate: func(b map[string]any) { tz(b); delete(b, "serviceCode") }, code: "REQ_MISSING_FIELD", field: "serviceCode"},
		{name: "TZS serviceCode vodacom", mutate: func(b map[string]any) { tz(b); b["serviceCode"] = "TZ-VODACOM-B2C" }, code: "REQ_INVALID_FIELD", field: "serviceCode"},
		{name: "TZS below 1000", mutate: func(b map[string]any) { tz(b); b["amount"] = 999 }, code: "REQ_INVALID_FIELD", field: "amount"},
	}
	e := newEnv(t, Options{})
	tok := e.kpToken()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.raw != "" {
				body = []byte(tc.raw)
			} else {
				b := e.kpBody("254712345678", 1000)
				tc.mutate(b)
				body = mustMarshal(t, b)
			}
			st, b := e.kpSend(tok, body)
			assertKPError(t, st, b, 400, tc.code)
			var m struct{ Error struct{ Details string } }
			mustJSON(t, b, &m)
			if m.Error.Details != tc.field {
				t.Errorf("details %q, want %q", m.Error.Details, tc.field)
			}
			if n := len(e.s.Truth()); n != 0 {
				t.Fatalf("refused request changed the truth: %d payouts", n)
			}
		})
	}
	// The valid variants are accepted.
	for name, mutate := range map[string]func(map[string]any){
		"KSH default currency": func(b map[string]any) { delete(b, "currencyCode") },
		"TZS":                  tz,
		"TZS halotel 1000": func(b map[string]any) {
			tz(b)
			b["serviceCode"] = "TZ-HALOTEL-B2C"
			b["amount"] = 1000
			b["phoneNumber"] = "255612345678"
		},
		"amount 1000.0": func(b map[string]any) { b["amount"] = json.RawMessage("1000.0"); b["phoneNumber"] = "254112345678" },
	} {
		b := e.kpBody("254712345678", 1000)
		mutate(b)
		if st, resp := e.kpSend(tok, b); st != 201 {
			t.Errorf("%s: %d %s", name, st, resp)
		}
	}
	if n := len(e.s.Truth()); n != 4 {
		t.Errorf("truth has %d payouts, want 4", n)
	}
}

func TestKiotaPayLifecycle(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.kpToken()
	for _, prefix := range []string{KiotaPaySandboxPrefix, KiotaPayLivePrefix} {
		t.Run(prefix, func(t *testing.T) {
			phone := "254712345678"
			if prefix == KiotaPayLivePrefix {
				phone = "254712345999" // fails by the default rule
			}
			body := e.kpBody(phone, 1000)
			body["referenceId"] = "line-" + prefix
			st, _, b := e.do("POST", prefix+"/send-money", tok, mustMarshal(t, body), nil)
			if st != 201 {
				t.Fatalf("send: %d %s", st, b)
			}
			if !strings.Contains(string(b), `"amount":1000.0`) || !strings.Contains(string(b), `"status":201,"message":"Success"`) {
				t.Errorf("body %s", b)
			}
			var created struct {
				Data struct {
					RequestID, PhoneNumber, Status string
				}
			}
			mustJSON(t, b, &created)
			id := created.Data.RequestID
			if !uuidRE.MatchString(id) || created.Data.PhoneNumber != phone || created.Data.Status != "PENDING" {
				t.Fatalf("created %s", b)
			}
			e.flush()
			wantStatus := "SUCCESS"
			if strings.HasSuffix(phone, "999") {
				wantStatus = "FAILED"
			}

			st, _, b = e.do("GET", prefix+"/send-money/status?requestId="+id, tok, nil, nil)
			var status struct {
				Status int
				Data   map[string]any
			}
			mustJSON(t, b, &status)
			if st != 200 || status.Status != 200 || status.Data["status"] != wantStatus || status.Data["amount"] != 1000.0 ||
				status.Data["requestId"] != id || status.Data["phoneNumber"] != phone || len(status.Data) != 4 {
				t.Errorf("status: %d %s", st, b)
			}

			st, _, b = e.do("GET", prefix+"/send-money/single?requestId="+id, tok, nil, nil)
			var single struct{ Data map[string]any }
			mustJSON(t, b, &single)
			keys := []string{"id", "uuid", "organisation", "phoneNumber", "remarks", "occasion", "originatorConversationId",
				"conversationId", "callbackUrl", "createdAt", "updatedAt", "status", "responseCode", "receiverName", "transactionReceipt"}
			for _, k := range keys {
				if _, ok := single.Data[k]; !ok {
					t.Errorf("single lacks %s: %s", k, b)
				}
			}
			if st != 200 || single.Data["uuid"] != id || single.Data["status"] != wantStatus || len(single.Data) != len(keys) {
				t.Errorf("single: %d %s", st, b)
			}
			if ca, _ := single.Data["createdAt"].(string); strings.ContainsAny(ca[10:], "Z+") || len(ca) != 23 {
				t.Errorf("createdAt %q has a zone", ca)
			}
			if (wantStatus == "SUCCESS") != (single.Data["transactionReceipt"] != nil) {
				t.Errorf("transactionReceipt %v for %s", single.Data["transactionReceipt"], wantStatus)
			}
		})
	}
	st, _, b := e.do("GET", "/api/sandbox/v1/send-money/all", tok, nil, nil)
	var all struct{ Data []map[string]any }
	mustJSON(t, b, &all)
	if st != 200 || len(all.Data) != 2 {
		t.Errorf("all: %d %s", st, b)
	}
	st, _, b = e.do("GET", "/api/sandbox/v1/send-money/status?requestId=00000000-0000-4000-8000-000000000000", tok, nil, nil)
	assertKPError(t, st, b, 404, "RESOURCE_NOT_FOUND")
	st, _, b = e.do("GET", "/api/sandbox/v1/send-money/single", tok, nil, nil)
	assertKPError(t, st, b, 400, "REQ_MISSING_FIELD")

	// Callbacks: unsigned, {requestId, phoneNumber, status, amount}.
	calls := e.recv.wait(t, 2)
	got := map[string]bool{}
	for _, c := range calls {
		var cb map[string]any
		mustJSON(t, c.body, &cb)
		if c.sig != "" || c.path != "/kp" || len(cb) != 4 || cb["amount"] != 1000.0 {
			t.Errorf("callback %s %s sig=%q", c.path, c.body, c.sig)
		}
		got[cb["phoneNumber"].(string)+" "+cb["status"].(string)] = true
	}
	if !got["254712345678 SUCCESS"] || !got["254712345999 FAILED"] {
		t.Errorf("callbacks %v", got)
	}
	truth := e.s.Truth()
	if len(truth) != 2 || truth[0].Status != StatusPaid || truth[0].Receipt == "" || truth[1].Status != StatusFailed ||
		truth[0].Currency != "KES" || truth[0].ClientReference != "line-/api/sandbox/v1" {
		t.Errorf("truth %+v", truth)
	}
}

func TestKiotaPayReferenceReused(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.kpToken()
	a := e.kpBody("254712345678", 1000)
	a["referenceId"] = "line-1"
	b := e.kpBody("254712345670", 2000)
	b["referenceId"] = "line-1"
	e.kpRequestID(tok, a)
	e.kpRequestID(tok, b) // accepted: nothing says referenceId deduplicates
	if n := e.s.ViolationCount(ViolationReferenceReused); n != 1 {
		t.Errorf("reference_id_reused = %d, want 1", n)
	}
	if n := len(e.s.Truth()); n != 2 {
		t.Errorf("truth %d, want 2", n)
	}
}
