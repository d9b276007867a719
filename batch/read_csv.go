package batch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"unicode/utf8"

	"github.com/gocarina/gocsv"
)

// csvRow is the struct gocsv checks the header against once it has been
// rewritten to canonical names. Rows are then read from the csv.Reader and
// placed by the Mapping (what gocsv's Read does for string fields, without
// its reflection and its allocation of every field: 60% of the memory
// allocated by validating a sheet).
type csvRow struct {
	Reference      string `csv:"reference"`
	Name           string `csv:"name"`
	FirstName      string `csv:"first_name"`
	LastName       string `csv:"last_name"`
	Type           string `csv:"type"`
	Provider       string `csv:"provider"`
	Phone          string `csv:"phone"`
	Network        string `csv:"network"`
	BankBranchRef  string `csv:"bank_branch_ref"`
	AccountName    string `csv:"account_name"`
	AccountNumber  string `csv:"account_number"`
	TillNumber     string `csv:"till_number"`
	PaybillNumber  string `csv:"paybill_number"`
	PaybillAccount string `csv:"paybill_account_number"`
	Amount         string `csv:"amount"`
	Currency       string `csv:"currency"`
	Description    string `csv:"description"`
	Occasion       string `csv:"occasion"`
	Narration      string `csv:"narration"`
	ServiceCode    string `csv:"service_code"`
}

type csvSheet struct {
	file  string
	opts  ReadOptions
	guard *lineGuard
	// embedded counts the line breaks inside quoted cells read so far.
	embedded int
	cr       *csv.Reader
	mapping  *Mapping
	rows     int
	done     bool
	// lineOff is the number of lines above the header (title rows
	// skipped): the reader counts from the header, rows are numbered from
	// the top of the file.
	lineOff int
	// size is the file's size, if r is a regular file (0 if unknown), and
	// dataStart the reader's offset of the first data row: rowsHint
	// extrapolates from them.
	size, dataStart int64
}

// rowsHint estimates the sheet's data rows from the bytes its first rows
// took, or 0 if the file's size is not known. It is an estimate: the
// duplicate indexes are sized by it, and grow past it as they must.
func (s *csvSheet) rowsHint() int {
	read := s.cr.InputOffset() - s.dataStart
	if s.size <= 0 || s.rows == 0 || read <= 0 {
		return 0
	}
	est := float64(s.rows) * float64(s.size-s.dataStart) / float64(read)
	return int(min(est, float64(s.opts.MaxRows)))
}

// maxLineBytes bounds one physical line of a CSV, so that a hostile file
// cannot make the reader buffer an unbounded cell.
func maxLineBytes(opts ReadOptions) int { return max(64<<10, 32*opts.MaxCellSize) }

// NewCSVSheet reads a CSV payroll sheet: UTF-8 (a BOM is stripped), fields
// separated by "," or ";" (detected from the header line), strict field
// counts. It streams through gocsv's pull API over its own csv.Reader, so
// every error carries the real line number.
func NewCSVSheet(r io.Reader, name string, opts ReadOptions) (Sheet, error) {
	opts.defaults()
	guard := &lineGuard{r: r, max: maxLineBytes(opts), line: 1}
	br := bufio.NewReaderSize(guard, 64<<10)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\ufeff")) {
		br.Discard(3)
	}
	head, err := br.Peek(br.Size())
	if len(head) == 0 {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, sheetError(name, err)
		}
		return nil, &RowError{File: name, Err: ErrEmptySheet}
	}
	comma := detectComma(head)
	skip, lineOff, err := findCSVHeader(name, head, comma, opts)
	if err != nil {
		return nil, err
	}
	if skip > 0 {
		br.Discard(skip)
		comma = detectComma(head[skip:])
	}
	cr := csv.NewReader(br)
	cr.Comma = comma
	cr.ReuseRecord = false
	cr.FieldsPerRecord = 0 // the header's count, enforced for every row

	um, err := gocsv.NewUnmarshaller(cr, csvRow{})
	if err != nil {
		return nil, sheetError(name, err)
	}
	headers := append([]string(nil), um.Headers...)
	if blankRow(headers) {
		return nil, &RowError{File: name, Err: ErrEmptySheet}
	}
	for _, h := range headers {
		if !utf8.ValidString(h) {
			return nil, &RowError{File: name, Row: 1, Err: ErrNotUTF8}
		}
	}
	m, err := MapHeader(name, headers, opts.Columns)
	if err != nil {
		return nil, explainHeader(name, headerCandidate{row: lineOff + 1, cells: headers}, err)
	}
	if err := um.RenormalizeHeaders(func([]string) []string {
		canon := make([]string, len(headers))
		for c := Column(0); c < numColumns; c++ {
			if i := m.index[c]; i >= 0 {
				canon[i] = c.String()
			}
		}
		for i := range canon {
			if canon[i] == "" {
				canon[i] = fmt.Sprintf("\x00unmapped%d", i)
			}
		}
		return canon
	}); err != nil {
		return nil, sheetError(name, err)
	}
	cr.ReuseRecord = true // the header has been read and copied
	var size int64
	if st, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	}
	return &csvSheet{file: name, opts: opts, guard: guard, cr: cr, mapping: m, lineOff: lineOff,
		size: size, dataStart: cr.InputOffset()}, nil
}

