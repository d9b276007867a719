package providers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// FuzzParseErrorBody: any error body gives a code and a message without
// a panic; a body that is not JSON gives at most its first line, cut to
// 200 bytes.
func FuzzParseErrorBody(f *testing.F) {
	for _, s := range []string{
		`{"error_code":400,"error_message":"Source identifier is invalid"}`,
		`{"errors":["Phone number is invalid","Amount too low"]}`,
		`{"error":"invalid_client","error_description":"Client authentication failed"}`,
		`{"error":{"code":"REQ_INVALID_FIELD","message":"bad phone","details":{"field":"phoneNumber"}}}`,
		`{"errorCode":"AUTH_FORBIDDEN","message":"no","details":["x"],"statusCode":403}`,
		"<html>\n<body>502 Bad Gateway</body></html>",
		`{"errors":{"phone":["is invalid"]}}`, `{"error":null}`, `[]`, ``, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, msg := ParseErrorBody(body)
		code2, msg2 := ParseErrorBody(body)
		if code != code2 || msg != msg2 {
			t.Fatalf("not deterministic")
		}
		if strings.TrimSpace(string(body)) == "" && code+msg != "" {
			t.Fatalf("empty body gave %q %q", code, msg)
		}
		if !isJSON(body) && len(strings.TrimSuffix(msg, "…")) > 200 {
			t.Fatalf("message of %d bytes from a non-JSON body", len(msg))
		}
		if !isJSON(body) && strings.Contains(msg, "\n") {
			t.Fatalf("message from a non-JSON body spans lines: %q", msg)
		}
	})
}

func isJSON(b []byte) bool {
	var eb errorBody
	return json.Unmarshal(bytes.TrimSpace(b), &eb) == nil
}

// FuzzParseRetryAfter: any Retry-After value gives a delay between 0 and
// 24 hours, without a panic, whether seconds or an HTTP-date.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"120", "0", "-1", " 5 ", "99999999999999999999", "1.5", "",
		now.Add(90 * time.Second).Format(http.TimeFormat), now.Add(-time.Hour).Format(http.TimeFormat),
		now.AddDate(5, 0, 0).Format(http.TimeFormat), "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := ParseRetryAfter(v, now)
		if d < 0 || d > 24*time.Hour {
			t.Fatalf("ParseRetryAfter(%q) = %v, want within [0, 24h]", v, d)
		}
	})
}

// FuzzParseAmount: any provider amount text is parsed exactly or
// refused, without a panic: a parsed amount equals the text's decimal
// value exactly (never rounded), is never negative and has at most two
// decimals.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1000.0", "236", "1500.75", "1500.750", "1500.755", "0.005", "1e3", "-5", "+5", " 12 ",
		"1,000", "NaN", "", "00012.10", "99999999999999999999999999.99", ".5", "5.", "１２"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, ok, err := ParseAmount(s)
		if err != nil {
			if ok || !m.IsZero() {
				t.Fatalf("ParseAmount(%q): error %v with %s, %v", s, err, m, ok)
			}
			return
		}
		if !ok {
			if strings.TrimSpace(s) != "" {
				t.Fatalf("ParseAmount(%q): no amount and no error", s)
			}
			return
		}
		want, derr := decimal.NewFromString(strings.TrimSpace(s))
		if derr != nil {
			t.Fatalf("ParseAmount(%q) = %s, but the text is not a decimal: %v", s, m, derr)
		}
		got := m.Decimal()
		if !got.Equal(want) {
			t.Fatalf("ParseAmount(%q) = %s, not exact (%s)", s, got, want)
		}
		if got.IsNegative() || !got.Equal(got.Truncate(2)) {
			t.Fatalf("ParseAmount(%q) = %s", s, got)
		}
		if !utf8.ValidString(m.String()) {
			t.Fatalf("invalid text")
		}
	})
}
