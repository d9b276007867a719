package kopokopo

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// SignatureHeader carries a callback's signature.
const SignatureHeader = "X-KopoKopo-Signature"

// Verify reports whether signature (the X-KopoKopo-Signature header) is
// the hex HMAC-SHA256 of the raw callback body keyed with the API key. It
// hashes the bytes exactly as received, before any JSON decoding, and
// compares in constant time. An empty key, or a signature that is missing,
// not hex or not 64 hex digits long, is rejected. Upper-case hex is
// accepted.
func Verify(apiKey string, body []byte, signature string) bool {
	signature = strings.TrimSpace(signature)
	if apiKey == "" || len(signature) != hex.EncodedLen(sha256.Size) {
		return false
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(apiKey))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
