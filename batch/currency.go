package batch

import "strings"

// Currency is an ISO 4217 code the tool can pay in.
type Currency string

// The currencies payroll pays in.
const (
	KES Currency = "KES" // Kenyan shilling
	TZS Currency = "TZS" // Tanzanian shilling
)

// ParseCurrency accepts KES, KSH (KiotaPay's name for KES) and TZS in any
// case.
func ParseCurrency(s string) (Currency, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "KES", "KSH":
		return KES, nil
	case "TZS":
		return TZS, nil
	}
	return "", ErrCurrency
}

// Region returns the ISO 3166 country of the currency: the country its
// phones must belong to.
func (c Currency) Region() string {
	switch c {
	case KES:
		return "KE"
	case TZS:
		return "TZ"
	}
	return ""
}
