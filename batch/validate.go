package batch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Validation is the outcome of checking a whole sheet.
type Validation struct {
	File    string
	Rows    int          // data rows read (blank rows are not counted)
	Valid   int          // valid rows: len(Lines), unless the lines were discarded
	Lines   []Line       // valid rows, in sheet order; nil with DiscardLines
	Invalid []InvalidRow // invalid rows, in sheet order
	Errors  []error      // every problem found, each a *RowError, in row order
	// ExtraColumns are the headers of the sheet's columns that map to no
	// canonical column; each line's Extra holds their values.
	ExtraColumns []string

	// LinesDropped: the sheet had more valid lines than
	// ValidateOptions.MaxLines, and Lines is nil.
	LinesDropped bool
	// TwinRows are the rows of valid lines that pay the same destination
	// the same amount as another valid line under another reference
	// (Twins groups them), in sheet order.
	TwinRows []int

	sums *totalSums // the totals, summed row by row when the lines are discarded
}

// ValidateOptions change what Validate keeps.
type ValidateOptions struct {
	SheetName string // XLSX worksheet; "" for the first
	// DiscardLines drops each valid line once it has been counted, checked
	// against the rows before it and added to the totals: Validation.Lines
	// stays nil, Valid and Totals are still exact, and memory does not grow
	// with the sheet but for the duplicate checks (about 40 bytes a row).
	// For `payroll validate`, which prints only the totals.
	DiscardLines bool
	// MaxLines, when above 0, keeps the valid lines only while there are
	// at most MaxLines of them: past that they are discarded as with
	// DiscardLines, and Validation.LinesDropped says so (run then reads
	// the sheet again as it imports it).
	MaxLines int
	// OnLine, when set, receives each valid line in sheet order as it is
	// found (its Extra too); the line is then discarded. An error from it
	// stops the validation with that error.
	OnLine func(*Line) error
}

// OK reports whether the sheet has no errors at all.
func (v *Validation) OK() bool { return len(v.Errors) == 0 }

// Total is the count and sum of valid lines of one provider, currency and
// destination type.
type Total struct {
	Provider ProviderName `json:"provider"`
	Currency Currency     `json:"currency"`
	Type     DestType     `json:"type,omitempty"`
	Lines    int          `json:"lines"`
	Amount   Money        `json:"amount"`             // to be paid
	Rounding Money        `json:"rounding"`           // left unpaid by rounding = "down"
	Largest  Money        `json:"largest"`            // largest single line
	Requests int          `json:"requests,omitempty"` // filled in by Plan
}

// Totals sums the valid lines per provider × currency × destination type,
// in a stable order. When the lines were discarded (DiscardLines), it
// returns the same sums, taken as the rows were read.
func (v *Validation) Totals() []Total {
	if v.sums != nil && v.Lines == nil {
		return v.sums.totals()
	}
	var s totalSums
	for i := range v.Lines {
		s.add(&v.Lines[i])
	}
	return s.totals()
}

// totalSums adds lines into totals per provider × currency × type. Sums
// are kept in cents while they fit an int64, so adding a line allocates
// nothing.
type totalSums struct {
	sums []totalSum
}

type totalSum struct {
	Total
	amount, rounding int64 // cents not yet in Total.Amount, Total.Rounding
	largest          int64 // Total.Largest in cents, unless inexact
	inexact          bool  // a line had no exact cents: compare decimals
}

// sumFlush bounds the cents kept in an int64 (amounts are below 10¹⁴
// cents each).
const sumFlush = 1 << 62

