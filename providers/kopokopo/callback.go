package kopokopo

import (
	"context"
	"log/slog"
	"net/http"

	"payroll/batch"
	"payroll/providers"
)

// Receiver takes trusted results: batch.Settler.Receive.
type Receiver func(ctx context.Context, results []batch.Result) error

// CallbackHandler serves Kopo Kopo's result callbacks: it verifies the
// X-KopoKopo-Signature HMAC over the raw body with the API key (401 if it
// is missing or wrong), parses the send_money document (400 if it cannot),
// and hands the results to receive; it answers 200 only once they are
// recorded (500 otherwise, so that Kopo Kopo calls again). POST only,
// bodies capped at providers.MaxCallbackBody.
func CallbackHandler(apiKey string, receive Receiver, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := providers.ReadCallback(w, r)
		if !ok {
			return
		}
		if !Verify(apiKey, body, r.Header.Get(SignatureHeader)) {
			log.Warn("kopokopo callback refused: bad or missing signature", "remote", r.RemoteAddr, "bytes", len(body))
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		ref, results, err := ParseResult(body)
		if err != nil {
			log.Warn("kopokopo callback refused: cannot parse", "err", err)
			http.Error(w, "cannot parse", http.StatusBadRequest)
			return
		}
		batch.Stamp(results, batch.KopoKopo, ref, "callback")
		if err := receive(r.Context(), results); err != nil {
			log.Error("kopokopo callback not recorded", "err", err)
			http.Error(w, "not recorded", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}
