package batch

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMapHeader(t *testing.T) {
	type rowErr struct {
		Column string
		Err    error
	}
	tests := []struct {
		name    string
		headers []string
		custom  map[string]string
		want    map[Column]int // columns found, by position; every other column absent
		errs    []rowErr
	}{
		{
			name:    "canonical names",
			headers: []string{"reference", "name", "phone", "amount", "currency"},
			want:    map[Column]int{ColReference: 0, ColName: 1, ColPhone: 2, ColAmount: 3, ColCurrency: 4},
		},
		{
			name:    "aliases",
			headers: []string{"Staff No", "Employee Name", "MSISDN", "Net Pay", "CCY", "Remarks"},
			want:    map[Column]int{ColReference: 0, ColName: 1, ColPhone: 2, ColAmount: 3, ColCurrency: 4, ColDescription: 5},
		},
		{
			name:    "case, spaces, underscores and dashes",
			headers: []string{"FIRST NAME", "last-name", "Phone_Number", " AMOUNT ", "Paybill Account Number", "paybill-number", "Service.Code"},
			want:    map[Column]int{ColFirstName: 0, ColLastName: 1, ColPhone: 2, ColAmount: 3, ColPaybillAccount: 4, ColPaybillNumber: 5, ColServiceCode: 6},
		},
		{
			name:    "BOM on the first header",
			headers: []string{"\ufeffreference", "phone", "amount"},
			want:    map[Column]int{ColReference: 0, ColPhone: 1, ColAmount: 2},
		},
		{
			name:    "unknown and empty headers are ignored",
			headers: []string{"", "Pay Period", "phone", "amount", "Notes"},
			want:    map[Column]int{ColPhone: 2, ColAmount: 3},
		},
		{
			name:    "[sheet.columns] maps own headers",
			headers: []string{"Staff Number", "M-Pesa Line", "Take Home"},
			custom:  map[string]string{"reference": "Staff Number", "phone": "m-pesa line", "amount": "TAKE HOME"},
			want:    map[Column]int{ColReference: 0, ColPhone: 1, ColAmount: 2},
		},
		{
			name:    "[sheet.columns] wins over an alias of the same column",
			headers: []string{"phone", "Amount", "Net Pay"},
			custom:  map[string]string{"amount": "Net Pay"},
			want:    map[Column]int{ColPhone: 0, ColAmount: 2},
		},
		{
			name:    "[sheet.columns] takes a header that is another column's alias",
			headers: []string{"phone", "Reference", "Amount"},
			custom:  map[string]string{"description": "Reference", "reference": "phone"},
			want:    map[Column]int{ColReference: 0, ColDescription: 1, ColAmount: 2},
			errs:    []rowErr{{"", ErrNoDestination}},
		},
		{
			name:    "[sheet.columns] canonical names in any case",
			headers: []string{"Tel", "Pay"},
			custom:  map[string]string{"Amount": "Pay"},
			want:    map[Column]int{ColPhone: 0, ColAmount: 1},
		},
		{
			name:    "unknown canonical in [sheet.columns]",
			headers: []string{"phone", "amount", "Salary"},
			custom:  map[string]string{"salary": "Salary"},
			want:    map[Column]int{ColPhone: 0, ColAmount: 1},
			errs:    []rowErr{{"salary", ErrUnknownCanon}},
		},
		{
			name:    "mapped header missing from the sheet",
			headers: []string{"phone", "amount"},
			custom:  map[string]string{"reference": "Staff No"},
			want:    map[Column]int{ColPhone: 0, ColAmount: 1},
			errs:    []rowErr{{"reference", ErrUnknownMapping}},
		},
		{
			name:    "duplicate columns",
			headers: []string{"phone", "Mobile", "amount", "Net Pay", "amount"},
			want:    map[Column]int{ColPhone: 0, ColAmount: 2},
			errs:    []rowErr{{"phone", ErrDuplicateColumn}, {"amount", ErrDuplicateColumn}, {"amount", ErrDuplicateColumn}},
		},
		{
			name:    "missing amount",
			headers: []string{"reference", "phone"},
			want:    map[Column]int{ColReference: 0, ColPhone: 1},
			errs:    []rowErr{{"amount", ErrMissingColumn}},
		},
		{
			name:    "no destination column",
			headers: []string{"reference", "name", "amount"},
			want:    map[Column]int{ColReference: 0, ColName: 1, ColAmount: 2},
			errs:    []rowErr{{"", ErrNoDestination}},
		},
		{
			name:    "any destination column will do",
			headers: []string{"till", "amount"},
			want:    map[Column]int{ColTillNumber: 0, ColAmount: 1},
		},
		{
			name:    "empty header row",
			headers: []string{"", ""},
			want:    map[Column]int{},
			errs:    []rowErr{{"amount", ErrMissingColumn}, {"", ErrNoDestination}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := MapHeader("pay.csv", tt.headers, tt.custom)
			got := map[Column]int{}
			for c := Column(0); c < numColumns; c++ {
				if m.Has(c) {
					got[c] = m.Index(c)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mapping (-want +got):\n%s", diff)
			}
			var gotErrs []rowErr
			for _, e := range Unjoin(err) {
				re, ok := errors.AsType[*RowError](e)
				if !ok || re.Row != 1 || re.File != "pay.csv" {
					t.Errorf("error %v: want a *RowError on row 1 of pay.csv", e)
					continue
				}
				gotErrs = append(gotErrs, rowErr{re.Column, re.Err})
			}
			if diff := cmp.Diff(tt.errs, gotErrs, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMappingHeader(t *testing.T) {
	m, err := MapHeader("pay.csv", []string{"Staff No", "Phone", "Net Pay"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header(ColAmount) != "Net Pay" || m.Header(ColName) != "" || m.Width() != 3 {
		t.Errorf("Header(amount) = %q, Header(name) = %q, Width = %d", m.Header(ColAmount), m.Header(ColName), m.Width())
	}
	for c := Column(0); c < numColumns; c++ {
		if got, ok := ParseColumn(c.String()); !ok || got != c {
			t.Errorf("ParseColumn(%q) = %v, %v", c.String(), got, ok)
		}
	}
	if _, ok := ParseColumn("salary"); ok {
		t.Error("ParseColumn(salary) ok")
	}
}