func (s *totalSums) add(l *Line) {
	var t *totalSum
	for i := range s.sums {
		x := &s.sums[i]
		if x.Provider == l.Provider && x.Currency == l.Currency && x.Type == l.Dest.Type {
			t = x
			break
		}
	}
	if t == nil {
		s.sums = append(s.sums, totalSum{Total: Total{Provider: l.Provider, Currency: l.Currency, Type: l.Dest.Type}})
		t = &s.sums[len(s.sums)-1]
	}
	t.Lines++
	amt, ok1 := l.Amount.cents()
	req, ok2 := l.Requested.cents()
	if !ok1 || !ok2 {
		t.inexact = true // never for a parsed amount
		t.Amount = t.Amount.Add(l.Amount)
		t.Rounding = t.Rounding.Add(l.RoundingDiff())
	} else {
		if t.amount > sumFlush || t.rounding > sumFlush || t.rounding < -sumFlush {
			t.flush()
		}
		t.amount += amt
		t.rounding += req - amt
	}
	switch {
	case t.inexact:
		if l.Amount.Cmp(t.Largest) > 0 {
			t.Largest = l.Amount
		}
	case amt > t.largest:
		t.largest, t.Largest = amt, l.Amount
	}
}

func (t *totalSum) flush() {
	if t.amount != 0 {
		t.Amount = t.Amount.Add(moneyFromCents(t.amount))
	}
	if t.rounding != 0 {
		t.Rounding = t.Rounding.Add(moneyFromCents(t.rounding))
	}
	t.amount, t.rounding = 0, 0
}

func (s *totalSums) totals() []Total {
	out := make([]Total, 0, len(s.sums))
	for _, x := range s.sums {
		x.flush()
		out = append(out, x.Total)
	}
	slices.SortFunc(out, func(a, b Total) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Currency, b.Currency), cmp.Compare(a.Type, b.Type))
	})
	return out
}

// ValidateFile opens and validates a sheet. Problems with the sheet itself
// (missing columns, not an XLSX, ...) are returned in Validation.Errors like
// row problems; the error result is only for I/O failures and cancellation.
func ValidateFile(ctx context.Context, path string, cfg *Config, sheetName string) (*Validation, error) {
	return ValidateFileWith(ctx, path, cfg, ValidateOptions{SheetName: sheetName})
}

// ValidateFileWith is ValidateFile with options.
func ValidateFileWith(ctx context.Context, path string, cfg *Config, opts ValidateOptions) (*Validation, error) {
	s, err := OpenSheet(path, ReadOptionsFor(cfg, opts.SheetName))
	if err != nil {
		if errs, ok := rowErrors(err); ok {
			return &Validation{File: fileName(path), Errors: errs}, nil
		}
		return nil, err
	}
	defer s.Close()
	return ValidateWith(ctx, s, cfg, opts)
}

// Validate reads every row of the sheet and checks it against the rules of
// docs/design.md §2 and the config. Every error is collected; nothing stops at
// the first.
func Validate(ctx context.Context, s Sheet, cfg *Config) (*Validation, error) {
	return ValidateWith(ctx, s, cfg, ValidateOptions{})
}

// ValidateWith is Validate with options (opts.SheetName is not used: the
// sheet is already open).
func ValidateWith(ctx context.Context, s Sheet, cfg *Config, opts ValidateOptions) (*Validation, error) {
	v := newValidator(s, cfg, opts)
	defer v.refs.free()
	defer v.payees.free()
	if v.discard {
		v.out.sums = &totalSums{}
	}
	if err := v.run(ctx, s); err != nil {
		return nil, err
	}
	if v.sinkErr != nil {
		return nil, v.sinkErr
	}
	if v.out.Rows == 0 && len(v.out.Errors) == 0 {
		v.out.Errors = append(v.out.Errors, &RowError{File: v.file, Err: ErrNoRows})
	}
	return v.out, nil
}

// wholeRow reports whether a read error concerns the whole row rather than
// some of its cells.
func wholeRow(errs []error) bool {
	for _, e := range errs {
		if re, ok := errors.AsType[*RowError](e); ok && re.Column == "" {
			return true
		}
	}
	return false
}

// rowErrors flattens err into *RowErrors; ok is false if any part is not a
// *RowError.
func rowErrors(err error) ([]error, bool) {
	parts := Unjoin(err)
	for _, e := range parts {
		var re *RowError
		if !errors.As(e, &re) {
			return nil, false
		}
	}
	return parts, true
}

func fileName(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[i+1:]
	}
	return path
}

