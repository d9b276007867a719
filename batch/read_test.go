package batch

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/xuri/excelize/v2"
)

func TestOpenSheetErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	twoSheets := buildXLSX(t, []string{"phone", "amount"}, [][]any{{"0712345678", 1500}}, func(f *excelize.File) error {
		if _, err := f.NewSheet("TZ"); err != nil {
			return err
		}
		return firstErr(f.SetCellValue("TZ", "A1", "phone"), f.SetCellValue("TZ", "B1", "amount"), f.SetCellValue("TZ", "C1", "currency"),
			f.SetCellValue("TZ", "A2", "0654123456"), f.SetCellValue("TZ", "B2", 5000), f.SetCellValue("TZ", "C2", "TZS"))
	})
	tests := []struct {
		name  string
		path  string
		sheet string
		err   error
	}{
		{name: "xls is not supported", path: write("old.xls", []byte("x")), err: ErrUnsupportedFile},
		{name: "no extension", path: write("payroll", []byte("phone,amount\n")), err: ErrUnsupportedFile},
		{name: "missing worksheet", path: write("two.xlsx", twoSheets), sheet: "Payroll", err: ErrSheetNotFound},
		{name: "CSV with an XLSX extension", path: write("csv.xlsx", []byte("phone,amount\n0712345678,1500\n")), err: ErrXLSX},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenSheet(tt.path, ReadOptions{SheetName: tt.sheet})
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("OpenSheet = %v, want %v", err, tt.err)
			}
			if _, ok := errors.AsType[*RowError](err); !ok {
				t.Errorf("%v is not a *RowError", err)
			}
		})
	}
	if _, err := OpenSheet(filepath.Join(dir, "missing.csv"), ReadOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	t.Run("named worksheet", func(t *testing.T) {
		cfg := DefaultConfig()
		v, err := ValidateFile(t.Context(), filepath.Join(dir, "two.xlsx"), &cfg, "TZ")
		if err != nil || len(v.Errors) != 1 || !errors.Is(v.Errors[0], ErrNames) {
			t.Fatalf("ValidateFile(sheet TZ) = %v, %v; want only the TZS names error", v.Errors, err)
		}
	})
}

func TestSheetCancel(t *testing.T) {
	for _, name := range []string{"xlsx-valid.xlsx", "bom.csv"} {
		t.Run(name, func(t *testing.T) {
			s, err := OpenSheet(filepath.Join(malformedDir, name), ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithCancel(t.Context())
			if _, err := s.Next(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
			if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Next after cancel = %v", err)
			}
			cfg := DefaultConfig()
			if _, err := Validate(ctx, s, &cfg); !errors.Is(err, context.Canceled) {
				t.Fatalf("Validate after cancel = %v, want context.Canceled as the error result", err)
			}
		})
	}
}

func TestCSVRecords(t *testing.T) {
	tests := []struct {
		name string
		csv  string
		rows []int    // row of each record
		amts []string // amount cell of each record
	}{
		{name: "blank lines keep numbering", csv: "phone,amount\n0712345678,1\n\n\n0712345679,2\n", rows: []int{2, 5}, amts: []string{"1", "2"}},
		{name: "blank rows of commas are skipped", csv: "phone,amount\n,\n0712345678,1\n", rows: []int{3}, amts: []string{"1"}},
		{name: "CRLF", csv: "phone,amount\r\n0712345678,1\r\n0712345679,2\r\n", rows: []int{2, 3}, amts: []string{"1", "2"}},
		{name: "no final newline", csv: "phone,amount\n0712345678,1", rows: []int{2}, amts: []string{"1"}},
		{name: "multi-line cell", csv: "name,phone,amount\n\"a\nb\nc\",0712345678,1\nd,0712345679,2\n", rows: []int{2, 3}, amts: []string{"1", "2"}},
		{name: "multi-line cells in the middle and last", csv: "phone,name,amount,note\n0712345678,\"a\nb\",1,\"x\n\ny\"\n0712345679,d,2,\"\r\n\"\n\n0712345670,e,3,z\n", rows: []int{2, 3, 5}, amts: []string{"1", "2", "3"}},
		{name: "multi-line cells with CRLF", csv: "phone,name,amount\r\n0712345678,\"a\r\nb\",1\r\n0712345679,c,\"2\"\r\n", rows: []int{2, 3}, amts: []string{"1", "2"}},
		{name: "semicolons with commas in cells", csv: "phone;amount\n0712345678;1,500.00\n", rows: []int{2}, amts: []string{"1,500.00"}},
		{name: "BOM", csv: "\ufeffamount,phone\n1,0712345678\n", rows: []int{2}, amts: []string{"1"}},
		{name: "unmapped columns ignored", csv: "x,phone,y,amount,z\n1,0712345678,2,3,4\n", rows: []int{2}, amts: []string{"3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewCSVSheet(strings.NewReader(tt.csv), "r.csv", ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var rows []int
			var amts []string
			for {
				rec, err := s.Next(t.Context())
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				rows = append(rows, rec.Row)
				amts = append(amts, rec.Get(ColAmount))
			}
			if strings.Join(amts, "|") != strings.Join(tt.amts, "|") || len(rows) != len(tt.rows) {
				t.Fatalf("rows %v amounts %q, want %v %q", rows, amts, tt.rows, tt.amts)
			}
			for i := range rows {
				if rows[i] != tt.rows[i] {
					t.Fatalf("rows %v, want %v", rows, tt.rows)
				}
			}
		})
	}
}

// TestLineGuard: a line of exactly max bytes passes and one more byte
// trips the guard on that line, however the reads are cut.
func TestLineGuard(t *testing.T) {
	const max = 10
	for _, c := range []struct {
		in   string
		trip int // 0: no trip
	}{
		{"aaaaaaaaaa\nbbbbbbbbbb\n", 0},
		{"aaaaaaaaaa\nbbbbbbbbbbb\ncc\n", 2},
		{"a\nb\nc\naaaaaaaaaaa", 4},
		{"aaaaaaaaaaa", 1},
		{"\n\n\n", 0},
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(c.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			g := &lineGuard{r: r, max: max, line: 1}
			_, err := io.ReadAll(g)
			switch {
			case c.trip == 0 && err != nil:
				t.Errorf("%q (one byte %v): %v", c.in, oneByte, err)
			case c.trip > 0 && (!errors.Is(err, errLineTooLong) || g.tripLine != c.trip):
				t.Errorf("%q (one byte %v): %v on line %d, want a trip on line %d", c.in, oneByte, err, g.tripLine, c.trip)
			}
		}
	}
}
