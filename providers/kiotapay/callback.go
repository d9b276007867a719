package kiotapay

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"

	"payroll/providers"
)

// CallbackToken is the unguessable path segment of the callback URL
// (KiotaPay does not sign callbacks). It is derived from the API secret so
// that it is the same for run and a later settle.
func CallbackToken(apiSecret string) string {
	sum := sha256.Sum256([]byte("payroll kiotapay callback path\x00" + apiSecret))
	return hex.EncodeToString(sum[:16])
}

// Hinter queues a status query for a request ID: batch.Settler.Hint with
// the provider bound. It reports false when it cannot take more.
type Hinter func(requestID string) bool

// CallbackHandler serves KiotaPay's callbacks on a pattern whose path ends
// in "{token}": a wrong token is 404. KiotaPay callbacks are unsigned, so
// nothing in the body is believed: the request ID is handed to hint, which
// confirms it with a status query, and the callback is acknowledged at
// once (503 if the confirmation queue is full). POST only, bodies capped
// at providers.MaxCallbackBody.
func CallbackHandler(token string, hint Hinter, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.PathValue("token")), []byte(token)) != 1 {
			http.NotFound(w, r)
			return
		}
		body, ok := providers.ReadCallback(w, r)
		if !ok {
			return
		}
		requestID, status, _, _, err := ParseCallback(body)
		if err != nil || requestID == "" {
			log.Warn("kiotapay callback refused: cannot parse", "err", err)
			http.Error(w, "cannot parse", http.StatusBadRequest)
			return
		}
		log.Debug("kiotapay callback queued for confirmation", "request", requestID, "claims", status)
		if !hint(requestID) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}