func (s *csvSheet) File() string      { return s.file }
func (s *csvSheet) Mapping() *Mapping { return s.mapping }
func (s *csvSheet) Close() error      { return nil }

func (s *csvSheet) Next(ctx context.Context) (Record, error) {
	for {
		if s.done {
			return Record{}, io.EOF
		}
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
		fields, err := s.cr.Read()
		// Rows are numbered as Excel shows them: a quoted cell's line
		// breaks belong to its row, so the newlines inside earlier records
		// are taken off the reader's physical line.
		embedded := s.embedded - s.lineOff
		if n := len(fields); err == nil && n > 0 {
			// The line breaks inside all cells but the last one move the
			// last cell's start by as many lines: count only its own.
			first, _ := s.cr.FieldPos(0)
			last, _ := s.cr.FieldPos(n - 1)
			s.embedded += last - first + strings.Count(fields[n-1], "\n")
		} else {
			for _, f := range fields {
				s.embedded += strings.Count(f, "\n")
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				s.done = true
				return Record{}, io.EOF
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					if s.rows++; s.rows > s.opts.MaxRows {
						return s.tooMany(pe.StartLine - embedded)
					}
					return Record{Row: pe.StartLine - embedded}, &RowError{File: s.file, Row: pe.StartLine - embedded,
						Err: fmt.Errorf("%w (the header has %d)", ErrFieldCount, s.mapping.Width())}
				}
				if errors.Is(pe.Err, csv.ErrBareQuote) {
					// The reader has consumed the line: report the row and
					// go on, so that one stray quote does not hide the
					// errors of the rows after it.
					if s.rows++; s.rows > s.opts.MaxRows {
						return s.tooMany(pe.StartLine - embedded)
					}
					return Record{Row: pe.StartLine - embedded}, &RowError{File: s.file, Row: pe.StartLine - embedded, Err: fmt.Errorf("malformed CSV: %w", pe.Err)}
				}
				s.done = true
				return Record{}, &RowError{File: s.file, Row: pe.StartLine - embedded, Err: fmt.Errorf("malformed CSV: %w", pe.Err)}
			}
			s.done = true
			if errors.Is(err, errLineTooLong) {
				return Record{}, &RowError{File: s.file, Row: s.guard.tripLine - s.embedded,
					Err: fmt.Errorf("%w: the line is longer than %d bytes", ErrCellTooLarge, s.guard.max)}
			}
			return Record{}, sheetError(s.file, err)
		}
		// FieldPos is only safe after a successful read: csv.Reader
		// panics when a record failed before its first field (a bare
		// quote in the first cell) and has no positions.
		line, _ := s.cr.FieldPos(0)
		line -= embedded
		if s.mapping.blank(fields) {
			continue
		}
		if s.rows++; s.rows > s.opts.MaxRows {
			return s.tooMany(line)
		}
		return recordFrom(s.file, line, fields, s.mapping, s.opts.MaxCellSize)
	}
}

