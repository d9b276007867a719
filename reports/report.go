package reports

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"payroll/batch"
)

// Columns of the report, in order (docs/design.md §6).
var Columns = []string{"row", "reference", "name", "provider", "type", "destination", "amount", "currency",
	"status", "provider_reference", "receipt", "failure_reason", "attempts", "updated_at",
	"sent_at", "settled_at", "flags", "sheet_amount"}

// Statuses of the report's status column, in display order.
var Statuses = []Status{StatusPaid, StatusFailed, StatusUnknown, StatusPending, StatusInvalid, StatusConflict, StatusCancelled}

// Row is one line of the report.
type Row struct {
	Row               int         `json:"row"`
	Reference         string      `json:"reference"`
	Name              string      `json:"name"`
	Provider          string      `json:"provider"`
	Type              string      `json:"type"`
	Destination       string      `json:"destination"`
	Amount            batch.Money `json:"amount"`
	AmountText        string      `json:"-"` // an invalid row's amount as written, when it is not a number
	Currency          string      `json:"currency"`
	Status            Status      `json:"status"`
	ProviderReference string      `json:"provider_reference"`
	Receipt           string      `json:"receipt"`
	FailureReason     string      `json:"failure_reason"`
	Attempts          int         `json:"attempts"`
	UpdatedAt         time.Time   `json:"updated_at"`
	SentAt            time.Time   `json:"sent_at,omitzero"`    // when the current attempt's request went out
	SettledAt         time.Time   `json:"settled_at,omitzero"` // when the line was paid or failed
	// Flags say what a person should know: sheet-changed (the sheet now
	// asks for something else than what was sent), duplicate-allowed,
	// resolved-by-operator, corrected, and the ledger's conflict flags.
	Flags []string `json:"flags,omitempty"`
	// SheetAmount is the sheet's amount where it differs from the amount
	// sent (a conflict); zero otherwise.
	SheetAmount batch.Money `json:"sheet_amount,omitzero"`
	// Extra is the sheet's other columns of the row (header → value).
	Extra map[string]string `json:"extra,omitempty"`
	// Awaiting marks a pending row that was sent and waits for its result
	// (settle); a pending row without it was never sent (run again).
	Awaiting bool `json:"-"`
}

// Flag values the report sets itself.
const FlagSheetChanged = "sheet-changed"

// HasFlag reports whether the row carries the flag.
func (r *Row) HasFlag(f string) bool { return slices.Contains(r.Flags, f) }

// amount is the amount cell as text: the exact decimal, or what an invalid
// row had.
func (r *Row) amount() string {
	if r.AmountText != "" {
		return r.AmountText
	}
	return r.Amount.String()
}

// Report is a batch's reconciliation.
type Report struct {
	Batch     string    `json:"batch"`
	Sheet     string    `json:"sheet"`
	Generated time.Time `json:"generated_at"`
	Rows      []Row     `json:"rows"`
	// ExtraColumns are the sheet's own other columns (department, cost
	// centre, ...), written after the report's columns in their order.
	ExtraColumns []string `json:"extra_columns,omitempty"`
	// Zone is where sent_at and settled_at are shown (with its offset);
	// nil means the machine's local zone.
	Zone *time.Location `json:"-"`

	tally  *tally                       // the sums, made once
	source func(func(*Row) error) error // BuildStream: the rows, read again per file
}

// Header is the report's column header: Columns, then the sheet's extra
// columns.
func (r *Report) Header() []string {
	out := slices.Clone(Columns)
	for _, c := range r.ExtraColumns {
		// A sheet column named like one of the report's ("status", say)
		// is told apart.
		if slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, c) }) {
			c = "sheet " + c
		}
		out = append(out, c)
	}
	return out
}

// extras are a row's values of the extra columns, escaped.
func (r *Report) extras(row *Row) []string {
	out := make([]string, len(r.ExtraColumns))
	for i, c := range r.ExtraColumns {
		out[i] = escape(row.Extra[c])
	}
	return out
}

// Group is the count and total of rows of one provider, currency and
// status.
type Group struct {
	Provider string      `json:"provider"`
	Currency string      `json:"currency"`
	Status   Status      `json:"status"`
	Lines    int         `json:"lines"`
	Amount   batch.Money `json:"amount"`
}

// Groups sums the rows per provider × currency × status, in a stable order.
func (r *Report) Groups() []Group {
	out := slices.Clone(r.sum().groups)
	slices.SortFunc(out, func(a, b Group) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Currency, b.Currency),
			cmp.Compare(statusOrder(a.Status), statusOrder(b.Status)))
	})
	return out
}

func statusOrder(s Status) int {
	if i := slices.Index(Statuses, s); i >= 0 {
		return i
	}
	return len(Statuses)
}

// escape defuses text a spreadsheet would read as a formula, after
// replacing control and bidirectional-override characters, so that no
// report carries a NUL, an escape sequence or text that reads backwards.
func escape(s string) string {
	if s == "" {
		return s
	}
	s = clean(s)
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// clean replaces control characters (C0, DEL, C1) and the Unicode
// bidirectional controls with U+FFFD. Validation refuses them in sheets;
// this keeps provider texts and anything else out of the files too.
func clean(s string) string {
	if strings.IndexFunc(s, batch.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if batch.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// Formats the report can be written in.
var Formats = []string{"csv", "xlsx", "json"}

// WriteFiles writes the report in each format to dir/<batch>.<format>,
// atomically and with mode 0600, and returns the paths.
func WriteFiles(dir string, r *Report, formats []string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	var paths []string
	for _, f := range formats {
		path := Path(dir, r.Batch, f)
		removeStale(path)
		var err error
		switch f {
		case "csv":
			err = writeAtomic(path, func(w *os.File) error { return WriteCSV(w, r) })
		case "json":
			err = writeAtomic(path, func(w *os.File) error { return WriteJSON(w, r) })
		case "xlsx":
			err = writeAtomic(path, func(w *os.File) error { return WriteXLSX(w, r) })
		default:
			err = fmt.Errorf("unknown format %q (want csv, xlsx or json)", f)
		}
		if err != nil {
			return paths, fmt.Errorf("reports: %s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// Path is where WriteFiles writes a batch's report in one format.
func Path(dir, batchID, format string) string {
	return filepath.Join(dir, safeName(batchID)+"."+format)
}

// Paths are the report paths of a batch in the formats.
func Paths(dir, batchID string, formats []string) []string {
	out := make([]string, len(formats))
	for i, f := range formats {
		out[i] = Path(dir, batchID, f)
	}
	return out
}

// safeName keeps a batch ID usable as a file name.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\' || r == 0 || r < 32:
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "batch"
	}
	return s
}

// removeStale deletes temporary files a killed writer left for path.
func removeStale(path string) {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+globEscape(filepath.Base(path))+".*.tmp"))
	for _, f := range stale {
		os.Remove(f)
	}
}

func globEscape(s string) string {
	return strings.NewReplacer("*", "\\*", "?", "\\?", "[", "\\[", "\\", "\\\\").Replace(s)
}

// writeAtomic writes a file through a temporary file in the same directory
// (mode 0600), fsyncs it and renames it into place.
func writeAtomic(path string, write func(*os.File) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	batch.Failpoint("mid-report")
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