type validator struct {
	cfg     *Config
	file    string
	m       *Mapping
	discard bool
	max     int               // keep at most this many lines (0: all)
	onLine  func(*Line) error // the sink, if any
	sinkErr error             // the sink's error, which ends the validation
	refs    *seenIndex        // reference → first row
	payees  *seenIndex        // fingerprint → first row, flagged if it had a reference
	checkFP []byte            // fingerprint buffer of check
	touched byte              // see touch
	out     *Validation
	// The config's routing and limits, parsed once (Config.Route and
	// Config.LimitsFor parse their keys at every call), indexed by
	// currencyIndex and providerIndex.
	routes [2]ProviderName // "" if the currency is not routed
	limits [2][2]limitRule
}

// limitRule is a provider's limits in a currency, with their amounts in
// cents where they fit an int64 (always, for a config that loaded).
type limitRule struct {
	Limits
	minCents, maxCents int64
	minOK, maxOK       bool
}

var (
	currencies = [2]Currency{KES, TZS}
	providers  = [2]ProviderName{KopoKopo, KiotaPay}
)

func currencyIndex(c Currency) int {
	switch c {
	case KES:
		return 0
	case TZS:
		return 1
	}
	return -1
}

func providerIndex(p ProviderName) int {
	switch p {
	case KopoKopo:
		return 0
	case KiotaPay:
		return 1
	}
	return -1
}

// newValidator returns a validator of s's rows; its indexes must be
// freed.
func newValidator(s Sheet, cfg *Config, opts ValidateOptions) *validator {
	seed := maphash.MakeSeed()
	v := &validator{
		cfg:     cfg,
		file:    s.File(),
		m:       s.Mapping(),
		discard: opts.DiscardLines || opts.OnLine != nil,
		max:     opts.MaxLines,
		onLine:  opts.OnLine,
		refs:    newSeenIndex(seed),
		payees:  newSeenIndex(seed),
		out:     &Validation{File: s.File(), ExtraColumns: s.Mapping().Extras()},
	}
	v.parseRules()
	return v
}

// parseRules fills v.routes and v.limits from the config, for every
// currency payroll knows, by the config's own Route and LimitsFor.
func (v *validator) parseRules() {
	for i, cur := range currencies {
		if p, ok := v.cfg.Route(cur); ok {
			v.routes[i] = p
		}
		for j, p := range providers {
			r := limitRule{Limits: v.cfg.LimitsFor(p, cur)}
			r.minCents, r.minOK = r.Min.cents()
			r.maxCents, r.maxOK = r.Max.cents()
			v.limits[j][i] = r
		}
	}
}

// limitsFor is Config.LimitsFor from the parsed rules.
func (v *validator) limitsFor(p ProviderName, cur Currency) limitRule {
	if j, i := providerIndex(p), currencyIndex(cur); i >= 0 && j >= 0 {
		return v.limits[j][i]
	}
	return limitRule{}
}

// Text limits. Providers document few; these are conservative (the
// KiotaPay pages cap similar fields at 100 characters).
const (
	maxReference = 64
	maxName      = 100
	maxText      = 100
)

var (
	accountRe     = regexp.MustCompile(`^[0-9A-Za-z]{4,24}$`)
	shortNumberRe = regexp.MustCompile(`^[0-9]{4,10}$`)
)

// Service codes KiotaPay accepts for TZS (no Vodacom).
var serviceCodes = map[string]bool{"TZ-TIGO-B2C": true, "TZ-AIRTEL-B2C": true, "TZ-HALOTEL-B2C": true}

// TZServiceCode maps a Tanzanian network (libphonenumber's carrier name or
// what the sheet says) to KiotaPay's service code: the one place the
// mapping lives (validation sets Line.ServiceCode with it; the KiotaPay
// client asks it when a line has none). Vodacom and TTCL have none.
func TZServiceCode(network string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(network)) {
	case "yas", "tigo", "mixx", "mixx by yas", "tigo pesa":
		return "TZ-TIGO-B2C", true
	case "airtel":
		return "TZ-AIRTEL-B2C", true
	case "viettel", "halotel":
		return "TZ-HALOTEL-B2C", true
	}
	return "", false
}

