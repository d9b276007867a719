package providers

import (
	"errors"
	"io"
	"net/http"
)

// MaxCallbackBody caps a callback's body: a Kopo Kopo result for 50
// destinations is about 40 KB.
const MaxCallbackBody = 1 << 20

// ReadCallback reads a callback's POST body up to MaxCallbackBody. On any
// other method, or a body too large or unreadable, it answers (405, 413,
// 400) and reports false.
func ReadCallback(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCallbackBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "cannot read body", http.StatusBadRequest)
		}
		return nil, false
	}
	return body, true
}
