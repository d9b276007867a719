package batch

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestParsePhone(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		region  string
		want    string
		carrier string
		err     error
	}{
		{name: "KE 07", in: "0712345678", region: "KE", want: "254712345678", carrier: "Safaricom"},
		{name: "KE 01", in: "0112345678", region: "KE", want: "254112345678", carrier: "Safaricom"},
		{name: "KE 254", in: "254712345678", region: "KE", want: "254712345678"},
		{name: "KE +254", in: "+254712345678", region: "KE", want: "254712345678"},
		{name: "KE spaces", in: "+254 712 345 678", region: "KE", want: "254712345678"},
		{name: "KE dashes and dots", in: "0712-345.678", region: "KE", want: "254712345678"},
		{name: "KE without trunk 0", in: "712345678", region: "KE", want: "254712345678"},
		{name: "KE 00 international", in: "00254712345678", region: "KE", want: "254712345678"},
		{name: "KE non-breaking spaces", in: "0712\u00a0345\u00a0678", region: "KE", want: "254712345678"},
		{name: "KE Airtel", in: "0733123456", region: "KE", want: "254733123456", carrier: "Airtel"},
		{name: "TZ 06 Yas", in: "0654123456", region: "TZ", want: "255654123456", carrier: "Yas"},
		{name: "TZ 07 Yas", in: "0712345678", region: "TZ", want: "255712345678", carrier: "Yas"},
		{name: "TZ 068 Airtel", in: "0684123456", region: "TZ", want: "255684123456", carrier: "Airtel"},
		{name: "TZ 061 Halotel", in: "0614123456", region: "TZ", want: "255614123456", carrier: "Viettel"},
		{name: "TZ 074 Vodacom", in: "0744123456", region: "TZ", want: "255744123456", carrier: "Vodacom"},
		{name: "TZ 255", in: "255654123456", region: "TZ", want: "255654123456"},
		{name: "TZ +255 spaces", in: "+255 654 123 456", region: "TZ", want: "255654123456"},

		{name: "TZ number for KES", in: "+255654123456", region: "KE", err: ErrPhoneForeign},
		{name: "TZ 255 number for KES", in: "255654123456", region: "KE", err: ErrPhoneForeign},
		{name: "KE number for TZS", in: "+254712345678", region: "TZ", err: ErrPhoneForeign},
		{name: "US number", in: "+1 415 555 2671", region: "KE", err: ErrPhoneForeign},
		{name: "KE landline", in: "020 234 5678", region: "KE", err: ErrPhoneNotMobile},
		{name: "TZ landline", in: "0222123456", region: "TZ", err: ErrPhoneNotMobile},
		{name: "empty", in: "", region: "KE", err: ErrRequired},
		{name: "spaces only", in: "   ", region: "KE", err: ErrRequired},
		{name: "letters", in: "not a phone", region: "KE", err: ErrPhoneInvalid},
		{name: "too short", in: "07123", region: "KE", err: ErrPhoneInvalid},
		{name: "trailing letter", in: "0712345678x", region: "KE", err: ErrPhoneInvalid},
		{name: "too long", in: "07123456789012345678", region: "KE", err: ErrPhoneInvalid},
		{name: "plus in the middle", in: "0712+345678", region: "KE", err: ErrPhoneInvalid},
		{name: "two numbers", in: "0712345678/0722345678", region: "KE", err: ErrPhoneInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePhone(tt.in, tt.region)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParsePhone(%q, %s) = %q, %v; want %v", tt.in, tt.region, p.Digits(), err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePhone(%q, %s): %v", tt.in, tt.region, err)
			}
			if p.Digits() != tt.want {
				t.Errorf("ParsePhone(%q, %s) = %s, want %s", tt.in, tt.region, p.Digits(), tt.want)
			}
			if tt.carrier != "" && p.Carrier() != tt.carrier {
				t.Errorf("Carrier() = %q, want %q", p.Carrier(), tt.carrier)
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "empty", in: "", want: ""},
		{name: "one", in: "7", want: "7"},
		{name: "four", in: "1234", want: "***4"},
		{name: "five", in: "12345", want: "***45"},
		{name: "eight", in: "12345678", want: "******78"},
		{name: "nine", in: "123456789", want: "1234**789"},
		{name: "phone", in: "254712345678", want: "2547*****678"},
		{name: "account", in: "0123456789", want: "0123***789"},
		{name: "runes", in: "ÀÉÎÕÜàéîõü", want: "ÀÉÎÕ***îõü"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// A Phone never prints its digits: not with %v, %s, nor in a slog record.
func TestPhoneNeverLeaks(t *testing.T) {
	p, err := ParsePhone("0712345678", "KE")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("pay", "phone", p)
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v %s", p, p), b.String(), Destination{Type: MobileWallet, Phone: p}.Masked()} {
		if strings.Contains(s, "12345") {
			t.Errorf("%q shows the number", s)
		}
	}
}
