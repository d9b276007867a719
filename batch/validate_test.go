package batch

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// wantErr is an expected validation error: where, and which rule.
type wantErr struct {
	Row    int
	Column string
	Err    error
}

func (w wantErr) String() string { return fmt.Sprintf("row %d, column %q: %v", w.Row, w.Column, w.Err) }

// validateCSV validates a CSV given as text under cfg (DefaultConfig when
// nil), failing the test on a reader error.
func validateCSV(t testing.TB, cfg *Config, text string) *Validation {
	t.Helper()
	if cfg == nil {
		d := DefaultConfig()
		cfg = &d
	}
	s, err := NewCSVSheet(strings.NewReader(text), "pay.csv", ReadOptionsFor(cfg, ""))
	if err != nil {
		t.Fatalf("NewCSVSheet: %v", err)
	}
	defer s.Close()
	v, err := Validate(t.Context(), s, cfg)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return v
}

// checkErrors compares v.Errors with want, in order.
func checkErrors(t *testing.T, v *Validation, want []wantErr) {
	t.Helper()
	var got []string
	ok := len(v.Errors) == len(want)
	for i, e := range v.Errors {
		re, isRow := errors.AsType[*RowError](e)
		if !isRow {
			t.Errorf("error %v is a %T, want *RowError", e, e)
			ok = false
			continue
		}
		got = append(got, re.Error())
		if i < len(want) && (re.Row != want[i].Row || re.Column != want[i].Column || !errors.Is(e, want[i].Err)) {
			ok = false
		}
	}
	if !ok {
		t.Errorf("errors:\n  got  %s\n  want %v", strings.Join(got, "\n       "), want)
	}
}

