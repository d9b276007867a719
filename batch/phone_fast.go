package batch

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nyaruka/phonenumbers"
)

// The fast path of parsePhone. phonenumbers.Parse, IsValidNumberForRegion
// and GetNumberType run a dozen regular expressions per number (10 µs of
// the 17 µs a row cost). For the usual shapes of a Kenyan or Tanzanian
// mobile number (0712…, 712…, 254712…, +254 712…, 00254712…) fastPhone
// builds the same national number as Parse would, and classifies it with
// the library's own metadata for the region (the same descriptors, lengths
// and precedence as getNumberTypeHelper) compiled once into a digit
// automaton. The carrier comes from the library, cached by the digits its
// lookup reads. Anything else (another country, a number that is not a
// valid mobile, odd characters) goes through the library in full, so every
// error is still the library's decision. TestFastPhoneMatchesLibrary
// compares both paths over every KE and TZ prefix.

// Descriptor indexes, in the order getNumberTypeHelper tests them.
const (
	descGeneral = iota
	descPremium
	descTollFree
	descSharedCost
	descVoip
	descPersonal
	descPager
	descUAN
	descVoicemail
	descFixed
	descMobile
	numDescs
)

// numberRules is libphonenumber's metadata for one region, compiled.
type numberRules struct {
	region  string
	ccStr   string
	cc      int32
	trunk0  bool // "0" + national number parses as that national number
	bare    bool // the national number alone parses as itself
	same    bool // SameMobileAndFixedLinePattern
	lengths [numDescs][]int32
	local   []int32 // general desc PossibleLengthLocalOnly
	dfa     *digitDFA

	carriers carrierTable
}

var phoneRules = sync.OnceValue(func() map[string]*numberRules {
	out := map[string]*numberRules{}
	for _, region := range []string{"KE", "TZ"} {
		if r, err := compileRules(region); err == nil {
			out[region] = r
		}
	}
	return out
})

// compileRules compiles a region's metadata, and checks the assumptions
// the fast path makes about how Parse treats the region's numbers; if one
// fails, the region has no fast path.
func compileRules(region string) (*numberRules, error) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil, err
	}
	var md *phonenumbers.PhoneMetadata
	for _, m := range coll.GetMetadata() {
		if m.GetId() == region {
			md = m
		}
	}
	if md == nil {
		return nil, fmt.Errorf("no metadata for %s", region)
	}
	cc := md.GetCountryCode()
	r := &numberRules{region: region, cc: cc, ccStr: strconv.Itoa(int(cc)), same: md.GetSameMobileAndFixedLinePattern()}
	// Parse must read "+CC…" as this region, and no shorter prefix of the
	// code may be a country code of its own.
	if !slices.Equal(phonenumbers.GetRegionCodesForCountryCode(int(cc)), []string{region}) {
		return nil, errors.New("country code shared with other regions")
	}
	for i := 1; i < len(r.ccStr); i++ {
		p, _ := strconv.Atoi(r.ccStr[:i])
		if len(phonenumbers.GetRegionCodesForCountryCode(p)) > 0 {
			return nil, errors.New("a prefix of the country code is a country code")
		}
	}
	// The international prefix must need "00" (the pre-step turns "00…"
	// into "+…"), so that "0712…" and "712…" are never read as one.
	idd, err := regexp.Compile(md.GetInternationalPrefix())
	if err != nil {
		return nil, err
	}
	lit, _ := idd.LiteralPrefix()
	iddNeeds00 := strings.HasPrefix(lit, "00")
	trunkOK := md.GetNationalPrefixForParsing() == "0" && md.GetNationalPrefixTransformRule() == ""
	r.trunk0 = iddNeeds00 && trunkOK
	r.bare = strings.HasPrefix(lit, "0") && (trunkOK || md.GetNationalPrefixForParsing() == "")
	r.local = md.GetGeneralDesc().GetPossibleLengthLocalOnly()

	descs := [numDescs]*phonenumbers.PhoneNumberDesc{
		md.GetGeneralDesc(), md.GetPremiumRate(), md.GetTollFree(), md.GetSharedCost(), md.GetVoip(),
		md.GetPersonalNumber(), md.GetPager(), md.GetUan(), md.GetVoicemail(), md.GetFixedLine(), md.GetMobile(),
	}
	var patterns [numDescs]string
	for i, d := range descs {
		r.lengths[i] = d.GetPossibleLength()
		patterns[i] = d.GetNationalNumberPattern()
	}
	if r.dfa, err = buildDigitDFA(patterns[:]); err != nil {
		return nil, err
	}
	return r, nil
}

// matches is isNumberMatchingDesc: a possible length and a full match.
func (r *numberRules) matches(mask uint32, d, n int) bool {
	if mask&(1<<d) == 0 {
		return false
	}
	if l := r.lengths[d]; len(l) > 0 && !slices.Contains(l, int32(n)) {
		return false
	}
	return true
}

