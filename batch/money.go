package batch

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/shopspring/decimal"
)

// Money is an exact, non-negative decimal amount with at most two decimal
// places. The zero value is 0.00. Money is never built from a float.
type Money struct{ d decimal.Decimal }

// maxIntDigits bounds amounts to under a trillion units: far above any
// payroll line, and small enough that no arithmetic here can overflow a
// provider's integer field.
const maxIntDigits = 12

// ParseMoney parses an amount as a person writes it in a sheet: digits, an
// optional decimal point with at most two decimals, and optional thousands
// separators in well-formed groups ("1,000.50"). Leading and trailing
// spaces are ignored. Exponents, signs, NaN, currency symbols, an empty
// string, zero and more than two decimals are errors.
func ParseMoney(s string) (Money, error) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	if s == "" {
		return Money{}, ErrAmountEmpty
	}
	if !plainAmountText(s) {
		if err := classifyAmountText(s); err != nil {
			return Money{}, err
		}
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if hasPoint && (frac == "" || intPart == "") {
		return Money{}, ErrAmountFormat
	}
	if !wellGrouped(intPart) || !allDigits(frac) {
		return Money{}, ErrAmountFormat
	}
	if len(frac) > 2 {
		return Money{}, ErrAmountPrecision
	}
	// The digits, thousands separators skipped: at most maxIntDigits
	// significant ones before the point, so the value fits an int64.
	var v int64
	sig := 0
	for i := 0; i < len(intPart); i++ {
		if c := intPart[i]; c != ',' {
			if sig > 0 || c != '0' {
				sig++
			}
			if sig > maxIntDigits {
				return Money{}, ErrAmountTooLarge
			}
			v = v*10 + int64(c-'0')
		}
	}
	for i := 0; i < len(frac); i++ {
		v = v*10 + int64(frac[i]-'0')
	}
	if v == 0 {
		return Money{}, ErrAmountNotPositive
	}
	// The same decimal as decimal.NewFromString(digits + "." + frac).
	return Money{decimal.New(v, -int32(len(frac)))}, nil
}

// plainAmountText reports whether s has only digits, commas and at most
// one point. Such text breaks none of classifyAmountText's rules (no
// sign, letter, symbol, exponent, or the second separator of a date), so
// the check, and its regular expression, can be skipped.
func plainAmountText(s string) bool {
	points := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == ',':
		case c == '.':
			if points++; points > 1 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// wellGrouped reports whether s is digits with well-formed thousands
// separators, or none: stripThousands(s) without building the result.
func wellGrouped(s string) bool {
	first := strings.IndexByte(s, ',')
	if first < 0 {
		return allDigits(s)
	}
	if first < 1 || first > 3 || !allDigits(s[:first]) {
		return false
	}
	for rest := s[first:]; rest != ""; rest = rest[4:] {
		if len(rest) < 4 || rest[0] != ',' || !allDigits(rest[1:4]) {
			return false
		}
	}
	return true
}

// classifyAmountText names the most helpful rule for text that is not a
// plain number.
func classifyAmountText(s string) error {
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(s, "="):
		return ErrAmountFormula
	case lower == "nan" || strings.Contains(lower, "inf"):
		return ErrAmountNaN
	case strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "−") ||
		(strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")")) || strings.HasSuffix(s, "-"):
		return ErrAmountSign
	}
	if dateText.MatchString(s) {
		return ErrAmountDate
	}
	if i := strings.IndexAny(lower, "e"); i > 0 && allDigitsOrPoint(lower[:i]) {
		rest := strings.TrimLeft(lower[i+1:], "+-")
		if rest != "" && allDigits(rest) {
			return ErrAmountExponent
		}
	}
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r == '.', r == ',':
		case unicode.IsLetter(r) || unicode.Is(unicode.Sc, r):
			return ErrAmountSymbol
		default:
			return ErrAmountFormat
		}
	}
	return nil
}

// dateText matches dates and times as spreadsheets export them
// ("2026-11-01", "01/11/2026", "1-Nov-26", "12:30"), so that a date pasted
// into the amount column is reported as a date, not as a malformed number.
var dateText = regexp.MustCompile(`^(\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{1,2}:\d{2}(:\d{2})?(\s*[AaPp][Mm])?|\d{1,2}[- /][A-Za-z]{3,9}[- /]\d{2,4})$`)

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func allDigitsOrPoint(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return s != ""
}

