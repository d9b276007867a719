package batch

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseConfig: any bytes as payroll.toml parse or are refused with
// ErrConfig, without a panic; an unknown key, at the top or inside a
// known table, is always refused.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"",
		"[sheet]\ncurrency = \"KES\"\nrounding = \"down\"\n[sheet.columns]\namount = \"Net Pay\"\n",
		"[routing]\nKES = \"kiotapay\"\nTZS = \"kiotapay\"\n",
		"[kopokopo]\nbase_url = \"https://sandbox.kopokopo.com\"\nsource_identifier = \"4321\"\nmax_destinations = 50\n[kopokopo.limits.KES]\nmin = \"10\"\n",
		"[kiotapay]\nenvironment = \"live\"\nrate = 5\nburst = 5\nper_phone_interval = \"2m\"\n[kiotapay.limits.KSH]\nmax = \"150000\"\n",
		"[callbacks]\npublic_url = \"https://payroll.example.com/callbacks\"\nlisten = \"127.0.0.1:8080\"\n[settle]\npoll_interval = \"30s\"\n",
		"[ledger]\nduplicate_window = \"25d\"\n",
		"[sheet]\ncurency = \"KES\"\n",
		"[kopokopo]\nmax_destinations = -1\n",
		"a = \"\"\"\nunterminated",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseConfig("f.toml", b, &wireOwner{}); err != nil && !errors.Is(err, ErrConfig) {
			t.Fatalf("error without ErrConfig: %v", err)
		}
		// An unknown key on a line of its own before the document.
		for _, prefix := range []string{"zz_unknown_key = 1\n", "[kopokopo]\nzz_unknown_key = 1\n", "[zz_unknown_table]\nx = 1\n"} {
			if _, err := ParseConfig("f.toml", append([]byte(prefix), b...), &wireOwner{}); err == nil {
				t.Fatalf("unknown key accepted: %q", prefix+string(b))
			} else if !errors.Is(err, ErrConfig) {
				t.Fatalf("error without ErrConfig: %v", err)
			}
		}
	})
}

// FuzzParsePhone: any text and region parse or are refused without a
// panic; a parsed KE or TZ number is 12 digits of the region's country code,
// parses again to itself (from its digits, with "+", and as "0" + local
// part) and never shows its digits through String.
func FuzzParsePhone(f *testing.F) {
	for _, s := range []string{"0712345678", "+254 712 345 678", "254712345678", "00254712345678", "712-345-678", "(0712) 345.678",
		"0652300999", "+255 652 300 999", "255752300999", "0201234567", "0712\u00a0345678", "+1 202 555 0100", "", "0712345678x", "٠٧١٢٣٤٥٦٧٨"} {
		f.Add(s, "KE")
		f.Add(s, "TZ")
	}
	f.Add("0712345678", "")
	f.Add("0712345678", "ZZ")
	f.Fuzz(func(t *testing.T, s, region string) {
		p, err := ParsePhone(s, region)
		if err != nil {
			if p != "" {
				t.Fatalf("error %v with %q", err, p)
			}
			return
		}
		d := p.Digits()
		cc, ours := map[string]string{"KE": "254", "TZ": "255"}[region]
		if !ours {
			// Callers pass only KE or TZ; another region parses its own
			// numbers, still as digits only.
			if d == "" || !allDigits(d) {
				t.Fatalf("ParsePhone(%q, %q) = %q", s, region, d)
			}
			return
		}
		if len(d) != 12 || !allDigits(d) || !strings.HasPrefix(d, cc) {
			t.Fatalf("ParsePhone(%q, %q) = %q", s, region, d)
		}
		for _, again := range []string{d, "+" + d, "0" + d[3:]} {
			if q, err := ParsePhone(again, region); err != nil || q != p {
				t.Fatalf("ParsePhone(%q, %q) = %q, %v; want %q", again, region, q, err, p)
			}
		}
		if strings.Contains(p.String(), d[3:]) {
			t.Fatalf("String() %q shows the number", p.String())
		}
	})
}
