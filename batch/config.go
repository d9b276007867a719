package batch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is payroll.toml (docs/design.md §5). Secrets are never in it: they come
// from the environment.
//
// The domain keeps the rules it enforces: how sheets are read, routing,
// each provider's chunk size, limits and pacing, settlement and the
// ledger. What only a provider's wire needs (its base URL, source
// identifier, environment) is owned by the provider package, and the
// callback listener by the CLI: they decode their own keys from the same
// file (LoadConfig's owners).
type Config struct {
	Sheet    SheetConfig       `toml:"sheet" json:"sheet"`
	Routing  map[string]string `toml:"routing" json:"routing"`
	KopoKopo KopoKopoConfig    `toml:"kopokopo" json:"kopokopo"`
	KiotaPay KiotaPayConfig    `toml:"kiotapay" json:"kiotapay"`
	Settle   SettleConfig      `toml:"settle" json:"settle"`
	Ledger   LedgerConfig      `toml:"ledger" json:"ledger"`
}

// ConfigOwner is a part of payroll.toml decoded by another package: a
// pointer to a struct with toml tags, holding its defaults, whose Check
// reports bad values.
type ConfigOwner interface {
	Check() error
}

// SheetConfig is [sheet]: how rows are read and what defaults they get.
type SheetConfig struct {
	Currency    string            `toml:"currency" json:"currency"`               // default currency for rows without one
	Rounding    string            `toml:"rounding" json:"rounding"`               // "reject" (default) or "down"
	Columns     map[string]string `toml:"columns" json:"columns"`                 // canonical = "header in the sheet"
	Description string            `toml:"description" json:"description"`         // default description / KiotaPay remarks
	Occasion    string            `toml:"occasion" json:"occasion"`               // default KiotaPay occasion (KES)
	Narration   string            `toml:"narration" json:"narration"`             // default KiotaPay narration (TZS)
	MaxRows     int               `toml:"max_rows" json:"max_rows"`               // refuse sheets with more data rows
	MaxCellSize int               `toml:"max_cell_bytes" json:"max_cell_bytes"`   // refuse cells larger than this
	HeaderRow   int               `toml:"header_row" json:"header_row,omitempty"` // the header's row; 0: found among the first rows
}

// Limits are the per-transfer amount limits of a provider in one currency.
// A zero Max means no maximum.
type Limits struct {
	Min Money `toml:"min" json:"min"`
	Max Money `toml:"max" json:"max"`
}

// KopoKopoConfig is the domain's part of [kopokopo].
type KopoKopoConfig struct {
	MaxDestinations int               `toml:"max_destinations" json:"max_destinations"`
	Limits          map[string]Limits `toml:"limits" json:"limits"` // by currency
}

// KiotaPayConfig is the domain's part of [kiotapay].
type KiotaPayConfig struct {
	Rate             float64           `toml:"rate" json:"rate"` // requests per second
	Burst            int               `toml:"burst" json:"burst"`
	PerPhoneInterval Duration          `toml:"per_phone_interval" json:"per_phone_interval"`
	Limits           map[string]Limits `toml:"limits" json:"limits"` // by currency
}

// SettleConfig is [settle].
type SettleConfig struct {
	PollInterval Duration `toml:"poll_interval" json:"poll_interval"`
}

// LedgerConfig is [ledger].
type LedgerConfig struct {
	Path            string   `toml:"path" json:"path"`
	DuplicateWindow Duration `toml:"duplicate_window" json:"duplicate_window"`
}

// Duration is a time.Duration written as in Go ("90s", "2m") or in whole
// days ("25d").
type Duration struct{ time.Duration }

// UnmarshalText parses "2m", "1h30m" or "25d".
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return fmt.Errorf("duration %q: want e.g. \"25d\", \"36h\" or \"90s\"", s)
		}
		d.Duration = time.Duration(n) * 24 * time.Hour
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("duration %q: want e.g. \"25d\", \"36h\" or \"90s\"", s)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration in Go's notation.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Rounding modes of [sheet] rounding.
const (
	RoundingReject = "reject"
	RoundingDown   = "down"
)

// DefaultConfig returns the configuration used when there is no
// payroll.toml, and the base that a payroll.toml overrides.
func DefaultConfig() Config {
	return Config{
		Sheet: SheetConfig{
			Currency:    "KES",
			Rounding:    RoundingReject,
			Description: "Salary payment",
			Occasion:    "Payroll",
			Narration:   "MOBILE PAYOUT",
			MaxRows:     1_000_000,
			MaxCellSize: 1024,
		},
		Routing: map[string]string{"KES": "kopokopo", "TZS": "kiotapay"},
		KopoKopo: KopoKopoConfig{
			MaxDestinations: 50,
			Limits:          map[string]Limits{"KES": {Min: MoneyFromUnits(10), Max: MoneyFromUnits(250_000)}},
		},
		KiotaPay: KiotaPayConfig{
			Rate:             5,
			Burst:            5,
			PerPhoneInterval: Duration{2 * time.Minute},
			Limits: map[string]Limits{
				"KES": {Min: MoneyFromUnits(1)},
				"TZS": {Min: MoneyFromUnits(1000)},
			},
		},
		Settle: SettleConfig{PollInterval: Duration{30 * time.Second}},
		Ledger: LedgerConfig{Path: "payroll.db", DuplicateWindow: Duration{25 * 24 * time.Hour}},
	}
}

