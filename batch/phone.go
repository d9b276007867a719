package batch

import (
	"log/slog"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// Phone is a mobile number normalised to 12 digits with the country code
// and no "+": 2547XXXXXXXX or 2551XXXXXXXX, 2556/2557XXXXXXX. Its String
// method masks the middle digits so that a Phone never leaks into a log;
// Digits gives the number itself for a provider request.
type Phone string

// ParsePhone normalises a phone number written in any usual way (07…,
// 7…, 2547…, +254 7…, with spaces, dashes or dots) for the given region
// ("KE" or "TZ"). The number must be a valid mobile number of that region.
func ParsePhone(s, region string) (Phone, error) {
	p, _, err := parsePhone(s, region, false)
	return p, err
}

// parsePhone is ParsePhone that can also look up the carrier from the same
// parse (libphonenumber parsing dominates the cost of validating a row).
// The usual shapes of a valid mobile number take the fast path
// (phone_fast.go); everything else, errors included, is decided by the
// library in full.
func parsePhone(s, region string, withCarrier bool) (Phone, string, error) {
	if p, carrier, ok := fastPhone(s, region, withCarrier); ok {
		return p, carrier, nil
	}
	return libraryPhone(s, region, withCarrier)
}

// libraryPhone is parsePhone through phonenumbers.Parse.
func libraryPhone(s, region string, withCarrier bool) (Phone, string, error) {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '\u00a0':
			return -1
		case unicode.IsSpace(r):
			return -1
		}
		return r
	}, s)
	if clean == "" {
		return "", "", ErrRequired
	}
	if !strings.HasPrefix(clean, "+") && len(clean) == 12 && (strings.HasPrefix(clean, "254") || strings.HasPrefix(clean, "255")) {
		clean = "+" + clean
	}
	if strings.HasPrefix(clean, "00") {
		clean = "+" + clean[2:]
	}
	if !allDigits(strings.TrimPrefix(clean, "+")) || len(clean) > 16 {
		return "", "", ErrPhoneInvalid
	}
	n, err := phonenumbers.Parse(clean, region)
	if err != nil {
		return "", "", ErrPhoneInvalid
	}
	if got := phonenumbers.GetRegionCodeForNumber(n); got != region {
		if got == "" && !phonenumbers.IsPossibleNumber(n) {
			return "", "", ErrPhoneInvalid
		}
		return "", "", ErrPhoneForeign
	}
	if !phonenumbers.IsValidNumberForRegion(n, region) {
		return "", "", ErrPhoneInvalid
	}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
	default:
		return "", "", ErrPhoneNotMobile
	}
	e164 := phonenumbers.Format(n, phonenumbers.E164)
	var carrier string
	if withCarrier {
		carrier, _ = phonenumbers.GetCarrierForNumber(n, "en")
	}
	return Phone(strings.TrimPrefix(e164, "+")), carrier, nil
}

// Digits returns the 12-digit number for a provider request.
func (p Phone) Digits() string { return string(p) }

// String returns the number with its middle digits masked: 2547*****678.
func (p Phone) String() string { return Mask(string(p)) }

// LogValue masks the number in structured logs.
func (p Phone) LogValue() slog.Value { return slog.StringValue(p.String()) }

// Carrier returns the network that owns the number's prefix according to
// libphonenumber ("Safaricom", "Airtel", "Yas", "Vodacom", "Viettel", …),
// or "" if unknown. Numbers can be ported, so this is a default the sheet's
// network column may override.
func (p Phone) Carrier() string {
	n, err := phonenumbers.Parse("+"+string(p), "")
	if err != nil {
		return ""
	}
	c, _ := phonenumbers.GetCarrierForNumber(n, "en")
	return c
}

// Mask hides all but the first four and last three characters of a phone
// or account number: "254712345678" becomes "2547*****678". Short values
// are masked entirely but for the last character.
func Mask(s string) string {
	r := []rune(s)
	switch {
	case len(r) == 0:
		return ""
	case len(r) <= 4:
		return strings.Repeat("*", len(r)-1) + string(r[len(r)-1:])
	case len(r) <= 8:
		return strings.Repeat("*", len(r)-2) + string(r[len(r)-2:])
	}
	return string(r[:4]) + strings.Repeat("*", len(r)-7) + string(r[len(r)-3:])
}
