package batch

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

type xlsxSheet struct {
	file    string
	opts    ReadOptions
	wb      *excelize.File
	sheet   string
	raw     *excelize.Rows // cell values as stored
	shown   *excelize.Rows // the same rows, formatted as Excel shows them
	mapping *Mapping
	row     int // current row number (1-based, as Excel shows it)
	rows    int // data rows returned
	done    bool
}

// NewXLSXSheet reads the first worksheet (or opts.SheetName) of an XLSX
// workbook. It streams with excelize's Rows and reads numbers raw, taken at
// 15 significant digits as Excel shows them (1499.9999999999998 is 1500;
// 1500.005 keeps its third decimal and is rejected). A formula is read by
// its cached value. The uncompressed size is limited (zip bombs) and any
// panic inside the library becomes an error.
func NewXLSXSheet(r io.Reader, name string, opts ReadOptions) (s Sheet, err error) {
	opts.defaults()
	defer recoverXLSX(name, &err)
	data, err := io.ReadAll(io.LimitReader(r, 2*opts.UnzipSizeLimit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > 2*opts.UnzipSizeLimit {
		return nil, &RowError{File: name, Err: fmt.Errorf("%w: the file is larger than %d bytes", ErrXLSX, 2*opts.UnzipSizeLimit)}
	}
	if err := checkZip(data, opts.UnzipSizeLimit); err != nil {
		return nil, &RowError{File: name, Err: fmt.Errorf("%w: %w", ErrXLSX, err)}
	}
	wb, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		UnzipSizeLimit:    opts.UnzipSizeLimit,
		UnzipXMLSizeLimit: min(opts.UnzipSizeLimit, 16<<20),
	})
	if err != nil {
		return nil, &RowError{File: name, Err: fmt.Errorf("%w: %w", ErrXLSX, err)}
	}
	xs := &xlsxSheet{file: name, opts: opts, wb: wb}
	defer func() {
		if err != nil {
			xs.Close()
		}
	}()
	list := wb.GetSheetList()
	switch {
	case opts.SheetName != "":
		xs.sheet = opts.SheetName
		found := false
		for _, n := range list {
			found = found || n == opts.SheetName
		}
		if !found {
			return nil, &RowError{File: name, Value: opts.SheetName, Err: fmt.Errorf("%w; the workbook's worksheets are %s", ErrSheetNotFound, worksheetList(list))}
		}
	case len(list) == 0:
		return nil, &RowError{File: name, Err: ErrEmptySheet}
	default:
		xs.sheet = list[0]
	}
	if xs.raw, err = wb.Rows(xs.sheet); err != nil {
		return nil, &RowError{File: name, Err: fmt.Errorf("%w: %w", ErrXLSX, err)}
	}
	if xs.shown, err = wb.Rows(xs.sheet); err != nil {
		return nil, &RowError{File: name, Err: fmt.Errorf("%w: %w", ErrXLSX, err)}
	}
	var cands []headerCandidate
	for len(cands) < HeaderScanRows {
		cells, _, ok, err := xs.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if blankRow(cells) {
			continue
		}
		for _, h := range cells {
			if len(h) > opts.MaxCellSize {
				return nil, &RowError{File: name, Row: xs.row, Err: ErrCellTooLarge}
			}
		}
		cands = append(cands, headerCandidate{row: xs.row, cells: cells})
		if opts.HeaderRow > 0 {
			if xs.row >= opts.HeaderRow {
				break
			}
			continue
		}
		if _, err := MapHeader(name, cells, opts.Columns); err == nil {
			break
		}
	}
	if len(cands) == 0 {
		return nil, &RowError{File: name, Err: ErrEmptySheet}
	}
	// Rows keep the numbers Excel shows, wherever the header is.
	if _, xs.mapping, err = headerChoice(name, cands, opts.HeaderRow, opts.Columns); err != nil {
		return nil, err
	}
	return xs, nil
}

// checkZip inflates every entry of the workbook once, without keeping it,
// and fails if an entry is larger than its header says or fails its
// checksum. excelize trusts the declared sizes and ignores inflate errors,
// so a damaged or hostile file would otherwise be read truncated: the first
// rows of a sheet, silently, as if they were all of it. The declared sizes
// are summed first, so at most limit bytes are inflated. Data that is not a
// zip at all is left for excelize to report.
func checkZip(data []byte, limit int64) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > uint64(limit) {
			return fmt.Errorf("unzip size exceeds the %d bytes limit", limit)
		}
	}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err == nil && uint64(n) != f.UncompressedSize64 {
			err = zip.ErrFormat
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return nil
}

