package batch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadCSV: any bytes, read and validated, never panic, and every
// problem is a *RowError with a row number (0 for the whole sheet).
func FuzzReadCSV(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(malformedDir, "*.csv"))
	for _, path := range seeds {
		if b, err := os.ReadFile(path); err == nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Add([]byte("amount;phone\n1500;0712345678\n"))
	f.Add([]byte("\ufeffphone,amount\n\"0712\n345678\",\"1,500\"\n"))
	f.Add([]byte("phone,amount\n0712345678,1500\n0712345678,1500,\n\"\n"))
	cfg := DefaultConfig()
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := NewCSVSheet(bytes.NewReader(data), "f.csv", ReadOptions{MaxRows: 1000})
		if err != nil {
			checkRowErrors(t, err)
			return
		}
		defer s.Close()
		v, err := Validate(context.Background(), s, &cfg)
		if err != nil {
			t.Fatalf("Validate: %v (want problems in Validation.Errors)", err)
		}
		for _, e := range v.Errors {
			checkRowErrors(t, e)
		}
		if len(v.Lines)+len(v.Invalid) != v.Rows {
			t.Fatalf("%d lines + %d invalid != %d rows", len(v.Lines), len(v.Invalid), v.Rows)
		}
	})
}

// FuzzReadXLSX: any bytes as a workbook never panic (excelize panics are
// recovered into errors) and every problem is a *RowError.
func FuzzReadXLSX(f *testing.F) {
	for _, name := range []string{"xlsx-valid.xlsx", "xlsx-float-noise.xlsx", "xlsx-date-amount.xlsx", "xlsx-formulas.xlsx"} {
		b, err := os.ReadFile(filepath.Join(malformedDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("PK\x03\x04"))
	cfg := DefaultConfig()
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := NewXLSXSheet(bytes.NewReader(data), "f.xlsx", ReadOptions{MaxRows: 1000, UnzipSizeLimit: 16 << 20})
		if err != nil {
			checkRowErrors(t, err)
			return
		}
		defer s.Close()
		v, err := Validate(context.Background(), s, &cfg)
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		for _, e := range v.Errors {
			checkRowErrors(t, e)
		}
	})
}

func checkRowErrors(t *testing.T, err error) {
	t.Helper()
	for _, e := range Unjoin(err) {
		if errors.Is(e, io.EOF) {
			t.Fatalf("io.EOF leaked as a problem: %v", e)
		}
		re, ok := errors.AsType[*RowError](e)
		if !ok {
			t.Fatalf("error %v (%T) is not a *RowError", e, e)
		}
		if re.Row < 0 || re.Err == nil {
			t.Fatalf("bad RowError %+v", re)
		}
	}
}