const header = "reference,name,phone,amount,currency\n"

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		config func(*Config)
		csv    string
		errs   []wantErr
		check  func(t *testing.T, lines []Line)
	}{
		{
			name: "valid KES wallet with config defaults",
			csv:  header + "EMP1,Achieng Barasa,0712345678,\"1,500.00\",KES\n",
			check: func(t *testing.T, ls []Line) {
				l := ls[0]
				if l.Provider != KopoKopo || l.Dest.Type != MobileWallet || l.Dest.Phone.Digits() != "254712345678" ||
					l.Dest.Network != "Safaricom" || l.Amount.String() != "1500.00" || l.Description != "Salary payment" || l.Row != 2 {
					t.Errorf("line = %+v", l)
				}
			},
		},
		{
			name:   "currency defaults from the config",
			config: func(c *Config) { c.Sheet.Currency = "TZS" },
			csv:    "reference,name,phone,amount\nTZ1,Juma Mushi,0654123456,5000\n",
			check: func(t *testing.T, ls []Line) {
				if l := ls[0]; l.Currency != TZS || l.Provider != KiotaPay || l.Narration != "MOBILE PAYOUT" {
					t.Errorf("line = %+v", l)
				}
			},
		},
		{
			name: "KSH is KES",
			csv:  header + "EMP1,Achieng Barasa,0712345678,1500,ksh\n",
			check: func(t *testing.T, ls []Line) {
				if ls[0].Currency != KES {
					t.Errorf("currency %q", ls[0].Currency)
				}
			},
		},
		{
			name: "unknown currency",
			csv:  header + "EMP1,Achieng Barasa,0712345678,1500,USD\n",
			errs: []wantErr{{2, "currency", ErrCurrency}},
		},
		{
			name: "provider and currency mismatch",
			csv:  "reference,name,provider,phone,amount,currency\nTZ1,Juma Mushi,kopokopo,0654123456,5000,TZS\n",
			errs: []wantErr{{2, "currency", ErrProviderCurrency}},
		},
		{
			name: "kiotapay pays KES with an occasion",
			csv:  "reference,name,provider,phone,amount,currency\nEMP1,Achieng Barasa,KiotaPay,0712345678,1500,KES\n",
			check: func(t *testing.T, ls []Line) {
				if l := ls[0]; l.Provider != KiotaPay || l.Occasion != "Payroll" {
					t.Errorf("line = %+v", l)
				}
			},
		},
		{
			name:   "no route for the currency",
			config: func(c *Config) { c.Routing = map[string]string{"KES": "kopokopo"} },
			csv:    header + "TZ1,Juma Mushi,0654123456,5000,TZS\n",
			errs:   []wantErr{{2, "provider", ErrNoRoute}},
		},
		{
			name:   "routing sends KES to kiotapay",
			config: func(c *Config) { c.Routing = map[string]string{"KES": "kiotapay"} },
			csv:    header + "EMP1,Achieng Barasa,0712345678,1500,KES\n",
			check: func(t *testing.T, ls []Line) {
				if ls[0].Provider != KiotaPay {
					t.Errorf("provider %q", ls[0].Provider)
				}
			},
		},
		{
			name: "unknown provider",
			csv:  "reference,name,provider,phone,amount,currency\nEMP1,Achieng Barasa,mpesa,0712345678,1500,KES\n",
			errs: []wantErr{{2, "provider", ErrProvider}},
		},
		{
			name: "kiotapay pays wallets only",
			csv:  "reference,name,provider,type,till_number,amount,currency\nT1,Duka,kiotapay,till,555123,1500,KES\n",
			errs: []wantErr{{2, "type", ErrTypeProvider}},
		},
		{
			name: "Kopo Kopo refuses a non-Safaricom number",
			csv:  header + "EMP1,Achieng Barasa,0733123456,1500,KES\nEMP2,Otieno Ndegwa,0770123456,1500,KES\n",
			errs: []wantErr{{2, "network", ErrNetwork}, {3, "network", ErrNetwork}},
		},
		{
			name: "network column overrides the prefix (ported number)",
			csv:  "reference,name,phone,network,amount,currency\nEMP1,Achieng Barasa,0733123456,safaricom,1500,KES\nEMP2,Otieno Ndegwa,0712345678,Airtel,1500,KES\n",
			errs: []wantErr{{3, "network", ErrNetwork}},
			check: func(t *testing.T, ls []Line) {
				if ls[0].Dest.Network != "Safaricom" {
					t.Errorf("network %q", ls[0].Dest.Network)
				}
			},
		},
		{
			name: "explicit service_code wins over the prefix",
			csv:  "reference,name,phone,service_code,amount,currency\nTZ1,Juma Mushi,0744123456,tz-airtel-b2c,5000,TZS\nTZ2,Neema Mrema,0654123456,TZ-VODACOM-B2C,5000,TZS\n",
			errs: []wantErr{{3, "service_code", ErrServiceCode}},
			check: func(t *testing.T, ls []Line) {
				if ls[0].ServiceCode != "TZ-AIRTEL-B2C" {
					t.Errorf("service code %q", ls[0].ServiceCode)
				}
			},
		},
		{
			name: "TZS network override",
			csv:  "reference,name,phone,network,amount,currency\nTZ1,Juma Mushi,0744123456,Halotel,5000,TZS\nTZ2,Neema Mrema,0654123456,Vodacom,5000,TZS\n",
			errs: []wantErr{{3, "network", ErrNetwork}},
			check: func(t *testing.T, ls []Line) {
				if ls[0].ServiceCode != "TZ-HALOTEL-B2C" {
					t.Errorf("service code %q", ls[0].ServiceCode)
				}
			},
		},
		{
			name: "names split from name",
			csv:  header + "TZ1,Neema Wa Mrema,0654123456,5000,TZS\nTZ2,  Juma   Mushi ,0684123456,5000,TZS\n",
			check: func(t *testing.T, ls []Line) {
				got := [2][2]string{{ls[0].FirstName, ls[0].LastName}, {ls[1].FirstName, ls[1].LastName}}
				if got != [2][2]string{{"Neema Wa", "Mrema"}, {"Juma", "Mushi"}} {
					t.Errorf("names %q", got)
				}
			},
		},
		{
			name: "missing TZS names",
			csv:  header + "TZ1,Juma,0654123456,5000,TZS\nTZ2,,0684123456,5000,TZS\nKE1,Achieng,0712345678,1500,KES\n",
			errs: []wantErr{{2, "name", ErrNames}, {3, "name", ErrNames}},
		},
		{
			name: "missing TZS first or last name",
			csv:  "reference,first_name,last_name,phone,amount,currency\nTZ1,Juma,,0654123456,5000,TZS\nTZ2,,Mrema,0684123456,5000,TZS\nTZ3,Baraka,Msuya,0614123456,5000,TZS\n",
			errs: []wantErr{{2, "last_name", ErrNames}, {3, "first_name", ErrNames}},
		},
		{
			name: "cents rejected by default",
			csv:  header + "EMP1,Achieng Barasa,0712345678,\"45,231.67\",KES\n",
			errs: []wantErr{{2, "amount", ErrAmountFraction}},
		},
		{
			name:   "rounding down pays the whole part and keeps the request",
			config: func(c *Config) { c.Sheet.Rounding = RoundingDown },
			csv:    header + "EMP1,Achieng Barasa,0712345678,\"45,231.67\",KES\nEMP2,Otieno Ndegwa,0722345678,10.99,KES\nEMP3,Kiptoo Otieno,0710345678,9.99,KES\n",
			errs:   []wantErr{{4, "amount", ErrAmountBelowMin}},
			check: func(t *testing.T, ls []Line) {
				l := ls[0]
				if l.Amount.String() != "45231.00" || l.Requested.String() != "45231.67" || l.RoundingDiff().String() != "0.67" {
					t.Errorf("amount %s requested %s diff %s", l.Amount, l.Requested, l.RoundingDiff())
				}
			},
		},
		{
			name: "provider limits",
			csv: header + "K1,Achieng Barasa,0712345678,9,KES\nK2,Otieno Ndegwa,0722345678,10,KES\n" +
				"K3,Kiptoo Otieno,0710345678,250000,KES\nK4,Wanjiru Kamau,0711345678,250001,KES\n" +
				"T1,Juma Mushi,0654123456,999,TZS\nT2,Neema Mrema,0684123456,1000,TZS\n",
			errs: []wantErr{{2, "amount", ErrAmountBelowMin}, {5, "amount", ErrAmountAboveMax}, {6, "amount", ErrAmountBelowMin}},
		},
		{
			name: "limits from the config",
			config: func(c *Config) {
				c.KopoKopo.Limits = map[string]Limits{"KES": {Min: MoneyFromUnits(100), Max: MoneyFromUnits(1000)}}
			},
			csv:  header + "K1,Achieng Barasa,0712345678,99,KES\nK2,Otieno Ndegwa,0722345678,1001,KES\nK3,Kiptoo Otieno,0710345678,1000,KES\n",
			errs: []wantErr{{2, "amount", ErrAmountBelowMin}, {3, "amount", ErrAmountAboveMax}},
		},
		{
			name: "every amount rule, one per row",
			csv: header + "A1,Achieng Barasa,0712345678,,KES\nA2,Achieng Barasa,0712345679,1e3,KES\n" +
				"A3,Achieng Barasa,0712345670,-5,KES\nA4,Achieng Barasa,0712345671,KES 5,KES\nA5,Achieng Barasa,0712345672,NaN,KES\n" +
				"A6,Achieng Barasa,0712345673,12.345,KES\nA7,Achieng Barasa,0712345674,0,KES\nA8,Achieng Barasa,0712345675,1234567890123,KES\n" +
				"A9,Achieng Barasa,0712345676,=1+1,KES\nA10,Achieng Barasa,0712345677,1.,KES\n",
			errs: []wantErr{{2, "amount", ErrAmountEmpty}, {3, "amount", ErrAmountExponent}, {4, "amount", ErrAmountSign},
				{5, "amount", ErrAmountSymbol}, {6, "amount", ErrAmountNaN}, {7, "amount", ErrAmountPrecision},
				{8, "amount", ErrAmountNotPositive}, {9, "amount", ErrAmountTooLarge}, {10, "amount", ErrAmountFormula},
				{11, "amount", ErrAmountFormat}},
		},
		{
			name: "text too long",
			csv: "reference,name,phone,amount,currency,description,occasion,narration\n" +
				strings.Repeat("R", 65) + ",Achieng Barasa,0712345678,1500,KES,,,\n" +
				"EMP2," + strings.Repeat("N", 101) + ",0722345678,1500,KES,,,\n" +
				"EMP3,Kiptoo Otieno,0710345678,1500,KES," + strings.Repeat("D", 101) + ",,\n" +
				"EMP4,Wanjiru Kamau,0711345678,1500,KES,," + strings.Repeat("O", 101) + ",\n" +
				"EMP5,Mercy Chebet,0713345678,1500,KES,,," + strings.Repeat("ñ", 101) + "\n" +
				"EMP6," + strings.Repeat("é", 100) + ",0714345678,1500,KES,,,\n",
			errs: []wantErr{{2, "reference", ErrTooLong}, {3, "name", ErrTooLong}, {4, "description", ErrTooLong},
				{5, "occasion", ErrTooLong}, {6, "narration", ErrTooLong}},
		},
		{
			name: "control characters",
			csv:  header + "EMP\x01,Achieng Barasa,0712345678,1500,KES\nEMP2,\"Otieno\nNdegwa\",0722345678,1500,KES\nEMP3,Kiptoo\u0085Otieno,0710345678,1500,KES\n",
			errs: []wantErr{{2, "reference", ErrControlChars}, {3, "name", ErrControlChars}, {4, "name", ErrControlChars}},
		},
		{
			name: "bank account",
			csv: "reference,name,type,bank_branch_ref,account_name,account_number,amount\n" +
				"B1,A,bank_account,9CA2E2C4-1B2D-4A0E-8F3E-2B9D1C0F5A11,Achieng Barasa,0123456789,50000\n" +
				"B2,B,bank_account,KCB Moi Avenue,Otieno Ndegwa,0123456789,50000\n" +
				"B3,C,bank_account,9ca2e2c4-1b2d-4a0e-8f3e-2b9d1c0f5a1,Kiptoo,01-23,50000\n" +
				"B4,D,bank,,,,50000\n",
			errs: []wantErr{{3, "bank_branch_ref", ErrBranchRef}, {4, "bank_branch_ref", ErrBranchRef}, {4, "account_number", ErrAccountNumber},
				{5, "bank_branch_ref", ErrRequired}, {5, "account_name", ErrRequired}, {5, "account_number", ErrRequired}},
		},
		{
			name: "till and paybill digits",
			csv: "reference,name,till_number,paybill_number,paybill_account_number,amount\n" +
				"T1,Duka,555123,,,2000\nT2,Duka,55512a,,,2000\nT3,Duka,123,,,2000\nT4,Duka,12345678901,,,2000\n" +
				"P1,KPLC,,888880,ACC-1,2000\nP2,KPLC,,8888-80,ACC-2,2000\nP3,KPLC,,888881," + strings.Repeat("A", 21) + ",2000\nP4,KPLC,,888882,,2000\n",
			errs: []wantErr{{3, "till_number", ErrDigits}, {4, "till_number", ErrDigits}, {5, "till_number", ErrDigits},
				{7, "paybill_number", ErrDigits}, {8, "paybill_account_number", ErrPaybillAccount}, {9, "paybill_account_number", ErrRequired}},
		},
		{
			name: "type inference",
			csv: "reference,name,phone,bank_branch_ref,account_name,account_number,till_number,paybill_number,paybill_account_number,amount\n" +
				"I1,Wallet,0712345678,,,,,,,1500\n" +
				"I2,Bank,,9ca2e2c4-1b2d-4a0e-8f3e-2b9d1c0f5a11,Achieng Barasa,0123456789,,,,1500\n" +
				"I3,Till,,,,,555123,,,1500\n" +
				"I4,Paybill,,,,,,888880,ACC-1,1500\n" +
				"I5,Nothing,,,,,,,,1500\n" +
				"I6,Two kinds,,,,,555124,888881,ACC-2,1500\n" +
				"I7,Phone and till,0722345678,,,,555125,,,1500\n" +
				"I8,Phone and bank,0722345679,9ca2e2c4-1b2d-4a0e-8f3e-2b9d1c0f5a11,Achieng Barasa,0123456789,,,,1500\n",
			// Fields of two destination types and no type column value: an
			// error naming both, never a silent choice.
			errs: []wantErr{{6, "type", ErrTypeUnknown}, {7, "type", ErrTypeAmbiguous}, {8, "type", ErrTypeAmbiguous}, {9, "type", ErrTypeAmbiguous}},
			check: func(t *testing.T, ls []Line) {
				var got []DestType
				for _, l := range ls {
					got = append(got, l.Dest.Type)
				}
				want := []DestType{MobileWallet, BankAccount, Till, Paybill}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("types %v, want %v", got, want)
				}
			},
		},
		{
			name: "fields of two types with a type: the type says which",
			csv:  "reference,name,type,phone,till_number,amount\nT1,Duka,till,0712345678,555123,1500\n",
			check: func(t *testing.T, ls []Line) {
				if len(ls) != 1 || ls[0].Dest.Type != Till || ls[0].Dest.Phone != "" {
					t.Errorf("lines %+v, want one till line without a phone", ls)
				}
			},
		},
		{
			name: "control and bidirectional-override characters in any cell",
			csv: "reference,name,phone,amount,description,network\n" +
				"C1,Achieng\u202eBarasa,0712345678,1500,ok,\n" +
				"C2,Otieno,0722345678,1500,pay\u2066x,\n" +
				"C3,Wanjiru,0722345671,1500,ok,Safaricom\u0007\n" +
				"C4\u200f,Kamau,0722345672,1500,ok,\n",
			errs: []wantErr{{2, "name", ErrControlChars}, {3, "description", ErrControlChars}, {4, "network", ErrControlChars}, {5, "reference", ErrControlChars}},
		},
		{
			name: "unknown type",
			csv:  "reference,name,type,phone,amount\nEMP1,Achieng Barasa,cash,0712345678,1500\n",
			errs: []wantErr{{2, "type", ErrType}},
		},
		{
			name: "derived references when the reference column is absent",
			csv:  "name,phone,amount\nAchieng Barasa,0712345678,1500\nAchieng Barasa,0712345678,2500\nOtieno Ndegwa,0722345678,1500\n",
			check: func(t *testing.T, ls []Line) {
				seen := map[string]bool{}
				for _, l := range ls {
					if !l.RefDerived || !strings.HasPrefix(l.Reference, "auto-") || strings.Contains(l.Reference, "712345678") || seen[l.Reference] {
						t.Errorf("row %d: reference %q derived=%v", l.Row, l.Reference, l.RefDerived)
					}
					seen[l.Reference] = true
				}
				// Stable: the same sheet derives the same references.
				again := validateCSV(t, nil, "name,phone,amount\nSomeone Else,+254712345678,\"1,500.00\"\n")
				if again.Lines[0].Reference != ls[0].Reference {
					t.Errorf("reference %q, then %q for the same destination and amount", ls[0].Reference, again.Lines[0].Reference)
				}
			},
		},
		{
			name: "blank reference cells are derived too",
			csv:  header + "EMP1,Achieng Barasa,0712345678,1500,KES\n,Otieno Ndegwa,0722345678,1500,KES\n",
			check: func(t *testing.T, ls []Line) {
				if ls[0].RefDerived || ls[0].Reference != "EMP1" || !ls[1].RefDerived {
					t.Errorf("references %q %v, %q %v", ls[0].Reference, ls[0].RefDerived, ls[1].Reference, ls[1].RefDerived)
				}
			},
		},
		{
			name: "duplicate references",
			csv:  header + "EMP1,Achieng Barasa,0712345678,1500,KES\nEMP2,Otieno Ndegwa,0722345678,1500,KES\nEMP1,Kiptoo Otieno,0710345678,2500,KES\n",
			errs: []wantErr{{4, "reference", ErrDuplicateReference}},
		},
		{
			name: "a reference taken by an invalid row is still taken",
			csv:  header + "EMP1,Achieng Barasa,0712345678,-1,KES\nEMP1,Otieno Ndegwa,0722345678,1500,KES\n",
			errs: []wantErr{{2, "amount", ErrAmountSign}, {3, "reference", ErrDuplicateReference}},
		},
		{
			name: "same destination and amount twice without references",
			csv:  "name,phone,amount\nAchieng Barasa,0712345678,1500\nAchieng Barasa,+254 712 345 678,1500.00\n",
			errs: []wantErr{{3, "amount", ErrDuplicatePayment}},
		},
		{
			name: "same destination and amount, one without a reference",
			csv:  header + "EMP1,Achieng Barasa,0712345678,1500,KES\n,Achieng Barasa,0712345678,1500,KES\n",
			errs: []wantErr{{3, "amount", ErrDuplicatePayment}},
		},
		{
			name: "same destination and amount with distinct references",
			csv:  header + "EMP1,Achieng Barasa,0712345678,1500,KES\nBONUS1,Achieng Barasa,0712345678,1500,KES\n",
		},
		{
			name: "same destination, different amounts",
			csv:  "name,phone,amount\nAchieng Barasa,0712345678,1500\nAchieng Barasa,0712345678,2500\n",
		},
		{
			name: "same till twice without references",
			csv:  "name,till_number,amount\nDuka,555123,2000\nDuka,555123,2000\n",
			errs: []wantErr{{3, "amount", ErrDuplicatePayment}},
		},
		{
			name: "all errors of a row in one pass",
			csv:  "reference,name,provider,type,phone,amount,currency\n" + strings.Repeat("R", 70) + ",Juma,equity,cash,0712345678,1e3,TZS\n",
			errs: []wantErr{{2, "reference", ErrTooLong}, {2, "provider", ErrProvider}, {2, "type", ErrType}, {2, "amount", ErrAmountExponent}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.config != nil {
				tt.config(&cfg)
			}
			v := validateCSV(t, &cfg, tt.csv)
			checkErrors(t, v, tt.errs)
			if tt.check != nil && !t.Failed() {
				tt.check(t, v.Lines)
			}
			if got := len(v.Lines) + len(v.Invalid); got != v.Rows {
				t.Errorf("%d valid + %d invalid rows, want %d", len(v.Lines), len(v.Invalid), v.Rows)
			}
		})
	}
}