// MustMoney parses s with ParseMoney and panics on error. For tests and
// constants only; never for input.
func MustMoney(s string) Money {
	m, err := ParseMoney(s)
	if err != nil {
		panic(fmt.Sprintf("batch.MustMoney(%q): %v", s, err))
	}
	return m
}

// MoneyFromUnits returns n whole units (shillings).
func MoneyFromUnits(n int64) Money { return Money{decimal.NewFromInt(n)} }

// Decimal returns the amount as a decimal.Decimal.
func (m Money) Decimal() decimal.Decimal { return m.d }

// String returns the amount with exactly two decimals, e.g. "1500.00".
func (m Money) String() string { return m.d.StringFixed(2) }

// Units returns the amount as whole units, e.g. "1500". It is only exact
// when IsWhole reports true.
func (m Money) Units() string { return m.d.Truncate(0).String() }

// IsWhole reports whether the amount has no cents.
func (m Money) IsWhole() bool { return m.d.IsInteger() }

// IsZero reports whether the amount is zero.
func (m Money) IsZero() bool { return m.d.IsZero() }

// Floor returns the whole-unit part of the amount.
func (m Money) Floor() Money { return Money{m.d.Truncate(0)} }

// Add returns m + o.
func (m Money) Add(o Money) Money { return Money{m.d.Add(o.d)} }

// Sub returns m - o. The result may be negative (used for differences).
func (m Money) Sub(o Money) Money { return Money{m.d.Sub(o.d)} }

// Cmp compares m and o: -1, 0 or +1.
func (m Money) Cmp(o Money) int { return m.d.Cmp(o.d) }

// Equal reports whether m and o are the same amount (1.5 equals 1.50).
func (m Money) Equal(o Money) bool { return m.d.Equal(o.d) }

// Format implements fmt.Formatter so that %v and %s print "1500.00".
func (m Money) Format(f fmt.State, verb rune) { fmt.Fprint(f, m.String()) }

// Grouped returns the amount with thousands separators: "1,234,567.50".
func (m Money) Grouped() string {
	s := m.String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String() + "." + frac
}

// MarshalText writes "1500.00".
func (m Money) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads an exact decimal written by MarshalText. It accepts
// any decimal the ledger or a report wrote (including negative differences),
// but never an exponent or more than two decimals.
func (m *Money) UnmarshalText(b []byte) error {
	s := string(b)
	neg := strings.HasPrefix(s, "-")
	p, err := ParseMoney(strings.TrimPrefix(s, "-"))
	if err != nil {
		if err == ErrAmountNotPositive {
			*m = Money{}
			return nil
		}
		return fmt.Errorf("money %q: %w", s, err)
	}
	if neg {
		p.d = p.d.Neg()
	}
	*m = p
	return nil
}

// MarshalJSON writes the amount as a JSON string with two decimals.
func (m Money) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// UnmarshalJSON reads a JSON string written by MarshalJSON.
func (m *Money) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("money: want a JSON string, got %s", b)
	}
	return m.UnmarshalText([]byte(s))
}

// UnmarshalTOML accepts an amount in the config as a string ("250000") or
// an integer (250000). Floats are refused: they may not be exact.
func (m *Money) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		p, err := ParseMoney(x)
		if err != nil {
			return fmt.Errorf("amount %q: %w", x, err)
		}
		*m = p
	case int64:
		if x <= 0 {
			return fmt.Errorf("amount %d: %w", x, ErrAmountNotPositive)
		}
		*m = MoneyFromUnits(x)
	default:
		return fmt.Errorf("amount %v: write amounts as strings (\"10.50\") or integers, never floats", v)
	}
	return nil
}

// cents returns the amount in hundredths, if that is exact and fits an
// int64 (always for a parsed amount). It allocates nothing.
func (m Money) cents() (int64, bool) {
	exp := m.d.Exponent()
	if exp < -2 || m.d.NumDigits()+int(exp)+2 > 18 {
		return 0, false
	}
	c := m.d.CoefficientInt64()
	for ; exp > -2; exp-- {
		c *= 10
	}
	return c, true
}

// moneyFromCents returns c hundredths.
func moneyFromCents(c int64) Money { return Money{decimal.New(c, -2)} }