// isMobile is getNumberTypeHelper(nsn) ∈ {MOBILE, FIXED_LINE_OR_MOBILE}.
func (r *numberRules) isMobile(nsn []byte) bool {
	mask, ok := r.dfa.run(nsn)
	if !ok {
		return false
	}
	n := len(nsn)
	if !r.matches(mask, descGeneral, n) {
		return false
	}
	for d := descPremium; d <= descVoicemail; d++ {
		if r.matches(mask, d, n) {
			return false
		}
	}
	if r.matches(mask, descFixed, n) {
		return r.same || r.matches(mask, descMobile, n)
	}
	return !r.same && r.matches(mask, descMobile, n)
}

// fastPhone is parsePhone for the usual shapes of a valid mobile number.
// ok is false when it cannot tell: the caller then asks the library.
func fastPhone(s, region string, withCarrier bool) (p Phone, carrier string, ok bool) {
	r := phoneRules()[region]
	if r == nil {
		return "", "", false
	}
	var buf [16]byte
	d := buf[:0]
	plus := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if len(d) == len(buf) {
				return "", "", false
			}
			d = append(d, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
		case c == '+' && len(d) == 0 && !plus:
			plus = true
		default:
			return "", "", false // letters, a '+' inside, non-ASCII spaces: the full path
		}
	}
	// The pre-steps of parsePhone: 2547…/2551… with 12 digits and 00… are
	// international.
	if !plus && len(d) == 12 && (string(d[:3]) == "254" || string(d[:3]) == "255") {
		plus = true
	}
	if !plus && len(d) >= 2 && d[0] == '0' && d[1] == '0' {
		plus, d = true, d[2:]
	}
	var nsn []byte
	switch {
	case len(d) == 0 || plus && len(d)+1 > 16:
		return "", "", false
	case plus:
		if !strings.HasPrefix(string(d), r.ccStr) {
			return "", "", false
		}
		nsn = d[len(r.ccStr):]
	case d[0] == '0':
		if !r.trunk0 {
			return "", "", false
		}
		nsn = d[1:]
	default:
		if !r.bare || strings.HasPrefix(string(d), r.ccStr) {
			return "", "", false
		}
		nsn = d
	}
	if len(nsn) < 2 || len(nsn) > 15 || nsn[0] == '0' || slices.Contains(r.local, int32(len(nsn))) || !r.isMobile(nsn) {
		return "", "", false
	}
	p = Phone(r.ccStr + string(nsn))
	if withCarrier {
		carrier = r.carrier(p)
	}
	return p, carrier, true
}

// Carriers are cached by the digits libphonenumber's carrier lookup reads:
// the first nine of country code and national number ("+" and nine
// characters of the E.164 form), so the national number's first six for a
// three-digit country code. The cache is a table of a million one-byte
// carrier numbers per region (1 MB, packed four to a word so that it can
// be read and filled concurrently), filled on first use of each prefix.
type carrierTable struct {
	once  sync.Once
	ok    bool            // the country code has three digits
	slots []atomic.Uint32 // prefix/4 → four carrier numbers + 1 (0: not looked up)
	mu    sync.Mutex
	names atomic.Pointer[[]string] // carrier number → name; append-only
}

const carrierPrefixDigits = 6

// carrier looks up the network of a valid number, digits only.
func (r *numberRules) carrier(p Phone) string {
	t := &r.carriers
	t.once.Do(func() {
		t.ok = len(r.ccStr) == 9-carrierPrefixDigits
		if t.ok {
			t.slots = make([]atomic.Uint32, 1_000_000/4)
			t.names.Store(&[]string{})
		}
	})
	nsn := string(p[len(r.ccStr):])
	if !t.ok || len(nsn) < carrierPrefixDigits {
		return r.libraryCarrier(nsn)
	}
	key := 0
	for i := range carrierPrefixDigits {
		key = key*10 + int(nsn[i]-'0')
	}
	word, shift := &t.slots[key/4], uint(key%4)*8
	if n := word.Load() >> shift & 0xff; n != 0 {
		return (*t.names.Load())[n-1]
	}
	c := r.libraryCarrier(nsn)
	t.mu.Lock()
	defer t.mu.Unlock()
	names := *t.names.Load()
	n := slices.Index(names, c)
	if n < 0 {
		if len(names) == 255 {
			return c // too many names to number: not cached
		}
		names = append(slices.Clip(names), c)
		n = len(names) - 1
		t.names.Store(&names)
	}
	for {
		old := word.Load()
		if word.CompareAndSwap(old, old&^(0xff<<shift)|uint32(n+1)<<shift) {
			return c
		}
	}
}