// ErrConfig marks every problem with payroll.toml.
var ErrConfig = errors.New("config")

// LoadConfig reads a payroll.toml over the defaults. Unknown keys are an
// error that names each key; so are invalid values.
// Each owner decodes its own keys from the same file; a key is unknown
// when neither the domain nor any owner decodes it.
func LoadConfig(path string, owners ...ConfigOwner) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return ParseConfig(path, b, owners...)
}

// ParseConfig is LoadConfig on bytes; name is used in messages.
func ParseConfig(name string, b []byte, owners ...ConfigOwner) (Config, error) {
	cfg := DefaultConfig()
	// Maps given in the file replace the defaults rather than merge, so a
	// file's [routing] is the whole routing table.
	var probe struct {
		Routing  map[string]any `toml:"routing"`
		KopoKopo struct {
			Limits map[string]any `toml:"limits"`
		} `toml:"kopokopo"`
		KiotaPay struct {
			Limits map[string]any `toml:"limits"`
		} `toml:"kiotapay"`
	}
	if _, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&probe); err != nil {
		return Config{}, fmt.Errorf("%w: %s: %w", ErrConfig, name, err)
	}
	if probe.Routing != nil {
		cfg.Routing = nil
	}
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&cfg)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %s: %w", ErrConfig, name, err)
	}
	unknown := map[string]bool{}
	for _, k := range md.Undecoded() {
		unknown[k.String()] = true
	}
	var ownerErrs []error
	for _, o := range owners {
		omd, err := toml.NewDecoder(bytes.NewReader(b)).Decode(o)
		if err != nil {
			return Config{}, fmt.Errorf("%w: %s: %w", ErrConfig, name, err)
		}
		left := map[string]bool{}
		for _, k := range omd.Undecoded() {
			left[k.String()] = true
		}
		for k := range unknown {
			if !left[k] {
				delete(unknown, k)
			}
		}
		ownerErrs = append(ownerErrs, o.Check())
	}
	if len(unknown) > 0 {
		keys := slices.Sorted(maps.Keys(unknown))
		var tables []string
		for _, k := range keys {
			// A table is "unknown" when only some of its keys are decoded
			// elsewhere; name its keys, not the table.
			if !slices.ContainsFunc(keys, func(o string) bool { return strings.HasPrefix(o, k+".") }) {
				tables = append(tables, k)
			}
		}
		known := tomlKeys(reflect.TypeOf(cfg), "")
		for _, o := range owners {
			known = append(known, tomlKeys(reflect.TypeOf(o), "")...)
		}
		for i, k := range tables {
			if m := nearest(k, known); m != "" {
				tables[i] = fmt.Sprintf("%s (did you mean %s?)", k, m)
			}
		}
		return Config{}, fmt.Errorf("%w: %s: unknown key %s", ErrConfig, name, strings.Join(tables, ", "))
	}
	if err := errors.Join(ownerErrs...); err != nil {
		return Config{}, fmt.Errorf("%w: %s: %w", ErrConfig, name, err)
	}
	// A file's limits override the defaults per currency and per field:
	// [kopokopo.limits.KES] with only min keeps the default max, and
	// [kiotapay.limits.KSH] replaces the default KES entry instead of
	// sitting next to it (LimitsFor would then pick one at random).
	def := DefaultConfig()
	var errs []error
	for _, p := range []struct {
		key  string
		file map[string]any
		lims *map[string]Limits
		def  map[string]Limits
	}{
		{"kopokopo", probe.KopoKopo.Limits, &cfg.KopoKopo.Limits, def.KopoKopo.Limits},
		{"kiotapay", probe.KiotaPay.Limits, &cfg.KiotaPay.Limits, def.KiotaPay.Limits},
	} {
		if p.file == nil {
			continue
		}
		merged, err := mergeLimits(md, p.key, p.def, *p.lims, p.file)
		if err != nil {
			errs = append(errs, err)
		}
		*p.lims = merged
	}
	if err := errors.Join(append(errs, cfg.Check())...); err != nil {
		return Config{}, fmt.Errorf("%w: %s: %w", ErrConfig, name, err)
	}
	return cfg, nil
}