func TestValidateTZSServiceCodes(t *testing.T) {
	tests := []struct {
		name  string
		phone string
		want  string // service code, or "" when the network is refused
	}{
		{name: "Yas 065", phone: "0654123456", want: "TZ-TIGO-B2C"},
		{name: "Yas 067", phone: "0674123456", want: "TZ-TIGO-B2C"},
		{name: "Yas 071", phone: "0714123456", want: "TZ-TIGO-B2C"},
		{name: "Airtel 068", phone: "0684123456", want: "TZ-AIRTEL-B2C"},
		{name: "Airtel 069", phone: "0694123456", want: "TZ-AIRTEL-B2C"},
		{name: "Airtel 078", phone: "0784123456", want: "TZ-AIRTEL-B2C"},
		{name: "Halotel 061", phone: "0614123456", want: "TZ-HALOTEL-B2C"},
		{name: "Halotel 062", phone: "0624123456", want: "TZ-HALOTEL-B2C"},
		{name: "Vodacom 074", phone: "0744123456"},
		{name: "Vodacom 075", phone: "0754123456"},
		{name: "Vodacom 076", phone: "0764123456"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := validateCSV(t, nil, header+"TZ1,Juma Mushi,"+tt.phone+",5000,TZS\n")
			if tt.want == "" {
				checkErrors(t, v, []wantErr{{2, "network", ErrNetwork}})
				return
			}
			checkErrors(t, v, nil)
			if len(v.Lines) == 1 && v.Lines[0].ServiceCode != tt.want {
				t.Errorf("service code %q, want %q", v.Lines[0].ServiceCode, tt.want)
			}
		})
	}
}

func TestValidateInvalidRows(t *testing.T) {
	v := validateCSV(t, nil, header+"EMP1,Achieng Barasa,0712345678,1500,KES\nEMP2,Otieno Ndegwa,0733123456,-5,KES\n")
	if len(v.Invalid) != 1 {
		t.Fatalf("invalid rows %+v", v.Invalid)
	}
	r := v.Invalid[0]
	want := InvalidRow{Row: 3, Reference: "EMP2", Name: "Otieno Ndegwa", Amount: "-5", Currency: "KES", Provider: "kopokopo", Type: "mobile_wallet",
		Reasons: []string{"network: " + ErrNetwork.Error() + ": kopokopo pays Safaricom M-PESA wallets only; if the number was ported to Safaricom, write Safaricom in the network column", "amount: " + ErrAmountSign.Error()}}
	if fmt.Sprintf("%+v", r) != fmt.Sprintf("%+v", want) {
		t.Errorf("invalid row\n got %+v\nwant %+v", r, want)
	}
	if v.OK() {
		t.Error("OK() with errors")
	}
	tot := v.Totals()
	if len(tot) != 1 || tot[0].Lines != 1 || tot[0].Amount.String() != "1500.00" {
		t.Errorf("totals %+v", tot)
	}
}
