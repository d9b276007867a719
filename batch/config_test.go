package batch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// wireOwner stands for the settings other packages own (the providers'
// base URLs, source identifier and environment; the callback listener):
// their keys are known, and their Check runs.
type wireOwner struct {
	KopoKopo struct {
		BaseURL          string `toml:"base_url"`
		SourceIdentifier string `toml:"source_identifier"`
	} `toml:"kopokopo"`
	KiotaPay struct {
		BaseURL     string `toml:"base_url"`
		Environment string `toml:"environment"`
	} `toml:"kiotapay"`
	Callbacks struct {
		PublicURL string `toml:"public_url"`
		Listen    string `toml:"listen"`
	} `toml:"callbacks"`
}

func (w *wireOwner) Check() error {
	if e := w.KiotaPay.Environment; e != "" && e != "sandbox" && e != "live" {
		return errors.New("kiotapay.environment: must be sandbox or live")
	}
	return nil
}

// Without its owner a key of another package is unknown.
func TestParseConfigOwners(t *testing.T) {
	doc := "[kopokopo]\nbase_url = \"https://x\"\nmax_destinations = 10\n"
	if _, err := ParseConfig("pay.toml", []byte(doc)); err == nil || !strings.Contains(err.Error(), "kopokopo.base_url") {
		t.Errorf("no owner: %v, want kopokopo.base_url unknown", err)
	}
	var w wireOwner
	c, err := ParseConfig("pay.toml", []byte(doc), &w)
	if err != nil || w.KopoKopo.BaseURL != "https://x" || c.KopoKopo.MaxDestinations != 10 {
		t.Errorf("with its owner: %v, base %q, max %d", err, w.KopoKopo.BaseURL, c.KopoKopo.MaxDestinations)
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		check   func(t *testing.T, c Config)
		wantErr []string // substrings of the error, all required
	}{
		{
			name: "empty file is the defaults",
			doc:  "",
			check: func(t *testing.T, c Config) {
				if diff := cmp.Diff(DefaultConfig(), c, cmp.Comparer(func(a, b Money) bool { return a.Equal(b) })); diff != "" {
					t.Errorf("(-default +got):\n%s", diff)
				}
			},
		},
		{
			name: "sample payroll.toml",
			doc:  mustRead(t, "../samples/payroll.toml"),
			check: func(t *testing.T, c Config) {
				if c.Sheet.Columns["amount"] != "Net Pay" || c.KopoKopo.MaxDestinations != 50 || c.Ledger.DuplicateWindow.Duration != 25*24*time.Hour {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "durations in days and Go notation",
			doc:  "[ledger]\nduplicate_window = \"25d\"\n[settle]\npoll_interval = \"90s\"\n[kiotapay]\nper_phone_interval = \"1h30m\"\n",
			check: func(t *testing.T, c Config) {
				got := []time.Duration{c.Ledger.DuplicateWindow.Duration, c.Settle.PollInterval.Duration, c.KiotaPay.PerPhoneInterval.Duration}
				want := []time.Duration{25 * 24 * time.Hour, 90 * time.Second, 90 * time.Minute}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "routing is replaced, not merged",
			doc:  "[routing]\nKES = \"kiotapay\"\n",
			check: func(t *testing.T, c Config) {
				if diff := cmp.Diff(map[string]string{"KES": "kiotapay"}, c.Routing); diff != "" {
					t.Errorf("routing (-want +got):\n%s", diff)
				}
				if _, ok := c.Route(TZS); ok {
					t.Error("TZS still routed: the default table was merged")
				}
				if p, ok := c.Route(KES); !ok || p != KiotaPay {
					t.Errorf("Route(KES) = %q, %v", p, ok)
				}
			},
		},
		{
			name: "limits as strings and integers",
			doc:  "[kopokopo.limits.KES]\nmin = \"50\"\nmax = 150000\n",
			check: func(t *testing.T, c Config) {
				l := c.LimitsFor(KopoKopo, KES)
				if l.Min.String() != "50.00" || l.Max.String() != "150000.00" {
					t.Errorf("limits = %s..%s", l.Min, l.Max)
				}
			},
		},
		{
			name: "KSH limits apply to KES",
			doc:  "[kiotapay.limits.KSH]\nmin = 5\n",
			check: func(t *testing.T, c Config) {
				if l := c.LimitsFor(KiotaPay, KES); l.Min.String() != "5.00" {
					t.Errorf("LimitsFor(kiotapay, KES).Min = %s", l.Min)
				}
			},
		},
		{
			name: "a limit given alone keeps the other default",
			doc:  "[kopokopo.limits.KES]\nmin = 50\n[kiotapay.limits.TZS]\nmax = \"5,000,000\"\n",
			check: func(t *testing.T, c Config) {
				k2, kp := c.LimitsFor(KopoKopo, KES), c.LimitsFor(KiotaPay, TZS)
				if k2.Min.String() != "50.00" || k2.Max.String() != "250000.00" || kp.Min.String() != "1000.00" || kp.Max.String() != "5000000.00" {
					t.Errorf("kopokopo KES %s..%s, kiotapay TZS %s..%s", k2.Min, k2.Max, kp.Min, kp.Max)
				}
				if l := c.LimitsFor(KiotaPay, KES); l.Min.String() != "1.00" {
					t.Errorf("kiotapay KES min %s: untouched currencies must keep their defaults", l.Min)
				}
			},
		},
		{name: "one currency's limits twice", doc: "[kiotapay.limits.KES]\nmin = 5\n[kiotapay.limits.KSH]\nmin = 6\n", wantErr: []string{"kiotapay.limits.KSH: same currency as kiotapay.limits.KES"}},
		{name: "one currency routed twice", doc: "[routing]\nKES = \"kopokopo\"\nKSH = \"kiotapay\"\n", wantErr: []string{"routing.KSH: same currency as routing.KES"}},
		{name: "unknown top-level key", doc: "[sheet]\ncurency = \"KES\"\n", wantErr: []string{"unknown key", "sheet.curency"}},
		{name: "unknown section", doc: "[kopokopo]\nclient_secret = \"x\"\n[webhooks]\nurl = \"x\"\n", wantErr: []string{"kopokopo.client_secret", "webhooks.url"}},
		{name: "float amount in limits", doc: "[kopokopo.limits.KES]\nmin = 10.5\n", wantErr: []string{"never floats"}},
		{name: "exponent amount in limits", doc: "[kopokopo.limits.KES]\nmax = \"2.5e5\"\n", wantErr: []string{ErrAmountExponent.Error()}},
		{name: "max below min", doc: "[kopokopo.limits.KES]\nmin = 100\nmax = 10\n", wantErr: []string{"kopokopo.limits.KES: max is below min"}},
		{name: "limits in an unknown currency", doc: "[kiotapay.limits.USD]\nmin = 1\n", wantErr: []string{"kiotapay.limits.USD"}},
		{name: "bad currency", doc: "[sheet]\ncurrency = \"USD\"\n", wantErr: []string{"sheet.currency", ErrCurrency.Error()}},
		{name: "bad rounding", doc: "[sheet]\nrounding = \"up\"\n", wantErr: []string{"sheet.rounding"}},
		{name: "bad routing provider", doc: "[routing]\nKES = \"mpesa\"\n", wantErr: []string{"routing.KES", ErrProvider.Error()}},
		{name: "bad routing currency", doc: "[routing]\nUSD = \"kopokopo\"\n", wantErr: []string{"routing.USD"}},
		{name: "unknown canonical column", doc: "[sheet.columns]\nsalary = \"Net Pay\"\n", wantErr: []string{"sheet.columns.salary"}},
		{name: "zero max_rows", doc: "[sheet]\nmax_rows = 0\n", wantErr: []string{"sheet.max_rows"}},
		{name: "zero max_destinations", doc: "[kopokopo]\nmax_destinations = 0\n", wantErr: []string{"kopokopo.max_destinations"}},
		{name: "bad environment", doc: "[kiotapay]\nenvironment = \"prod\"\n", wantErr: []string{"kiotapay.environment"}},
		{name: "zero rate and burst", doc: "[kiotapay]\nrate = 0\nburst = 0\n", wantErr: []string{"kiotapay.rate", "kiotapay.burst"}},
		{name: "bad duration", doc: "[settle]\npoll_interval = \"soon\"\n", wantErr: []string{"soon"}},
		{name: "negative days", doc: "[ledger]\nduplicate_window = \"-1d\"\n", wantErr: []string{"-1d"}},
		{name: "fractional days", doc: "[ledger]\nduplicate_window = \"1.5d\"\n", wantErr: []string{"1.5d"}},
		{name: "zero poll interval", doc: "[settle]\npoll_interval = \"0s\"\n", wantErr: []string{"settle.poll_interval"}},
		{name: "wrong type", doc: "[sheet]\nmax_rows = \"many\"\n", wantErr: []string{"max_rows"}},
		{name: "not TOML", doc: "[sheet\n", wantErr: []string{"pay.toml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w wireOwner
			c, err := ParseConfig("pay.toml", []byte(tt.doc), &w)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("ParseConfig accepted %q", tt.doc)
				}
				if !errors.Is(err, ErrConfig) {
					t.Errorf("error %v is not ErrConfig", err)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadConfig(t *testing.T) {
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.toml")); !errors.Is(err, ErrConfig) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadConfig(missing) = %v, want ErrConfig wrapping ErrNotExist", err)
	}
	c, err := LoadConfig("../samples/payroll.toml", &wireOwner{})
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if c.Fingerprint() == d.Fingerprint() {
		t.Error("the sample's [sheet.columns] does not change the fingerprint")
	}
	if d2 := DefaultConfig(); d.Fingerprint() != d2.Fingerprint() {
		t.Error("Fingerprint is not stable")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConfigTypoSuggests: an unknown key names the known key it most
// likely meant; a key like nothing known gets no guess.
func TestConfigTypoSuggests(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payroll.toml")
	os.WriteFile(path, []byte("[sheet]\ncurency = \"KES\"\n[settle]\npol_interval = \"5s\"\n[ledger]\nflux_capacitor = 1\n"), 0o600)
	_, err := LoadConfig(path)
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"sheet.curency (did you mean sheet.currency?)", "settle.pol_interval (did you mean settle.poll_interval?)", "ledger.flux_capacitor,", "ledger.flux_capacitor"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "flux_capacitor (did you mean") {
		t.Errorf("a guess for a key like nothing known: %s", msg)
	}
}
