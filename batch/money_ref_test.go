package batch

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/shopspring/decimal"
)

// parseMoneyReference is ParseMoney as it was before it parsed digits
// itself (classifyAmountText on every input, then decimal.NewFromString):
// the specification the faster version must keep.
func parseMoneyReference(s string) (Money, error) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	if s == "" {
		return Money{}, ErrAmountEmpty
	}
	if err := classifyAmountText(s); err != nil {
		return Money{}, err
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if hasPoint && (frac == "" || intPart == "") {
		return Money{}, ErrAmountFormat
	}
	digits, ok := stripThousandsReference(intPart)
	if !ok || !allDigits(frac) {
		return Money{}, ErrAmountFormat
	}
	if len(frac) > 2 {
		return Money{}, ErrAmountPrecision
	}
	if len(strings.TrimLeft(digits, "0")) > maxIntDigits {
		return Money{}, ErrAmountTooLarge
	}
	text := digits
	if frac != "" {
		text += "." + frac
	}
	d, err := decimal.NewFromString(text)
	if err != nil {
		return Money{}, ErrAmountFormat
	}
	if !d.IsPositive() {
		return Money{}, ErrAmountNotPositive
	}
	return Money{d}, nil
}

func stripThousandsReference(s string) (string, bool) {
	if s == "" || !strings.Contains(s, ",") {
		return s, allDigits(s)
	}
	groups := strings.Split(s, ",")
	if len(groups[0]) < 1 || len(groups[0]) > 3 || !allDigits(groups[0]) {
		return "", false
	}
	for _, g := range groups[1:] {
		if len(g) != 3 || !allDigits(g) {
			return "", false
		}
	}
	return strings.Join(groups, ""), true
}

var moneyInputs = []string{
	"", " ", "0", "00", "0.0", "0.00", "0.001", "1", "01", "1.5", "1.50", "1.505", ".5", "5.", "1,000", "1,000.50", "1,00",
	"1,0000", ",100", "100,", "1,,000", "12,345,678.90", "1234,567", "999999999999", "999999999999.99", "1000000000000",
	"0000000000000000001", "000,000,001.5", "1.2.3", "12.12.2026", "1/2/2026", "12:30", "1e3", "1E3", "NaN", "inf", "-5",
	"+5", "(5)", "5-", "−5", "KSh 100", "100 KES", "$5", "=1+1", " 1500 ", "\t1500\n", "1 500", "1_500", "१२३", "1,000.5.0",
	"0,000", "1,000,000,000,000", "123456789012.34", "1234567890123",
}

func TestParseMoneyMatchesReference(t *testing.T) {
	for _, s := range moneyInputs {
		checkMoneyAgainstReference(t, s)
	}
}

func FuzzParseMoneyReference(f *testing.F) {
	for _, s := range moneyInputs {
		f.Add(s)
	}
	f.Fuzz(checkMoneyAgainstReference)
}

func checkMoneyAgainstReference(t *testing.T, s string) {
	got, err := ParseMoney(s)
	want, werr := parseMoneyReference(s)
	if !errors.Is(err, werr) || err == nil && werr != nil {
		t.Fatalf("ParseMoney(%q) error %v, reference %v", s, err, werr)
	}
	if err == nil && (got.d.Exponent() != want.d.Exponent() || got.d.Cmp(want.d) != 0) {
		t.Fatalf("ParseMoney(%q) = %v (exp %d), reference %v (exp %d)", s, got.d, got.d.Exponent(), want.d, want.d.Exponent())
	}
}
