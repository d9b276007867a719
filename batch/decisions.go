package batch

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gocarina/gocsv"
)

// Decision is an operator's word on a line whose outcome is unknown, one
// row of the file `payroll resolve BATCH --from FILE` reads: after
// checking with the provider, the line was paid (with the provider's
// receipt when known) or failed.
type Decision struct {
	Row       int    `csv:"-"` // the file's row, as a spreadsheet shows it
	Reference string `csv:"reference"`
	Outcome   string `csv:"outcome"` // "paid" or "failed"
	Receipt   string `csv:"receipt"`
	Note      string `csv:"note"`
}

// Paid reports whether the decision is that the line was paid.
func (d *Decision) Paid() bool { return d.Outcome == "paid" }

// Rules of a decisions file.
var (
	ErrDecisionOutcome = errors.New(`outcome must be "paid" or "failed"`)
	ErrDecisionNote    = errors.New("note is required: say how you know")
	ErrDecisionTwice   = errors.New("reference is decided twice")
)

// ReadDecisions reads a decisions CSV (header: reference, outcome, receipt,
// note; receipt may be empty or absent; other columns, such as those of
// payroll report --unknown, are ignored, and so is a row whose outcome,
// receipt and note are all empty) with gocsv's typed decoding.
// Every bad row is reported, naming the row, the column and the rule;
// none is returned then.
func ReadDecisions(r io.Reader, name string) ([]Decision, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0
	um, err := gocsv.NewUnmarshaller(cr, Decision{})
	if err != nil {
		return nil, &RowError{File: name, Row: 1, Err: fmt.Errorf("%w: %v", ErrEmptySheet, err)}
	}
	var errs []error
	for _, col := range []string{"reference", "outcome", "note"} {
		if !containsFold(um.Headers, col) {
			errs = append(errs, &RowError{File: name, Row: 1, Column: col, Err: ErrMissingColumn})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var out []Decision
	seen := map[string]int{}
	for {
		v, err := um.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if pe, ok := errors.AsType[*csv.ParseError](err); ok {
			// No record was read: its line is the error's (FieldPos would
			// panic on the empty record). Nothing after it can be trusted.
			errs = append(errs, &RowError{File: name, Row: pe.StartLine, Err: err})
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			errs = append(errs, &RowError{File: name, Row: line, Err: err})
			continue
		}
		d := v.(Decision)
		d.Row = line
		d.Reference, d.Receipt, d.Note = strings.TrimSpace(d.Reference), strings.TrimSpace(d.Receipt), strings.TrimSpace(d.Note)
		d.Outcome = strings.ToLower(strings.TrimSpace(d.Outcome))
		if d.Outcome == "" && d.Receipt == "" && d.Note == "" {
			continue // undecided (a row of payroll report --unknown not filled in)
		}
		bad := func(col string, e error) { errs = append(errs, &RowError{File: name, Row: line, Column: col, Err: e}) }
		switch {
		case d.Reference == "":
			bad("reference", ErrRequired)
		case seen[d.Reference] > 0:
			bad("reference", fmt.Errorf("%w (row %d)", ErrDecisionTwice, seen[d.Reference]))
		}
		if d.Outcome != "paid" && d.Outcome != "failed" {
			bad("outcome", ErrDecisionOutcome)
		}
		if d.Note == "" {
			bad("note", ErrDecisionNote)
		}
		for col, s := range map[string]string{"reference": d.Reference, "receipt": d.Receipt, "note": d.Note} {
			if HasControl(s) {
				bad(col, ErrControlChars)
			}
		}
		seen[d.Reference] = line
		out = append(out, d)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func containsFold(hs []string, s string) bool {
	for _, h := range hs {
		if strings.EqualFold(strings.TrimSpace(h), s) {
			return true
		}
	}
	return false
}

// DecisionCheck is a decision beside the line it is about, before it is
// recorded: only a line whose outcome is unknown takes one.
type DecisionCheck struct {
	Decision
	State State  // the line's state now ("" if there is no such line)
	OK    bool   // the decision can be recorded
	Why   string // why not
}
