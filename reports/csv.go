package reports

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"time"
)

// WriteCSV writes the report as CSV with a header row; amounts are exact
// decimal strings and formula-like text is escaped.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return err
	}
	for i := range r.Rows {
		row := &r.Rows[i]
		rec := []string{
			strconv.Itoa(row.Row), escape(row.Reference), escape(row.Name), row.Provider, row.Type,
			escape(row.Destination), escape(row.amount()), row.Currency, row.Status, escape(row.ProviderReference),
			escape(row.Receipt), escape(row.FailureReason), strconv.Itoa(row.Attempts), timestamp(row.UpdatedAt),
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

type jsonRow struct {
	Row
	Amount string `json:"amount"`
}

type jsonReport struct {
	Batch     string    `json:"batch"`
	Sheet     string    `json:"sheet"`
	Generated time.Time `json:"generated_at"`
	Groups    []Group   `json:"summary"`
	Rows      []jsonRow `json:"rows"`
}

// WriteJSON writes the report as indented JSON with a summary per provider
// × currency × status. JSON is data, not a spreadsheet: text is not
// escaped.
func WriteJSON(w io.Writer, r *Report) error {
	out := jsonReport{Batch: r.Batch, Sheet: r.Sheet, Generated: r.Generated.UTC(), Groups: r.Groups(), Rows: []jsonRow{}}
	if out.Groups == nil {
		out.Groups = []Group{}
	}
	for _, row := range r.Rows {
		row.UpdatedAt = row.UpdatedAt.UTC()
		out.Rows = append(out.Rows, jsonRow{Row: row, Amount: row.amount()})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