// mergeLimits lays the limits a file gives (the keys of file, decoded into
// decoded) over the defaults, by currency and by field.
func mergeLimits(md toml.MetaData, provider string, defaults, decoded map[string]Limits, file map[string]any) (map[string]Limits, error) {
	out := make(map[string]Limits, len(defaults)+len(file))
	for k, v := range defaults {
		out[k] = v
	}
	keys := make([]string, 0, len(file))
	for k := range file {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	owner := map[Currency]string{}
	var errs []error
	for _, k := range keys {
		cur, err := ParseCurrency(k)
		if err != nil {
			out[k] = decoded[k] // Check names the key
			continue
		}
		if prev, dup := owner[cur]; dup {
			errs = append(errs, fmt.Errorf("%s.limits.%s: same currency as %s.limits.%s", provider, k, provider, prev))
			continue
		}
		owner[cur] = k
		l := defaults[string(cur)]
		if md.IsDefined(provider, "limits", k, "min") {
			l.Min = decoded[k].Min
		}
		if md.IsDefined(provider, "limits", k, "max") {
			l.Max = decoded[k].Max
		}
		out[string(cur)] = l
	}
	return out, errors.Join(errs...)
}

// Check validates values that TOML types cannot.
func (c *Config) Check() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, a...)...))
	}
	if _, err := ParseCurrency(c.Sheet.Currency); err != nil {
		bad("sheet.currency", "%v", err)
	}
	if c.Sheet.Rounding != RoundingReject && c.Sheet.Rounding != RoundingDown {
		bad("sheet.rounding", "must be %q or %q", RoundingReject, RoundingDown)
	}
	if c.Sheet.MaxRows <= 0 {
		bad("sheet.max_rows", "must be positive")
	}
	if c.Sheet.HeaderRow < 0 || c.Sheet.HeaderRow > HeaderScanRows {
		bad("sheet.header_row", fmt.Sprintf("must be 0 (find it) or 1 to %d", HeaderScanRows))
	}
	if c.Sheet.MaxCellSize <= 0 {
		bad("sheet.max_cell_bytes", "must be positive")
	}
	for canon := range c.Sheet.Columns {
		if _, ok := ParseColumn(canon); !ok {
			bad("sheet.columns."+canon, "not a canonical column (one of %s)", strings.Join(columnNames[:], ", "))
		}
	}
	routed := map[Currency]string{}
	for _, cur := range slices.Sorted(maps.Keys(c.Routing)) {
		p := c.Routing[cur]
		if cc, err := ParseCurrency(cur); err != nil {
			bad("routing."+cur, "%v", err)
		} else if prev, dup := routed[cc]; dup {
			bad("routing."+cur, "same currency as routing.%s", prev)
		} else {
			routed[cc] = cur
		}
		if _, err := ParseProvider(p); err != nil {
			bad("routing."+cur, "%v", err)
		}
	}
	if c.KopoKopo.MaxDestinations < 1 {
		bad("kopokopo.max_destinations", "must be at least 1")
	}
	for prov, lims := range map[string]map[string]Limits{"kopokopo": c.KopoKopo.Limits, "kiotapay": c.KiotaPay.Limits} {
		for cur, l := range lims {
			if _, err := ParseCurrency(cur); err != nil {
				bad(prov+".limits."+cur, "%v", err)
			}
			if !l.Max.IsZero() && l.Max.Cmp(l.Min) < 0 {
				bad(prov+".limits."+cur, "max is below min")
			}
		}
	}
	if !(c.KiotaPay.Rate > 0) {
		bad("kiotapay.rate", "must be positive")
	}
	if c.KiotaPay.Burst < 1 {
		bad("kiotapay.burst", "must be at least 1")
	}
	if c.Settle.PollInterval.Duration <= 0 {
		bad("settle.poll_interval", "must be positive")
	}
	return errors.Join(errs...)
}

// Route returns the provider for a currency per [routing].
func (c *Config) Route(cur Currency) (ProviderName, bool) {
	for k, v := range c.Routing {
		if kc, err := ParseCurrency(k); err == nil && kc == cur {
			p, err := ParseProvider(v)
			return p, err == nil
		}
	}
	return "", false
}

// LimitsFor returns the amount limits of a provider in a currency.
func (c *Config) LimitsFor(p ProviderName, cur Currency) Limits {
	var m map[string]Limits
	switch p {
	case KopoKopo:
		m = c.KopoKopo.Limits
	case KiotaPay:
		m = c.KiotaPay.Limits
	}
	for k, l := range m {
		if kc, err := ParseCurrency(k); err == nil && kc == cur {
			return l
		}
	}
	return Limits{}
}

// Fingerprint is a hash of the settings that decide what a sheet pays
// (sheet rules, routing, limits): the ledger stores it with a batch so that
// a re-run under a different config is noticed.
func (c *Config) Fingerprint() string {
	v := struct {
		Sheet    SheetConfig
		Routing  map[string]string
		K2Limits map[string]Limits
		KPLimits map[string]Limits
	}{c.Sheet, c.Routing, c.KopoKopo.Limits, c.KiotaPay.Limits}
	b, _ := json.Marshal(v) // maps marshal in key order
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// tomlKeys lists the dotted keys a config struct decodes, from its toml
// tags (maps end the walk: their keys are the file's).
func tomlKeys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			if f.Anonymous {
				out = append(out, tomlKeys(f.Type, prefix)...)
			}
			continue
		}
		key := prefix + name
		out = append(out, key)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.NumField() > 0 && ft.PkgPath() != "time" {
			out = append(out, tomlKeys(ft, key+".")...)
		}
	}
	return out
}

// nearest is the known key closest to k (at most 2 edits, or a third of
// its length), or "".
func nearest(k string, known []string) string {
	best, bestD := "", max(2, len(k)/3)+1
	for _, c := range known {
		if d := editDistance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
