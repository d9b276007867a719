package batch

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// destType reads the type column or infers it from the filled columns.
func (v *validator) destType(rec *Record) (DestType, error) {
	if t := rec.Get(ColType); t != "" {
		return ParseDestType(t)
	}
	var found []DestType
	if rec.Get(ColPhone) != "" {
		found = append(found, MobileWallet)
	}
	if rec.Get(ColAccountNumber) != "" || rec.Get(ColBankBranchRef) != "" {
		found = append(found, BankAccount)
	}
	if rec.Get(ColTillNumber) != "" {
		found = append(found, Till)
	}
	if rec.Get(ColPaybillNumber) != "" {
		found = append(found, Paybill)
	}
	switch len(found) {
	case 0:
		return "", ErrTypeUnknown
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, t := range found {
		names[i] = string(t)
	}
	return "", fmt.Errorf("%w (%s)", ErrTypeAmbiguous, strings.Join(names, " and "))
}

func (v *validator) destination(rec *Record, l *Line, bad func(Column, string, error), failed columnSet) {
	get := rec.Get
	need := func(c Column) string {
		s := get(c)
		if s == "" && !failed.has(c) {
			bad(c, "", fmt.Errorf("%w for %s", ErrRequired, l.Dest.Type))
		}
		return s
	}
	d := &l.Dest
	switch d.Type {
	case MobileWallet:
		raw := need(ColPhone)
		if raw == "" || l.Currency == "" {
			return
		}
		p, carrier, err := parsePhone(raw, l.Currency.Region(), true)
		if err != nil {
			bad(ColPhone, "", err)
			return
		}
		d.Phone = p
		d.Network = get(ColNetwork)
		if !failed.has(ColNetwork) && !failed.has(ColServiceCode) {
			v.network(l, carrier, get(ColServiceCode), bad)
		}
	case BankAccount:
		d.BankBranchRef = need(ColBankBranchRef)
		d.AccountName = need(ColAccountName)
		d.AccountNumber = need(ColAccountNumber)
		if d.BankBranchRef != "" && !isUUID(d.BankBranchRef) {
			bad(ColBankBranchRef, d.BankBranchRef, ErrBranchRef)
		}
		if d.AccountNumber != "" && !accountRe.MatchString(d.AccountNumber) {
			bad(ColAccountNumber, "", ErrAccountNumber)
		}
		if utf8.RuneCountInString(d.AccountName) > maxName {
			bad(ColAccountName, "", ErrTooLong)
		}
	case Till:
		d.TillNumber = need(ColTillNumber)
		if d.TillNumber != "" && !shortNumberRe.MatchString(d.TillNumber) {
			bad(ColTillNumber, d.TillNumber, fmt.Errorf("till_number %w (4 to 10)", ErrDigits))
		}
	case Paybill:
		d.PaybillNumber = need(ColPaybillNumber)
		d.PaybillAccount = need(ColPaybillAccount)
		if d.PaybillNumber != "" && !shortNumberRe.MatchString(d.PaybillNumber) {
			bad(ColPaybillNumber, d.PaybillNumber, fmt.Errorf("paybill_number %w (4 to 10)", ErrDigits))
		}
		if utf8.RuneCountInString(d.PaybillAccount) > 20 || HasControl(d.PaybillAccount) {
			bad(ColPaybillAccount, "", ErrPaybillAccount)
		}
	}
}

// network checks the mobile network against the provider and fills the
// KiotaPay service code. The sheet's network (or service_code) column
// overrides the prefix-based guess, since numbers can be ported.
func (v *validator) network(l *Line, carrier, serviceCode string, bad func(Column, string, error)) {
	d := &l.Dest
	n := d.Network
	if n == "" {
		n = carrier
	}
	switch {
	case l.Currency == KES: // Kopo Kopo and KiotaPay KES both pay M-PESA
		if !strings.EqualFold(n, "Safaricom") {
			bad(ColNetwork, n, fmt.Errorf("%w: %s pays Safaricom M-PESA wallets only; if the number was ported to Safaricom, write Safaricom in the network column", ErrNetwork, l.Provider))
			return
		}
		d.Network = "Safaricom"
	case l.Provider == KiotaPay && l.Currency == TZS:
		if sc := strings.ToUpper(serviceCode); sc != "" {
			if !serviceCodes[sc] {
				bad(ColServiceCode, serviceCode, ErrServiceCode)
				return
			}
			l.ServiceCode = sc
			return
		}
		code, ok := TZServiceCode(n)
		if !ok {
			col := ColNetwork
			bad(col, n, fmt.Errorf("%w: KiotaPay pays Yas (Tigo), Airtel and Halotel wallets in Tanzania, not %s; if the number was ported, fill the network or service_code column", ErrNetwork, orUnknown(n)))
			return
		}
		l.ServiceCode = code
		if d.Network == "" {
			d.Network = carrier
		}
	}
}

// isUUID reports whether s is a UUID in its text form, 8-4-4-4-12 hex
// digits in either case: what
// ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$
// matches, without a regular expression at every bank row.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown network"
	}
	return s
}

func (v *validator) amount(raw string, l *Line, curOK bool, bad func(Column, string, error)) {
	m, err := ParseMoney(raw)
	if err != nil {
		value := raw
		if errors.Is(err, ErrAmountEmpty) {
			value = ""
		}
		bad(ColAmount, value, err)
		return
	}
	l.Requested, l.Amount = m, m
	if !m.IsWhole() {
		if v.cfg.Sheet.Rounding != RoundingDown {
			bad(ColAmount, raw, ErrAmountFraction)
			return
		}
		l.Amount = m.Floor()
	}
	if !curOK || l.Provider == "" {
		return
	}
	lim := v.limitsFor(l.Provider, l.Currency)
	cents, centsOK := l.Amount.cents()
	// against is l.Amount.Cmp(limit), in cents where both fit an int64.
	against := func(limit Money, limitCents int64, limitOK bool) int {
		if centsOK && limitOK {
			return cmp.Compare(cents, limitCents)
		}
		return l.Amount.Cmp(limit)
	}
	if !lim.Min.IsZero() && against(lim.Min, lim.minCents, lim.minOK) < 0 {
		bad(ColAmount, raw, fmt.Errorf("%w (%s %s %s)", ErrAmountBelowMin, l.Provider, l.Currency, lim.Min.Grouped()))
	}
	if !lim.Max.IsZero() && against(lim.Max, lim.maxCents, lim.maxOK) > 0 {
		bad(ColAmount, raw, fmt.Errorf("%w (%s %s %s)", ErrAmountAboveMax, l.Provider, l.Currency, lim.Max.Grouped()))
	}
}

// names fills first and last names for KiotaPay TZS, splitting name if
// that is all the sheet gives.
func (v *validator) names(l *Line, bad func(Column, string, error)) {
	if l.FirstName == "" && l.LastName == "" && l.Name != "" {
		f := strings.Fields(l.Name)
		if len(f) >= 2 {
			l.FirstName = strings.Join(f[:len(f)-1], " ")
			l.LastName = f[len(f)-1]
		}
	}
	if l.FirstName == "" || l.LastName == "" {
		col := ColName
		if v.m.Has(ColFirstName) || v.m.Has(ColLastName) {
			col = ColFirstName
			if l.FirstName != "" {
				col = ColLastName
			}
		}
		bad(col, "", ErrNames)
	}
}