// check applies every rule that needs only the row itself, and hashes
// the row's keys for crossRow. It reads nothing that finish changes, so
// rows can be checked ahead of finish, on another goroutine; it writes
// only the item and checkFP, so one goroutine checks.
func (v *validator) check(it *rowItem) {
	rec, readErrs := &it.rec, it.readErrs
	errs := append([]error(nil), readErrs...)
	bad := func(c Column, value string, err error) {
		errs = append(errs, &RowError{File: v.file, Row: rec.Row, Column: c.String(), Value: shown(value), Err: err})
	}
	var failed columnSet // columns the reader already reported
	for _, e := range readErrs {
		var re *RowError
		if errors.As(e, &re) {
			if c, ok := ParseColumn(re.Column); ok {
				failed.add(c)
			}
		}
	}
	get := rec.Get
	// No cell of any column may carry a control or bidirectional
	// formatting character: they hide or reorder what a person reads.
	for c := Column(0); c < numColumns; c++ {
		if !failed.has(c) && HasControl(rec.Cells[c]) {
			bad(c, "", ErrControlChars)
			failed.add(c)
		}
	}

	l := Line{Row: rec.Row, Extra: rec.Extra}
	text := func(c Column, max int) string {
		s := get(c)
		if failed.has(c) {
			return ""
		}
		if len(s) > max && utf8.RuneCountInString(s) > max { // never more characters than bytes
			bad(c, "", fmt.Errorf("%w (%d characters; at most %d)", ErrTooLong, utf8.RuneCountInString(s), max))
		}
		return s
	}
	l.Reference = text(ColReference, maxReference)
	l.Name = text(ColName, maxName)
	l.FirstName = text(ColFirstName, maxName)
	l.LastName = text(ColLastName, maxName)
	l.Description = text(ColDescription, maxText)
	l.Occasion = text(ColOccasion, maxText)
	l.Narration = text(ColNarration, maxText)

	// Currency, provider, type.
	curText := get(ColCurrency)
	if curText == "" {
		curText = v.cfg.Sheet.Currency
	}
	cur, curErr := ParseCurrency(curText)
	if curErr != nil && !failed.has(ColCurrency) {
		bad(ColCurrency, curText, curErr)
	}
	l.Currency = cur

	if p := get(ColProvider); p != "" {
		prov, err := ParseProvider(p)
		if err != nil {
			bad(ColProvider, p, err)
		}
		l.Provider = prov
	} else if curErr == nil {
		var prov ProviderName
		if i := currencyIndex(cur); i >= 0 {
			prov = v.routes[i]
		}
		if prov == "" {
			bad(ColProvider, "", ErrNoRoute)
		}
		l.Provider = prov
	}
	if l.Provider != "" && curErr == nil && !providerPays(l.Provider, cur) {
		bad(ColCurrency, string(cur), fmt.Errorf("%w (%s pays %s)", ErrProviderCurrency, l.Provider, providerCurrencies(l.Provider)))
	}

	typ, typErr := v.destType(rec)
	if typErr != nil && !failed.has(ColType) {
		bad(ColType, get(ColType), typErr)
	}
	l.Dest.Type = typ
	if typ != "" && l.Provider == KiotaPay && typ != MobileWallet {
		bad(ColType, string(typ), fmt.Errorf("%w (kiotapay pays mobile_wallet only)", ErrTypeProvider))
	}

	// Destination.
	if typErr == nil {
		v.destination(rec, &l, bad, failed)
	}

	// Amount.
	if !failed.has(ColAmount) {
		v.amount(get(ColAmount), &l, curErr == nil, bad)
	}

	// Provider text fields and defaults.
	if l.Description == "" {
		l.Description = v.cfg.Sheet.Description
	}
	if l.Provider == KiotaPay && curErr == nil {
		switch cur {
		case KES:
			if l.Occasion == "" {
				l.Occasion = v.cfg.Sheet.Occasion
			}
		case TZS:
			if l.Narration == "" {
				l.Narration = v.cfg.Sheet.Narration
			}
			v.names(&l, bad)
		}
	}

	it.line, it.errs, it.curText = l, errs, curText
	if len(errs) == 0 {
		// The keys crossRow will look up, hashed here, off finish's
		// goroutine.
		if l.Reference != "" {
			it.refHash = v.refs.hash(l.Reference)
		}
		v.checkFP = l.appendFingerprint(v.checkFP[:0])
		it.payeeHash = v.payees.hashBytes(v.checkFP)
	}
}

