package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestParseMoney(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // Money.String() when accepted
		err  error
	}{
		{name: "whole", in: "1000", want: "1000.00"},
		{name: "thousands and cents", in: "1,000.50", want: "1000.50"},
		{name: "millions", in: "1,234,567.89", want: "1234567.89"},
		{name: "surrounding spaces", in: " 12.5 ", want: "12.50"},
		{name: "tab and newline", in: "\t5\n", want: "5.00"},
		{name: "non-breaking space", in: "\u00a0750\u00a0", want: "750.00"},
		{name: "one cent", in: "0.01", want: "0.01"},
		{name: "two zero decimals", in: "1500.00", want: "1500.00"},
		{name: "leading zeros", in: "0001500", want: "1500.00"},
		{name: "twelve digits", in: "999999999999.99", want: "999999999999.99"},

		{name: "empty", in: "", err: ErrAmountEmpty},
		{name: "only spaces", in: "   ", err: ErrAmountEmpty},
		{name: "exponent", in: "1e3", err: ErrAmountExponent},
		{name: "exponent upper with sign", in: "1E+3", err: ErrAmountExponent},
		{name: "exponent with fraction", in: "1.5e3", err: ErrAmountExponent},
		{name: "negative exponent", in: "2E-2", err: ErrAmountExponent},
		{name: "plus", in: "+12", err: ErrAmountSign},
		{name: "minus", in: "-12", err: ErrAmountSign},
		{name: "unicode minus", in: "−12", err: ErrAmountSign},
		{name: "accounting negative", in: "(12)", err: ErrAmountSign},
		{name: "trailing minus", in: "12-", err: ErrAmountSign},
		{name: "NaN", in: "NaN", err: ErrAmountNaN},
		{name: "Inf", in: "Inf", err: ErrAmountNaN},
		{name: "Infinity", in: "-Infinity", err: ErrAmountNaN},
		{name: "currency code", in: "KES 100", err: ErrAmountSymbol},
		{name: "KSh prefix", in: "KSh100", err: ErrAmountSymbol},
		{name: "dollar", in: "$5", err: ErrAmountSymbol},
		{name: "euro", in: "€5", err: ErrAmountSymbol},
		{name: "words", in: "one thousand", err: ErrAmountSymbol},
		{name: "bad group of two", in: "1,00", err: ErrAmountFormat},
		{name: "bad group of four", in: "12,3456", err: ErrAmountFormat},
		{name: "indian grouping", in: "1,50,000", err: ErrAmountFormat},
		{name: "leading comma", in: ",100", err: ErrAmountFormat},
		{name: "decimal comma", in: "1500,50", err: ErrAmountFormat},
		{name: "space grouping", in: "1 000", err: ErrAmountFormat},
		{name: "point without decimals", in: "1.", err: ErrAmountFormat},
		{name: "point without units", in: ".5", err: ErrAmountFormat},
		{name: "two points", in: "12.3.", err: ErrAmountFormat},
		{name: "fullwidth digits", in: "１２", err: ErrAmountFormat},
		{name: "kenyan slash-equals", in: "1500/=", err: ErrAmountFormat},
		{name: "three decimals", in: "12.345", err: ErrAmountPrecision},
		{name: "three zero decimals", in: "1500.000", err: ErrAmountPrecision},
		{name: "zero", in: "0", err: ErrAmountNotPositive},
		{name: "zero with cents", in: "0.00", err: ErrAmountNotPositive},
		{name: "formula", in: "=1000/3", err: ErrAmountFormula},
		{name: "formula with spaces", in: " =SUM(A1:A3)", err: ErrAmountFormula},
		{name: "thirteen digits", in: "1234567890123", err: ErrAmountTooLarge},
		{name: "thirteen digits grouped", in: "1,234,567,890,123.00", err: ErrAmountTooLarge},
		{name: "huge", in: strings.Repeat("9", 400), err: ErrAmountTooLarge},
		{name: "iso date", in: "2026-11-01", err: ErrAmountDate},
		{name: "day first date", in: "01/11/2026", err: ErrAmountDate},
		{name: "month name date", in: "1-Nov-26", err: ErrAmountDate},
		{name: "time", in: "12:30", err: ErrAmountDate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMoney(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParseMoney(%q) = %v, %v; want error %v", tt.in, m, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMoney(%q): %v", tt.in, err)
			}
			if got := m.String(); got != tt.want {
				t.Errorf("ParseMoney(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestMoneyMethods(t *testing.T) {
	m := MustMoney("1234567.5")
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "String", got: m.String(), want: "1234567.50"},
		{name: "Grouped", got: m.Grouped(), want: "1,234,567.50"},
		{name: "Grouped small", got: MustMoney("999").Grouped(), want: "999.00"},
		{name: "Grouped negative difference", got: MoneyFromUnits(1000).Sub(MustMoney("2500.5")).Grouped(), want: "-1,500.50"},
		{name: "Units", got: MustMoney("45231.67").Units(), want: "45231"},
		{name: "Floor", got: MustMoney("45231.67").Floor().String(), want: "45231.00"},
		{name: "Add", got: MustMoney("0.10").Add(MustMoney("0.20")).String(), want: "0.30"},
		{name: "Sprintf %v", got: fmt.Sprintf("%v", m), want: "1234567.50"},
		{name: "Sprintf %s in text", got: fmt.Sprintf("pay %s", MustMoney("7")), want: "pay 7.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	if !MustMoney("1.5").Equal(MustMoney("1.50")) || MustMoney("1.5").Cmp(MustMoney("1.49")) != 1 {
		t.Error("Equal/Cmp disagree with decimal value")
	}
	if MustMoney("10").IsWhole() != true || MustMoney("10.01").IsWhole() != false {
		t.Error("IsWhole wrong")
	}
}

func TestMoneyText(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "plain", in: "1500.00", want: "1500.00"},
		{name: "negative difference", in: "-0.67", want: "-0.67"},
		{name: "zero", in: "0.00", want: "0.00"},
		{name: "exponent", in: "1e3", wantErr: true},
		{name: "three decimals", in: "1.005", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Money
			err := m.UnmarshalText([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("UnmarshalText(%q) = %s, want error", tt.in, m)
				}
				return
			}
			if err != nil || m.String() != tt.want {
				t.Fatalf("UnmarshalText(%q) = %s, %v; want %s", tt.in, m, err, tt.want)
			}
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var back Money
			if err := json.Unmarshal(b, &back); err != nil || !back.Equal(m) {
				t.Fatalf("JSON round trip %s -> %s -> %s, %v", m, b, back, err)
			}
		})
	}
	var m Money
	if err := json.Unmarshal([]byte(`1500.5`), &m); err == nil {
		t.Error("UnmarshalJSON accepted a JSON number; want a string only")
	}
}

