package batch

import (
	"errors"
	"testing"
)

func TestParseCurrency(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Currency
		err  error
	}{
		{name: "KES", in: "KES", want: KES},
		{name: "lower kes", in: "kes", want: KES},
		{name: "KSH alias", in: " KSh ", want: KES},
		{name: "TZS", in: "tzs", want: TZS},
		{name: "USD", in: "USD", err: ErrCurrency},
		{name: "empty", in: "", err: ErrCurrency},
		{name: "symbol", in: "KSh.", err: ErrCurrency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCurrency(tt.in)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("ParseCurrency(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
	if KES.Region() != "KE" || TZS.Region() != "TZ" || Currency("USD").Region() != "" {
		t.Error("Region wrong")
	}
}

func TestParseProvider(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ProviderName
		err  error
	}{
		{name: "kopokopo", in: "kopokopo", want: KopoKopo},
		{name: "Kopo Kopo", in: "Kopo Kopo", want: KopoKopo},
		{name: "kopo-kopo", in: "kopo-kopo", want: KopoKopo},
		{name: "K2", in: "K2", want: KopoKopo},
		{name: "KiotaPay", in: " KiotaPay ", want: KiotaPay},
		{name: "kiota_pay", in: "kiota_pay", want: KiotaPay},
		{name: "mpesa", in: "mpesa", err: ErrProvider},
		{name: "empty", in: "", err: ErrProvider},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProvider(tt.in)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("ParseProvider(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseDestType(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want DestType
		err  error
	}{
		{name: "mobile_wallet", in: "mobile_wallet", want: MobileWallet},
		{name: "Mobile Wallet", in: "Mobile Wallet", want: MobileWallet},
		{name: "mobile-wallet", in: "mobile-wallet", want: MobileWallet},
		{name: "M-Pesa", in: "M-Pesa", want: MobileWallet},
		{name: "bank", in: "Bank", want: BankAccount},
		{name: "bank account", in: "bank account", want: BankAccount},
		{name: "till", in: "TILL", want: Till},
		{name: "paybill", in: "Paybill", want: Paybill},
		{name: "cash", in: "cash", err: ErrType},
		{name: "empty", in: "", err: ErrType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDestType(tt.in)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("ParseDestType(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestDestinationIdentity(t *testing.T) {
	tests := []struct {
		name string
		a, b Destination
		same bool
	}{
		{name: "same phone", a: Destination{Type: MobileWallet, Phone: "254712345678"}, b: Destination{Type: MobileWallet, Phone: "254712345678", Network: "Safaricom"}, same: true},
		{name: "other phone", a: Destination{Type: MobileWallet, Phone: "254712345678"}, b: Destination{Type: MobileWallet, Phone: "254712345679"}},
		{name: "branch case", a: Destination{Type: BankAccount, BankBranchRef: "ABC", AccountNumber: "1"}, b: Destination{Type: BankAccount, BankBranchRef: "abc", AccountNumber: "1"}, same: true},
		{name: "paybill account case", a: Destination{Type: Paybill, PaybillNumber: "888880", PaybillAccount: "acc-1"}, b: Destination{Type: Paybill, PaybillNumber: "888880", PaybillAccount: "ACC-1"}, same: true},
		{name: "till vs paybill", a: Destination{Type: Till, TillNumber: "555123"}, b: Destination{Type: Paybill, PaybillNumber: "555123"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Identity() == tt.b.Identity(); got != tt.same {
				t.Errorf("%q vs %q: same = %v, want %v", tt.a.Identity(), tt.b.Identity(), got, tt.same)
			}
		})
	}
}
