package batch

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// HeaderScanRows is how many non-blank rows at the top of a sheet are
// tried as its header when ReadOptions.HeaderRow is 0: a title, a date or
// a row of group captions above the real header is common in HR exports.
const HeaderScanRows = 10

// HeaderError says that no row could serve as the header, with what would
// fix it: the headers found on the row most like a header, and the
// [sheet.columns] lines that would map them.
type HeaderError struct {
	File    string
	Row     int      // the row whose headers are shown
	Found   []string // its non-empty headers
	Suggest []string // [sheet.columns] lines, e.g. `amount = "Net Pay (KES)"`
	Err     error    // MapHeader's errors for that row
}

func (e *HeaderError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if len(e.Found) > 0 {
		q := make([]string, len(e.Found))
		for i, h := range e.Found {
			q[i] = strconv.Quote(h)
		}
		fmt.Fprintf(&b, "\n%s: the headers on row %d are %s", e.File, e.Row, strings.Join(q, ", "))
	}
	if len(e.Suggest) > 0 {
		b.WriteString("\nto map them, add to payroll.toml (or pass --header-row N if the header is another row):\n[sheet.columns]\n")
		b.WriteString(strings.Join(e.Suggest, "\n"))
	}
	return b.String()
}

func (e *HeaderError) Unwrap() error { return e.Err }

// headerChoice picks the header among the first rows of a sheet: the
// forced row (1-based, as Excel numbers rows) or the first of them that
// maps. rows holds each candidate's row number and cells.
func headerChoice(file string, rows []headerCandidate, forced int, custom map[string]string) (int, *Mapping, error) {
	if forced > 0 {
		for i, r := range rows {
			if r.row == forced {
				m, err := MapHeader(file, r.cells, custom)
				if err != nil {
					return i, m, explainHeader(file, r, err)
				}
				return i, m, nil
			}
		}
		return -1, nil, &RowError{File: file, Row: forced, Err: fmt.Errorf("%w: --header-row %d is blank or past the first %d rows", ErrEmptySheet, forced, HeaderScanRows)}
	}
	var first error
	best := -1
	bestScore := -1
	for i, r := range rows {
		m, err := MapHeader(file, r.cells, custom)
		if err == nil {
			return i, m, nil
		}
		if first == nil {
			first = err
		}
		if s := headerScore(r.cells); s > bestScore {
			best, bestScore = i, s
		}
	}
	if best < 0 {
		return -1, nil, &RowError{File: file, Err: ErrEmptySheet}
	}
	r := rows[best]
	_, err := MapHeader(file, r.cells, custom)
	return -1, nil, explainHeader(file, r, err)
}

type headerCandidate struct {
	row   int
	cells []string
}

// headerScore is how header-like a row is: the number of cells that look
// like a column name (text that is not a number).
func headerScore(cells []string) int {
	n := 0
	for _, c := range cells {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if _, err := strconv.ParseFloat(strings.ReplaceAll(c, ",", ""), 64); err == nil {
			continue
		}
		n++
	}
	return n
}

// explainHeader wraps MapHeader's errors for a row with its headers and
// the [sheet.columns] lines that would likely fix it.
func explainHeader(file string, r headerCandidate, err error) error {
	he := &HeaderError{File: file, Row: r.row, Err: err}
	for _, h := range r.cells {
		if strings.TrimSpace(h) != "" {
			he.Found = append(he.Found, strings.TrimSpace(h))
		}
	}
	if errors.Is(err, ErrMissingColumn) {
		he.Suggest = append(he.Suggest, suggest("amount", he.Found, amountWords))
	}
	if errors.Is(err, ErrNoDestination) {
		he.Suggest = append(he.Suggest, suggest("phone", he.Found, phoneWords))
	}
	return he
}

var (
	amountWords = []string{"amount", "netpay", "pay", "salary", "net", "wage", "total", "kes", "tzs", "ksh", "tsh"}
	phoneWords  = []string{"phone", "mobile", "msisdn", "mpesa", "tel", "cell", "wallet", "number"}
)

// suggest proposes `canon = "header"` for the found header most like
// canon (by the words it contains, in order of preference), or a line to
// fill in.
func suggest(canon string, found []string, words []string) string {
	for _, w := range words {
		for _, h := range found {
			if strings.Contains(normHeader(h), w) {
				return fmt.Sprintf("%s = %s", canon, strconv.Quote(h))
			}
		}
	}
	return fmt.Sprintf("%s = \"…\"   # the header of the column with the %s", canon, map[string]string{"amount": "amounts to pay", "phone": "phone numbers"}[canon])
}

// stripQualifier drops bracketed qualifiers from a header: "Net Pay (KES)"
// is "Net Pay" for matching the built-in names.
func stripQualifier(h string) string {
	for _, p := range [][2]string{{"(", ")"}, {"[", "]"}} {
		for {
			i := strings.Index(h, p[0])
			if i < 0 {
				break
			}
			j := strings.Index(h[i:], p[1])
			if j < 0 {
				break
			}
			h = h[:i] + h[i+j+1:]
		}
	}
	return h
}

// worksheetList is the workbook's worksheet names for an error message.
func worksheetList(names []string) string {
	q := slices.Clone(names)
	for i := range q {
		q[i] = strconv.Quote(q[i])
	}
	return strings.Join(q, ", ")
}