func TestMoneyTOML(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    string
		wantErr string
	}{
		{name: "string", doc: `v = "250,000"`, want: "250000.00"},
		{name: "integer", doc: `v = 250000`, want: "250000.00"},
		{name: "float refused", doc: `v = 10.5`, wantErr: "never floats"},
		{name: "float whole refused", doc: `v = 10.0`, wantErr: "never floats"},
		{name: "negative integer", doc: `v = -5`, wantErr: ErrAmountNotPositive.Error()},
		{name: "bad string", doc: `v = "1e3"`, wantErr: ErrAmountExponent.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc struct{ V Money }
			_, err := toml.Decode(tt.doc, &doc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decode %q: err %v, want containing %q", tt.doc, err, tt.wantErr)
				}
				return
			}
			if err != nil || doc.V.String() != tt.want {
				t.Fatalf("decode %q = %s, %v; want %s", tt.doc, doc.V, err, tt.want)
			}
		})
	}
}

// FuzzParseMoney: ParseMoney never panics, and what it accepts is a
// positive amount with at most two decimals that reads back as itself.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"1000", "1,000.50", " 12.5 ", "0.01", "", "1e3", "+12", "−12", "(12)", "NaN",
		"KES 100", "1,00", "12.345", "0", "=1000/3", "999999999999.99", "1234567890123", "2026-11-01", "1.", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMoney(s)
		if err != nil {
			if !m.IsZero() {
				t.Fatalf("ParseMoney(%q) failed with %v but returned %s", s, err, m)
			}
			return
		}
		if m.Cmp(Money{}) <= 0 {
			t.Fatalf("ParseMoney(%q) = %s, want > 0", s, m)
		}
		if m.Decimal().Exponent() < -2 && !m.Decimal().Equal(m.Decimal().Round(2)) {
			t.Fatalf("ParseMoney(%q) = %s has more than 2 decimals", s, m.Decimal())
		}
		back, err := ParseMoney(m.String())
		if err != nil || !back.Equal(m) {
			t.Fatalf("ParseMoney(%q) = %s; ParseMoney(%q) = %s, %v", s, m, m.String(), back, err)
		}
		if g, err := ParseMoney(m.Grouped()); err != nil || !g.Equal(m) {
			t.Fatalf("ParseMoney(Grouped %q) = %s, %v; want %s", m.Grouped(), g, err, m)
		}
	})
}

func BenchmarkParseMoney(b *testing.B) {
	inputs := []string{"1500", "75,500.00", " 61200.5 ", "1,234,567.89", "1e3", "KES 100"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ParseMoney(inputs[i%len(inputs)])
	}
}
