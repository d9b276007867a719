package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func sinkSheet(t *testing.T) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString("reference,name,phone,amount,currency,Department\n")
	for i := range 40 {
		phone := fmt.Sprintf("0712%06d", 100000+i)
		amount := fmt.Sprint(1000 + i)
		switch i {
		case 5:
			phone = "bad"
		case 21: // twin of row 22's line (i = 20)
			phone, amount = "0712100020", "1020"
		}
		fmt.Fprintf(&b, "E%02d,Worker %d,%s,%s,KES,D%d\n", i, i, phone, amount, i%3)
	}
	return []byte(b.String())
}

func validateBytes(t *testing.T, data []byte, opts ValidateOptions) (*Validation, error) {
	t.Helper()
	s, err := NewCSVSheet(bytes.NewReader(data), "s.csv", ReadOptions{MaxRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := DefaultConfig()
	return ValidateWith(context.Background(), s, &cfg, opts)
}

// TestValidateMaxLinesAndSink: past MaxLines the lines are dropped but the
// totals, counts, errors and twin rows are those of the held validation;
// OnLine sees exactly the held lines, in order; its error stops it.
func TestValidateMaxLinesAndSink(t *testing.T) {
	data := sinkSheet(t)
	held, err := validateBytes(t, data, ValidateOptions{})
	if err != nil || held.LinesDropped || len(held.Lines) != 39 {
		t.Fatalf("held: %d lines, dropped %v, %v", len(held.Lines), held.LinesDropped, err)
	}
	if !reflect.DeepEqual(held.TwinRows, []int{22, 23}) {
		t.Errorf("twin rows %v, want [22 23]", held.TwinRows)
	}
	capped, err := validateBytes(t, data, ValidateOptions{MaxLines: 10})
	if err != nil || !capped.LinesDropped || capped.Lines != nil {
		t.Fatalf("capped: %d lines, dropped %v, %v", len(capped.Lines), capped.LinesDropped, err)
	}
	if !reflect.DeepEqual(capped.Totals(), held.Totals()) || capped.Valid != held.Valid || len(capped.Invalid) != len(held.Invalid) ||
		!reflect.DeepEqual(capped.TwinRows, held.TwinRows) || len(capped.Errors) != len(held.Errors) {
		t.Errorf("capped validation differs: totals %v / %v, valid %d / %d", capped.Totals(), held.Totals(), capped.Valid, held.Valid)
	}
	var got []Line
	if _, err := validateBytes(t, data, ValidateOptions{OnLine: func(l *Line) error {
		got = append(got, *l)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, held.Lines) {
		t.Errorf("OnLine saw %d lines, not the held ones", len(got))
	}
	stop := errors.New("stop")
	n := 0
	if _, err := validateBytes(t, data, ValidateOptions{OnLine: func(*Line) error { n++; return stop }}); !errors.Is(err, stop) || n != 1 {
		t.Errorf("a failing OnLine: %v after %d lines, want its error after 1", err, n)
	}
}