func (r *numberRules) libraryCarrier(nsn string) string {
	cc := r.cc
	nn, _ := strconv.ParseUint(nsn, 10, 64)
	c, _ := phonenumbers.GetCarrierForNumber(&phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn}, "en")
	return c
}

// digitDFA decides, for strings of ASCII digits, which of a set of regular
// expressions match the whole string. It is built once from the
// expressions' compiled programs (regexp/syntax, the same parser and
// semantics as package regexp), by following every thread of each program
// at once over the ten digits; a state is the set of live threads.
type digitDFA struct {
	next  [][10]int32 // state → digit → state; 0 is the dead state
	match []uint32    // state → expressions that match if the input ends here
	start int32
}

// maxDFAStates bounds the automaton; libphonenumber's KE and TZ patterns
// need a few hundred states.
const maxDFAStates = 1 << 14

func (a *digitDFA) run(digits []byte) (uint32, bool) {
	s := a.start
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		if s = a.next[s][c-'0']; s == 0 {
			return 0, true
		}
	}
	return a.match[s], true
}

// instMatches reports whether a rune-reading instruction reads r.
func instMatches(in *syntax.Inst, r rune) bool {
	switch in.Op {
	case syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		return true // r is a digit
	case syntax.InstRune, syntax.InstRune1:
		return in.MatchRune(r)
	}
	return false
}

type dfaThread struct {
	expr int
	pc   uint32
}

func buildDigitDFA(patterns []string) (*digitDFA, error) {
	if len(patterns) > 32 {
		return nil, errors.New("too many patterns")
	}
	progs := make([]*syntax.Prog, len(patterns))
	for i, p := range patterns {
		re, err := syntax.Parse(p, syntax.Perl)
		if err != nil {
			return nil, err
		}
		if progs[i], err = syntax.Compile(re.Simplify()); err != nil {
			return nil, err
		}
	}
	// closure adds the threads reachable from pc without reading input:
	// the ones waiting for a rune, and the expressions that have matched.
	var closure func(set map[dfaThread]bool, match *uint32, expr int, pc uint32) error
	closure = func(set map[dfaThread]bool, match *uint32, expr int, pc uint32) error {
		t := dfaThread{expr, pc}
		if set[t] {
			return nil
		}
		set[t] = true
		in := &progs[expr].Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			if err := closure(set, match, expr, in.Out); err != nil {
				return err
			}
			return closure(set, match, expr, in.Arg)
		case syntax.InstCapture, syntax.InstNop:
			return closure(set, match, expr, in.Out)
		case syntax.InstMatch:
			*match |= 1 << expr
		case syntax.InstFail, syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		default: // anchors and word boundaries: not in phone metadata
			return fmt.Errorf("unsupported instruction %v", in.Op)
		}
		return nil
	}
	consuming := func(set map[dfaThread]bool) []dfaThread {
		var ts []dfaThread
		for t := range set {
			switch progs[t.expr].Inst[t.pc].Op {
			case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
				ts = append(ts, t)
			}
		}
		slices.SortFunc(ts, func(a, b dfaThread) int {
			if a.expr != b.expr {
				return a.expr - b.expr
			}
			return int(a.pc) - int(b.pc)
		})
		return ts
	}
	a := &digitDFA{next: make([][10]int32, 1), match: make([]uint32, 1)} // state 0: dead
	ids := map[string]int32{}
	var queue [][]dfaThread
	add := func(ts []dfaThread, match uint32) int32 {
		if len(ts) == 0 && match == 0 {
			return 0
		}
		var kb strings.Builder
		fmt.Fprintf(&kb, "%x:", match)
		for _, t := range ts {
			fmt.Fprintf(&kb, "%d.%d,", t.expr, t.pc)
		}
		key := kb.String()
		if id, ok := ids[key]; ok {
			return id
		}
		id := int32(len(a.next))
		ids[key] = id
		a.next = append(a.next, [10]int32{})
		a.match = append(a.match, match)
		queue = append(queue, ts)
		return id
	}
	startSet := map[dfaThread]bool{}
	var startMatch uint32
	for i, p := range progs {
		if err := closure(startSet, &startMatch, i, uint32(p.Start)); err != nil {
			return nil, err
		}
	}
	a.start = add(consuming(startSet), startMatch)
	for id := int32(1); int(id) < len(a.next); id++ {
		if len(a.next) > maxDFAStates {
			return nil, errors.New("automaton too large")
		}
		ts := queue[id-1]
		for digit := range 10 {
			set := map[dfaThread]bool{}
			var match uint32
			for _, t := range ts {
				in := &progs[t.expr].Inst[t.pc]
				if instMatches(in, '0'+rune(digit)) {
					if err := closure(set, &match, t.expr, in.Out); err != nil {
						return nil, err
					}
				}
			}
			a.next[id][digit] = add(consuming(set), match)
		}
	}
	return a, nil
}
