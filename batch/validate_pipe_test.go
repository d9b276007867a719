package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// mixedSheet writes n rows with problems spread over many pipeline
// batches: duplicate references and payments at various distances,
// invalid phones and amounts, rows without references, ragged rows.
func mixedSheet(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintln(&b, "reference,name,phone,amount,currency")
	for i := range n {
		ref := fmt.Sprintf("EMP%05d", i)
		phone := fmt.Sprintf("0712%06d", i)
		amount := fmt.Sprint(1000 + i%50)
		switch {
		case i%97 == 5:
			ref = fmt.Sprintf("EMP%05d", i-300) // duplicate reference, batches apart
		case i%89 == 7:
			ref, phone, amount = "", fmt.Sprintf("0712%06d", i-1), fmt.Sprint(1000+(i-1)%50) // same payee as the row before
		case i%83 == 3:
			ref = "" // derived reference
		case i%71 == 1:
			phone = "0201234567" // landline
		case i%67 == 2:
			amount = "12.5.0"
		case i%61 == 4:
			fmt.Fprintf(&b, "%s,only three,cells\n", ref)
			continue
		}
		fmt.Fprintf(&b, "%s,Employee %d,%s,%s,KES\n", ref, i, phone, amount)
	}
	return b.Bytes()
}

// validateSequential runs read, check and finish on one goroutine: the
// reference for the pipeline.
func validateSequential(t *testing.T, s Sheet, cfg *Config) *Validation {
	v := newValidator(s, cfg, ValidateOptions{})
	defer v.refs.free()
	defer v.payees.free()
	readSheet(t.Context(), s, make(chan []rowItem), func(b []rowItem) bool {
		for i := range b {
			it := &b[i]
			switch it.kind {
			case itemFatal:
				t.Fatalf("fatal: %v", it.err)
			case itemEnd:
				v.out.Errors = append(v.out.Errors, it.readErrs...)
			case itemWhole:
				v.out.Rows++
				v.out.Errors = append(v.out.Errors, it.readErrs...)
				v.out.Invalid = append(v.out.Invalid, invalidRow(&it.rec, &Line{Row: it.rec.Row}, "", it.readErrs))
			case itemRow:
				v.out.Rows++
				v.check(it)
				v.finish(it)
			}
		}
		return true
	})
	return v.out
}

func TestPipelineMatchesSequential(t *testing.T) {
	data := mixedSheet(5000)
	cfg := DefaultConfig()
	open := func() Sheet {
		s, err := NewCSVSheet(bytes.NewReader(data), "mixed.csv", ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := validateSequential(t, open(), &cfg)
	// The same sheet from a file: the reader estimates its rows and the
	// indexes are sized by that, which must change nothing.
	path := filepath.Join(t.TempDir(), "mixed.csv")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		var got *Validation
		var err error
		if i == 3 {
			got, err = ValidateFileWith(t.Context(), path, &cfg, ValidateOptions{})
		} else {
			got, err = Validate(t.Context(), open(), &cfg)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got.Rows != want.Rows || got.Valid != want.Valid || len(got.Errors) < 100 {
			t.Fatalf("rows %d valid %d errors %d; sequential rows %d valid %d errors %d", got.Rows, got.Valid, len(got.Errors), want.Rows, want.Valid, len(want.Errors))
		}
		if d := cmp.Diff(errorTexts(want.Errors), errorTexts(got.Errors)); d != "" {
			t.Fatalf("errors differ (-sequential +pipeline):\n%s", d)
		}
		if d := cmp.Diff(want.Invalid, got.Invalid); d != "" {
			t.Fatalf("invalid rows differ:\n%s", d)
		}
		if d := cmp.Diff(want.Lines, got.Lines); d != "" {
			t.Fatalf("lines differ:\n%s", d)
		}
	}
}

// TestRowsHint: a CSV file's rows are estimated from its first rows'
// bytes; a reader without a size gives none.
func TestRowsHint(t *testing.T) {
	data := mixedSheet(20000)
	path := filepath.Join(t.TempDir(), "mixed.csv")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSheet(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range hintAfter {
		if _, err := s.Next(t.Context()); err != nil && !isRowError(err) {
			t.Fatal(err)
		}
	}
	if h := s.(rowsHinter).rowsHint(); h < 19000 || h > 21000 {
		t.Errorf("rowsHint %d, want about 20000", h)
	}
	capped, err := OpenSheet(path, ReadOptions{MaxRows: 10000})
	if err != nil {
		t.Fatal(err)
	}
	defer capped.Close()
	for range hintAfter {
		capped.Next(t.Context())
	}
	if h := capped.(rowsHinter).rowsHint(); h != 10000 {
		t.Errorf("rowsHint %d past sheet.max_rows 10000", h)
	}
	r, err := NewCSVSheet(bytes.NewReader(data), "mixed.csv", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range hintAfter {
		r.Next(t.Context())
	}
	if h := r.(rowsHinter).rowsHint(); h != 0 {
		t.Errorf("rowsHint %d without a size", h)
	}
}

func isRowError(err error) bool { _, ok := rowErrors(err); return ok }

// failingSheet returns rows, then a fatal error, or blocks until canceled.
type failingSheet struct {
	Sheet
	n, failAt int
	block     bool
}

var errDisk = errors.New("disk on fire")

func (s *failingSheet) Next(ctx context.Context) (Record, error) {
	if s.n++; s.n == s.failAt {
		if s.block {
			<-ctx.Done()
			return Record{}, ctx.Err()
		}
		return Record{}, errDisk
	}
	return s.Sheet.Next(ctx)
}

// TestPipelineStops: a fatal read error or a cancellation ends Validate
// with that error, and no goroutine is left reading the sheet.
func TestPipelineStops(t *testing.T) {
	data := mixedSheet(5000)
	cfg := DefaultConfig()
	before := runtime.NumGoroutine()
	for _, tc := range []struct {
		name   string
		failAt int
		block  bool
		want   error
	}{
		{"fatal error early", 10, false, errDisk},
		{"fatal error late", 4000, false, errDisk},
		{"canceled", 3000, true, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewCSVSheet(bytes.NewReader(data), "mixed.csv", ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.block {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			v, err := Validate(ctx, &failingSheet{Sheet: s, failAt: tc.failAt, block: tc.block}, &cfg)
			if !errors.Is(err, tc.want) || v != nil {
				t.Fatalf("Validate = %v, %v; want nil, %v", v, err, tc.want)
			}
		})
	}
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines before, %d after", before, runtime.NumGoroutine())
}