// next advances both iterators by one row.
func (s *xlsxSheet) next() (raw, shown []string, ok bool, err error) {
	if !s.raw.Next() {
		if err := s.raw.Error(); err != nil {
			return nil, nil, false, &RowError{File: s.file, Row: s.row + 1, Err: fmt.Errorf("%w: %w", ErrXLSX, err)}
		}
		return nil, nil, false, nil
	}
	s.shown.Next()
	s.row++
	if raw, err = s.raw.Columns(excelize.Options{RawCellValue: true}); err != nil {
		return nil, nil, false, &RowError{File: s.file, Row: s.row, Err: fmt.Errorf("%w: %w", ErrXLSX, err)}
	}
	if shown, err = s.shown.Columns(); err != nil {
		return nil, nil, false, &RowError{File: s.file, Row: s.row, Err: fmt.Errorf("%w: %w", ErrXLSX, err)}
	}
	return raw, shown, true, nil
}

func (s *xlsxSheet) File() string      { return s.file }
func (s *xlsxSheet) Mapping() *Mapping { return s.mapping }

func (s *xlsxSheet) Close() error {
	if s.raw != nil {
		s.raw.Close()
	}
	if s.shown != nil {
		s.shown.Close()
	}
	return s.wb.Close()
}

func (s *xlsxSheet) Next(ctx context.Context) (rec Record, err error) {
	defer recoverXLSX(s.file, &err)
	for {
		if s.done {
			return Record{}, io.EOF
		}
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
		raw, shown, ok, err := s.next()
		if err != nil {
			s.done = true
			return Record{}, err
		}
		if !ok {
			s.done = true
			return Record{}, io.EOF
		}
		if blankRow(raw) {
			continue
		}
		if s.rows++; s.rows > s.opts.MaxRows {
			s.done = true
			return Record{}, &RowError{File: s.file, Row: s.row, Err: fmt.Errorf("%w: more than %d rows", ErrTooManyRows, s.opts.MaxRows)}
		}
		var errs []error
		if i := s.mapping.Index(ColAmount); i >= 0 {
			if e := s.amountCell(raw, shown, i); e != nil {
				errs = append(errs, e)
			}
		}
		rec, err := recordFrom(s.file, s.row, raw, s.mapping, s.opts.MaxCellSize)
		if len(errs) > 0 {
			rec.Cells[ColAmount] = ""
			return rec, errors.Join(append(errs, err)...)
		}
		return rec, err
	}
}

// amountCell turns the raw amount cell into the number Excel shows, or
// reports a date, a formula without a cached value, or an exponent typed as
// text.
func (s *xlsxSheet) amountCell(raw, shown []string, i int) error {
	if i >= len(raw) {
		return nil
	}
	v := strings.TrimSpace(raw[i])
	var disp string
	if i < len(shown) {
		disp = strings.TrimSpace(shown[i])
	}
	fail := func(e error) error {
		return &RowError{File: s.file, Row: s.row, Column: ColAmount.String(), Value: shown_(disp, v), Err: e}
	}
	if v == "" {
		cell, _ := excelize.CoordinatesToCellName(i+1, s.row)
		if f, _ := s.wb.GetCellFormula(s.sheet, cell); f != "" {
			return fail(ErrFormulaNoValue)
		}
		return nil
	}
	num, isNum := excelNumber(v)
	if !isNum {
		return nil // text: ParseMoney judges it
	}
	if disp != v && looksLikeDate(disp) {
		return fail(ErrAmountDate)
	}
	if strings.ContainsAny(v, "eE") && disp == v {
		return nil // typed as text "1e3": ParseMoney rejects the exponent
	}
	raw[i] = num
	return nil
}

func shown_(disp, raw string) string {
	if disp != "" {
		return shown(disp)
	}
	return shown(raw)
}

var plainNumber = regexp.MustCompile(`^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$`)

// excelNumber reads a stored number and returns it as Excel shows it at
// full precision: rounded to 15 significant digits, in plain notation.
func excelNumber(v string) (string, bool) {
	if !plainNumber.MatchString(v) {
		return "", false
	}
	d, err := decimal.NewFromString(v)
	if err != nil {
		return "", false
	}
	if d.IsZero() {
		return "0", true
	}
	// Position of the most significant digit: 10^msd.
	msd := int32(d.NumDigits()) + d.Exponent() - 1
	if places := 15 - 1 - msd; places < -d.Exponent() {
		d = d.Round(places)
	}
	return d.String(), true
}

var dateLike = regexp.MustCompile(`(?i)[/:]|\d-\d|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|am|pm`)

func looksLikeDate(s string) bool { return dateLike.MatchString(s) }

func recoverXLSX(file string, err *error) {
	if p := recover(); p != nil {
		*err = &RowError{File: file, Err: fmt.Errorf("%w: the XLSX library failed: %v", ErrXLSX, p)}
	}
}
