package reports

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// UnknownRow is a line whose outcome is unknown, with what an operator
// needs to ask the provider about it; the last three columns are the
// decision, left empty for the operator to fill in (the file is then a
// decisions file for `payroll resolve BATCH --from`).
type UnknownRow struct {
	Reference   string
	Row         int
	Name        string
	Provider    string
	Type        string
	Destination string // in full: this file is the operator's, not a log
	Amount      string
	Currency    string
	SentAt      time.Time
	Attempt     int
	ProviderRef string // what the provider answered, if anything
	ClientRef   string // what was sent as the request's reference (KiotaPay referenceId)
	Why         string // why the outcome is unknown
	Outcome     string // a proposal, or empty
	Receipt     string
	Note        string
}

// UnknownColumns is the header of the unknown-lines file.
var UnknownColumns = []string{"reference", "row", "name", "provider", "type", "destination", "amount", "currency",
	"sent_at", "attempt", "provider_reference", "client_reference", "why_unknown", "outcome", "receipt", "note"}

// UnknownPath is where WriteUnknown writes a batch's unknown lines.
func UnknownPath(dir, batchID string) string {
	return filepath.Join(dir, safeName(batchID)+"-unknown.csv")
}

// WriteUnknown writes the unknown lines to dir/<batch>-unknown.csv,
// atomically, mode 0600.
func WriteUnknown(dir, batchID string, rows []UnknownRow) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := UnknownPath(dir, batchID)
	removeStale(path)
	return path, writeAtomic(path, func(f *os.File) error {
		w := csv.NewWriter(f)
		w.Write(UnknownColumns)
		for _, r := range rows {
			sent := ""
			if !r.SentAt.IsZero() {
				sent = r.SentAt.Format(time.RFC3339)
			}
			w.Write([]string{escape(r.Reference), itoa(r.Row), escape(r.Name), r.Provider, r.Type, escape(r.Destination),
				r.Amount, r.Currency, sent, itoa(r.Attempt), escape(r.ProviderRef), escape(r.ClientRef), escape(r.Why),
				r.Outcome, escape(r.Receipt), escape(r.Note)})
		}
		w.Flush()
		return w.Error()
	})
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
