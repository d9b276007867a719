package reports

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteCSV writes the report as CSV with a header row; amounts are exact
// decimal strings and formula-like text is escaped.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(r.Header()); err != nil {
		return err
	}
	for i := range r.Rows {
		row := &r.Rows[i]
		rec := []string{
			strconv.Itoa(row.Row), escape(row.Reference), escape(row.Name), row.Provider, row.Type,
			escape(row.Destination), escape(row.amount()), row.Currency, string(row.Status), escape(row.ProviderReference),
			escape(row.Receipt), escape(row.FailureReason), strconv.Itoa(row.Attempts), timestamp(row.UpdatedAt),
			zoned(row.SentAt, r.Zone), zoned(row.SettledAt, r.Zone), escape(strings.Join(row.Flags, ";")), sheetAmount(row),
		}
		rec = append(rec, r.extras(row)...)
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

// zoned formats a time as RFC 3339 with the zone's offset (Local when
// nil), or "" for the zero time.
func zoned(t time.Time, z *time.Location) string {
	if t.IsZero() {
		return ""
	}
	if z == nil {
		z = time.Local
	}
	return t.In(z).Format(time.RFC3339)
}

func sheetAmount(row *Row) string {
	if row.SheetAmount.IsZero() {
		return ""
	}
	return row.SheetAmount.String()
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
	// ExtraColumns are the sheet's own other columns; each row's "extra"
	// holds its values.
	ExtraColumns []string  `json:"extra_columns,omitempty"`
	Rows         []jsonRow `json:"rows"`
}

// WriteJSON writes the report as indented JSON with a summary per provider
// × currency × status. JSON is data, not a spreadsheet: text is not
// escaped.
func WriteJSON(w io.Writer, r *Report) error {
	out := jsonReport{Batch: r.Batch, Sheet: clean(r.Sheet), Generated: r.Generated.UTC(), Groups: r.Groups(), ExtraColumns: r.ExtraColumns, Rows: []jsonRow{}}
	if out.Groups == nil {
		out.Groups = []Group{}
	}
	for _, row := range r.Rows {
		row.UpdatedAt = row.UpdatedAt.UTC()
		if r.Zone != nil {
			row.SentAt, row.SettledAt = inZone(row.SentAt, r.Zone), inZone(row.SettledAt, r.Zone)
		}
		row.Name, row.Reference, row.FailureReason = clean(row.Name), clean(row.Reference), clean(row.FailureReason)
		row.Destination, row.ProviderReference, row.Receipt = clean(row.Destination), clean(row.ProviderReference), clean(row.Receipt)
		if row.Extra != nil {
			extra := make(map[string]string, len(row.Extra))
			for k, v := range row.Extra {
				extra[clean(k)] = clean(v)
			}
			row.Extra = extra
		}
		out.Rows = append(out.Rows, jsonRow{Row: row, Amount: row.amount()})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func inZone(t time.Time, z *time.Location) time.Time {
	if t.IsZero() {
		return t
	}
	return t.In(z)
}
