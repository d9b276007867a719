package reports

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
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
	err := r.each(func(row *Row) error {
		rec := []string{
			strconv.Itoa(row.Row), escape(row.Reference), escape(row.Name), row.Provider, row.Type,
			escape(row.Destination), escape(row.amount()), row.Currency, string(row.Status), escape(row.ProviderReference),
			escape(row.Receipt), escape(row.FailureReason), strconv.Itoa(row.Attempts), timestamp(row.UpdatedAt),
			zoned(row.SentAt, r.Zone), zoned(row.SettledAt, r.Zone), escape(strings.Join(row.Flags, ";")), sheetAmount(row),
		}
		rec = append(rec, r.extras(row)...)
		return cw.Write(rec)
	})
	if err != nil {
		return err
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
	// The document is encoding/json's indented form, written row by row:
	// the head as it would be with no rows, each row indented as the
	// array's element, then the tail.
	doc, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	const empty = `"rows": []`
	i := bytes.LastIndex(doc, []byte(empty))
	if i < 0 {
		return errors.New("reports: JSON layout")
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	bw.Write(doc[:i+len(empty)-1]) // up to and with the '['
	n := 0
	err = r.each(func(row *Row) error {
		rc := *row
		rc.UpdatedAt = rc.UpdatedAt.UTC()
		if r.Zone != nil {
			rc.SentAt, rc.SettledAt = inZone(rc.SentAt, r.Zone), inZone(rc.SettledAt, r.Zone)
		}
		rc.Name, rc.Reference, rc.FailureReason = clean(rc.Name), clean(rc.Reference), clean(rc.FailureReason)
		rc.Destination, rc.ProviderReference, rc.Receipt = clean(rc.Destination), clean(rc.ProviderReference), clean(rc.Receipt)
		if rc.Extra != nil {
			extra := make(map[string]string, len(rc.Extra))
			for k, v := range rc.Extra {
				extra[clean(k)] = clean(v)
			}
			rc.Extra = extra
		}
		js, err := json.MarshalIndent(jsonRow{Row: rc, Amount: rc.amount()}, "    ", "  ")
		if err != nil {
			return err
		}
		if n > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		_, err = bw.Write(js)
		n++
		return err
	})
	if err != nil {
		return err
	}
	if n > 0 {
		bw.WriteString("\n  ")
	}
	bw.Write(doc[i+len(empty)-1:]) // ']', the rest, and encoding/json's newline
	bw.WriteByte('\n')
	return bw.Flush()
}

func inZone(t time.Time, z *time.Location) time.Time {
	if t.IsZero() {
		return t
	}
	return t.In(z)
}