// finish applies the rules across rows and records the outcome; rows come
// in sheet order.
func (v *validator) finish(it *rowItem) {
	l, errs := &it.line, it.errs
	if len(errs) == 0 {
		v.crossRow(it, func(c Column, value string, err error) {
			errs = append(errs, &RowError{File: v.file, Row: it.rec.Row, Column: c.String(), Value: shown(value), Err: err})
		})
	} else if l.Reference != "" {
		v.refs.insert(v.refs.hash(l.Reference), it.rec.Row, false)
	}

	if len(errs) > 0 {
		v.out.Errors = append(v.out.Errors, errs...)
		v.out.Invalid = append(v.out.Invalid, invalidRow(&it.rec, l, it.curText, errs))
		return
	}
	v.out.Valid++
	if v.onLine != nil && v.sinkErr == nil {
		v.sinkErr = v.onLine(l)
	}
	if v.max > 0 && !v.discard && v.out.Valid > v.max {
		// Too many to keep: the totals from here on are summed row by row.
		v.discard, v.out.LinesDropped = true, true
		v.out.sums = &totalSums{}
		for i := range v.out.Lines {
			v.out.sums.add(&v.out.Lines[i])
		}
		v.out.Lines = nil
	}
	if v.discard {
		v.out.sums.add(l)
		return
	}
	v.out.Lines = append(v.out.Lines, *l)
}

// columnSet is a set of columns.
type columnSet uint32

var _ [32 - numColumns]struct{} // every column fits a columnSet

func (s *columnSet) add(c Column)     { *s |= 1 << c }
func (s columnSet) has(c Column) bool { return s&(1<<c) != 0 }

func providerPays(p ProviderName, c Currency) bool {
	switch p {
	case KopoKopo:
		return c == KES
	case KiotaPay:
		return c == KES || c == TZS
	}
	return false
}

func providerCurrencies(p ProviderName) string {
	if p == KopoKopo {
		return "KES only"
	}
	return "KES and TZS"
}

func (v *validator) crossRow(it *rowItem, bad func(Column, string, error)) {
	l := &it.line // check hashed its keys
	if l.Reference != "" {
		if first, _, dup := v.refs.insert(it.refHash, l.Row, false); dup {
			bad(ColReference, l.Reference, fmt.Errorf("%w (row %d)", ErrDuplicateReference, first))
			return
		}
	}
	seenRow, seenHasRef, dup := v.payees.insert(it.payeeHash, l.Row, l.Reference != "")
	if dup && (!seenHasRef || l.Reference == "") {
		bad(ColAmount, "", fmt.Errorf("%w (row %d)", ErrDuplicatePayment, seenRow))
		return
	}
	if dup {
		v.out.TwinRows = append(v.out.TwinRows, seenRow, l.Row)
	}
	if l.Reference == "" {
		l.Reference = derivedReference(l, 1)
		l.RefDerived = true
		v.refs.put(v.refs.hash(l.Reference), l.Row, false)
	}
}

func invalidRow(rec *Record, l *Line, currency string, errs []error) InvalidRow {
	r := InvalidRow{
		Row:       rec.Row,
		Reference: rec.Get(ColReference),
		Name:      rec.Get(ColName),
		Amount:    rec.Get(ColAmount),
		Currency:  currency,
		Provider:  string(l.Provider),
		Type:      string(l.Dest.Type),
	}
	if r.Name == "" {
		r.Name = strings.TrimSpace(rec.Get(ColFirstName) + " " + rec.Get(ColLastName))
	}
	for _, e := range errs {
		var re *RowError
		if errors.As(e, &re) && re.Column != "" {
			r.Reasons = append(r.Reasons, re.Column+": "+re.Err.Error())
		} else if re != nil {
			r.Reasons = append(r.Reasons, re.Err.Error())
		} else {
			r.Reasons = append(r.Reasons, e.Error())
		}
	}
	return r
}