func (s *csvSheet) tooMany(line int) (Record, error) {
	s.done = true
	return Record{}, &RowError{File: s.file, Row: line, Err: fmt.Errorf("%w: more than %d rows", ErrTooManyRows, s.opts.MaxRows)}
}

// findCSVHeader finds the header among the first rows in head (the
// file's first bytes): the forced row, or the first that maps. It
// returns the bytes and lines above it. A header on the first line (the
// usual case) is 0, 0.
func findCSVHeader(name string, head []byte, comma rune, opts ReadOptions) (skip, lines int, err error) {
	try := func(comma rune) (cands []headerCandidate, offs []int64, found bool) {
		r := csv.NewReader(bytes.NewReader(head))
		r.Comma, r.FieldsPerRecord, r.LazyQuotes = comma, -1, true
		for len(cands) < HeaderScanRows {
			off := r.InputOffset()
			rec, err := r.Read()
			if err != nil {
				return cands, offs, false
			}
			line, _ := r.FieldPos(0)
			if blankRow(rec) {
				continue
			}
			cands, offs = append(cands, headerCandidate{row: line, cells: rec}), append(offs, off)
			if opts.HeaderRow > 0 {
				if line >= opts.HeaderRow {
					return cands, offs, line == opts.HeaderRow
				}
				continue
			}
			if _, err := MapHeader(name, rec, opts.Columns); err == nil {
				return cands, offs, true
			}
		}
		return cands, offs, false
	}
	cands, offs, found := try(comma)
	if !found && opts.HeaderRow == 0 {
		other := ';'
		if comma == ';' {
			other = ','
		}
		if c2, o2, ok := try(other); ok {
			cands, offs, found = c2, o2, true
		}
	}
	if len(cands) == 0 {
		return 0, 0, nil // empty, or one enormous first line: the reader says which
	}
	i, _, err := headerChoice(name, cands, opts.HeaderRow, opts.Columns)
	if err != nil {
		return 0, 0, err
	}
	if i == 0 && cands[0].row == 1 {
		return 0, 0, nil
	}
	return int(offs[i]), cands[i].row - 1, nil
}

// detectComma picks ";" when the header line has more semicolons than
// commas outside quotes (Excel in many locales exports ";").
func detectComma(head []byte) rune {
	commas, semis, quoted := 0, 0, false
	for _, b := range head {
		switch b {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				commas++
			}
		case ';':
			if !quoted {
				semis++
			}
		case '\n':
			if !quoted {
				if semis > commas {
					return ';'
				}
				return ','
			}
		}
	}
	if semis > commas {
		return ';'
	}
	return ','
}

func sheetError(file string, err error) error {
	if errors.Is(err, errLineTooLong) {
		return &RowError{File: file, Err: fmt.Errorf("%w: a line is longer than the limit", ErrCellTooLarge)}
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &RowError{File: file, Row: pe.StartLine, Err: fmt.Errorf("malformed CSV: %w", pe.Err)}
	}
	if errors.Is(err, io.EOF) {
		return &RowError{File: file, Err: ErrEmptySheet}
	}
	return fmt.Errorf("%s: %w", file, err)
}

var errLineTooLong = errors.New("line too long")

// lineGuard fails a read once a physical line grows past max bytes.
type lineGuard struct {
	r        io.Reader
	max      int
	cur      int // bytes of the current line so far
	line     int // current physical line, from 1
	tripLine int // the line that was too long
}

func (g *lineGuard) Read(p []byte) (int, error) {
	if g.tripLine > 0 {
		return 0, errLineTooLong
	}
	n, err := g.r.Read(p)
	for buf := p[:n]; ; {
		i := bytes.IndexByte(buf, '\n') // vectorised: a byte loop here was 7% of validating
		if i < 0 {
			if g.cur += len(buf); g.cur > g.max {
				g.tripLine = g.line
				return 0, errLineTooLong
			}
			return n, err
		}
		if g.cur+i > g.max {
			g.tripLine = g.line
			return 0, errLineTooLong
		}
		g.cur = 0
		g.line++
		buf = buf[i+1:]
	}
}

func validUTF8(s string) bool { return utf8.ValidString(s) }
