package batch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sheet reads a payroll sheet one record at a time, so memory does not
// grow with the number of rows.
type Sheet interface {
	// File is the sheet's file name, for messages.
	File() string
	// Mapping says which columns the sheet has.
	Mapping() *Mapping
	// Next returns the next data row. At the end it returns io.EOF. A
	// *RowError (or errors.Join of several) reports a bad row: the record
	// is still returned and reading may go on. Any other error is fatal.
	Next(ctx context.Context) (Record, error)
	// Close releases the file.
	Close() error
}

// ReadOptions control how sheets are read.
type ReadOptions struct {
	Columns        map[string]string // [sheet.columns]
	SheetName      string            // XLSX worksheet; "" for the first
	MaxRows        int               // data rows allowed; 0 for DefaultConfig's
	MaxCellSize    int               // bytes per cell; 0 for DefaultConfig's
	UnzipSizeLimit int64             // XLSX: total uncompressed bytes; 0 for 64 MiB
	// HeaderRow is the header's row as Excel numbers rows; 0 finds it: the
	// first of the top HeaderScanRows non-blank rows that maps (a title
	// row above the header is skipped).
	HeaderRow int
}

func (o *ReadOptions) defaults() {
	d := DefaultConfig()
	if o.MaxRows <= 0 {
		o.MaxRows = d.Sheet.MaxRows
	}
	if o.MaxCellSize <= 0 {
		o.MaxCellSize = d.Sheet.MaxCellSize
	}
	if o.UnzipSizeLimit <= 0 {
		o.UnzipSizeLimit = 64 << 20
	}
}

// ReadOptionsFor builds ReadOptions from the config.
func ReadOptionsFor(cfg *Config, sheetName string) ReadOptions {
	return ReadOptions{
		Columns:     cfg.Sheet.Columns,
		SheetName:   sheetName,
		MaxRows:     cfg.Sheet.MaxRows,
		MaxCellSize: cfg.Sheet.MaxCellSize,
		HeaderRow:   cfg.Sheet.HeaderRow,
	}
}

// OpenSheet opens a .csv or .xlsx file by its extension.
func OpenSheet(path string, opts ReadOptions) (Sheet, error) {
	name := filepath.Base(path)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, &RowError{File: name, Err: ErrDirectory}
	}
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".csv" && ext != ".xlsx" {
		return nil, &RowError{File: name, Err: ErrUnsupportedFile, Value: ext}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open sheet: %w", err)
	}
	var s Sheet
	if ext == ".csv" {
		s, err = NewCSVSheet(f, name, opts)
	} else {
		s, err = NewXLSXSheet(f, name, opts)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileSheet{Sheet: s, f: f}, nil
}

type fileSheet struct {
	Sheet
	f *os.File
}

// rowsHint is the sheet's, if it can estimate its rows.
func (s *fileSheet) rowsHint() int {
	if h, ok := s.Sheet.(rowsHinter); ok {
		return h.rowsHint()
	}
	return 0
}

func (s *fileSheet) Close() error {
	err := s.Sheet.Close()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// recordFrom fills a Record from a row of cells using the mapping and
// checks what every reader must: UTF-8 and cell size.
func recordFrom(file string, row int, cells []string, m *Mapping, maxCell int) (Record, error) {
	rec := Record{Row: row}
	var errs []error
	for c := Column(0); c < numColumns; c++ {
		i := m.index[c]
		if i < 0 || i >= len(cells) {
			continue
		}
		v := cells[i]
		switch {
		case len(v) > maxCell:
			errs = append(errs, &RowError{File: file, Row: row, Column: c.String(), Err: fmt.Errorf("%w (%d bytes; limit %d, sheet.max_cell_bytes)", ErrCellTooLarge, len(v), maxCell)})
			continue
		case !validUTF8(v):
			errs = append(errs, &RowError{File: file, Row: row, Column: c.String(), Err: ErrNotUTF8})
			continue
		}
		rec.Cells[c] = v
	}
	for k, i := range m.extra {
		if i >= len(cells) || strings.TrimSpace(cells[i]) == "" {
			continue
		}
		v := cells[i]
		col := strings.TrimSpace(m.headers[i])
		switch {
		case len(v) > maxCell:
			errs = append(errs, &RowError{File: file, Row: row, Column: col, Err: fmt.Errorf("%w (%d bytes; limit %d, sheet.max_cell_bytes)", ErrCellTooLarge, len(v), maxCell)})
			continue
		case !validUTF8(v):
			errs = append(errs, &RowError{File: file, Row: row, Column: col, Err: ErrNotUTF8})
			continue
		}
		// Control characters (a line break in a note) are kept: nothing
		// here is sent, and the reports replace them (reports.clean).
		if rec.Extra == nil {
			rec.Extra = make([]string, len(m.extra))
		}
		rec.Extra[k] = strings.TrimSpace(v)
	}
	return rec, joinErrors(errs)
}

// blank reports whether every cell of a mapped column is blank (cells of
// columns the sheet does not use do not count).
func (m *Mapping) blank(cells []string) bool {
	for _, i := range m.index {
		if i >= 0 && i < len(cells) && strings.TrimSpace(cells[i]) != "" {
			return false
		}
	}
	return true
}

func blankRow(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}
