package ledger

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"payroll/batch"
)

// Stored line value, format version 3: a fixed header that imports and
// scans read without decoding the rest, then a compact binary body.
//
//	[0]     format version (3; 2 is still read)
//	[1]     state code
//	[2:6]   sheet row number, big endian
//	[6:8]   fingerprint length, big endian
//	[8:n]   fingerprint
//	[n:]    body
//
// The body is a sequence of fields; integers are varints, strings are a
// uvarint length then the bytes, an enum is one byte (an index into a
// table below, or enumOther followed by the string), an amount is
// moneyZero, moneyCents + varint cents, or moneyText + its text, a time is
// varint Unix seconds + uvarint nanoseconds (UTC):
//
//	uvarint record bits (rec*)
//	Ref
//	Line                     if recLine; Reference omitted if recLineRef
//	Invalid as JSON          if recInvalid
//	uvarint n, n attempts: ID, Started, Ended, outcome enum,
//	                       ProviderRef, Error, result enum,
//	                       ClientRef (version 3)
//	ProviderRef, Receipt, FailureReason
//	uvarint n, n flags
//	Changed                  if recChanged (with its Reference)
//	ChangedInvalid as JSON   if recChangedInvalid
//	Created
//	Updated                  unless recSameTimes
//	uvarint SetBy            (version 3)
//
// Version 2 lacks the attempts' ClientRef and the line's SetBy; its
// records are read as having none and are written as version 3 when next
// saved.
// A Line is uvarint line bits (ln*), Row, the enums provider, destination
// type and currency, Amount, Requested unless lnSameRequested, then each
// optional string whose bit is set, in the order of the ln* bits.
const recVersion = 3

// recVersionOld is the previous format, still read.
const recVersionOld = 2

const hdrLen = 8

// Record bits.
const (
	recLine           = 1 << iota // Line is not the zero Line
	recLineRef                    // Line.Reference == Ref (not stored twice)
	recInvalid                    // Invalid != nil
	recChanged                    // Changed != nil
	recChangedInvalid             // ChangedInvalid != nil
	recSameTimes                  // Updated == Created
)

// Line bits: flags, then one per optional string field, in encoding order.
const (
	lnRefDerived = 1 << iota
	lnSameRequested
	lnReference
	lnName
	lnFirstName
	lnLastName
	lnPhone
	lnNetwork
	lnBankBranchRef
	lnAccountName
	lnAccountNumber
	lnTillNumber
	lnPaybillNumber
	lnPaybillAccount
	lnDescription
	lnOccasion
	lnNarration
	lnServiceCode
)

const firstLineString = lnName // lnReference is written separately

const (
	moneyZero  = 0
	moneyCents = 1
	moneyText  = 2
)

const enumOther = 0xff

// Enum tables: index 0 is always "". Append only: indexes are stored.
var (
	enumProviders = []string{"", string(batch.KopoKopo), string(batch.KiotaPay)}
	enumDestTypes = []string{"", string(batch.MobileWallet), string(batch.BankAccount), string(batch.Till), string(batch.Paybill)}
	enumCurrency  = []string{"", string(batch.KES), string(batch.TZS)}
	enumOutcomes  = []string{"", "accepted", "rejected", "failed", "unknown"}
	enumStates    = append([]string{""}, statesAsStrings()...)
)

// outcomeKinds maps the stored outcome names to the domain's kinds. The
// names are the on-disk contract (and the event log's causes): a not-sent
// outcome is stored as "rejected".
var outcomeKinds = map[string]batch.OutcomeKind{
	"accepted": batch.OutcomeAccepted, "rejected": batch.OutcomeNotSent,
	"failed": batch.OutcomeFailed, "unknown": batch.OutcomeUnknown,
}

// outcomeName is the stored name of an outcome kind ("" in flight).
func outcomeName(k batch.OutcomeKind) string {
	for n, v := range outcomeKinds {
		if v == k {
			return n
		}
	}
	return ""
}

// outcomeKind is the kind of a stored name; an unknown name reads as
// OutcomeUnknown, the kind that never lets a line be sent again.
func outcomeKind(s string) batch.OutcomeKind {
	if s == "" {
		return 0
	}
	if k, ok := outcomeKinds[s]; ok {
		return k
	}
	return batch.OutcomeUnknown
}

func statesAsStrings() []string {
	out := make([]string, len(batch.States))
	for i, s := range batch.States {
		out[i] = string(s)
	}
	return out
}

var stateCodes = map[batch.State]byte{}
var codeStates [16]batch.State

func init() {
	for i, s := range batch.States {
		stateCodes[s] = byte(i + 1)
		codeStates[i+1] = s
	}
}

// encodeRecord returns r's stored value in a new slice.
func encodeRecord(r *LineRecord) []byte {
	return appendRecord(make([]byte, 0, hdrLen+len(r.Fingerprint)+96), r)
}

// appendRecord appends r's stored value to dst.
func appendRecord(dst []byte, r *LineRecord) []byte {
	dst = append(dst, recVersion, stateCodes[r.State], 0, 0, 0, 0, 0, 0)
	h := dst[len(dst)-hdrLen:]
	binary.BigEndian.PutUint32(h[2:6], uint32(r.Row()))
	binary.BigEndian.PutUint16(h[6:8], uint16(len(r.Fingerprint)))
	dst = append(dst, r.Fingerprint...)

	var bits uint64
	hasLine := r.Line != (batch.Line{})
	if hasLine {
		bits |= recLine
		if r.Line.Reference == r.Ref {
			bits |= recLineRef
		}
	}
	if r.Invalid != nil {
		bits |= recInvalid
	}
	if r.Changed != nil {
		bits |= recChanged
	}
	if r.ChangedInvalid != nil {
		bits |= recChangedInvalid
	}
	if r.Updated.Equal(r.Created) {
		bits |= recSameTimes
	}
	dst = binary.AppendUvarint(dst, bits)
	dst = appendString(dst, r.Ref)
	if hasLine {
		dst = appendLine(dst, &r.Line, bits&recLineRef != 0)
	}
	if r.Invalid != nil {
		dst = appendBytes(dst, mustJSON(r.Invalid))
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Attempts)))
	for i := range r.Attempts {
		a := &r.Attempts[i]
		dst = appendString(dst, a.ID)
		dst = appendTime(dst, a.Started)
		dst = appendTime(dst, a.Ended)
		dst = appendEnum(dst, enumOutcomes, outcomeName(a.Outcome))
		dst = appendString(dst, a.ProviderRef)
		dst = appendString(dst, a.Error)
		dst = appendEnum(dst, enumStates, string(a.Result))
		dst = appendString(dst, a.ClientRef)
	}
	dst = appendString(dst, r.ProviderRef)
	dst = appendString(dst, r.Receipt)
	dst = appendString(dst, r.FailureReason)
	dst = binary.AppendUvarint(dst, uint64(len(r.Flags)))
	for _, f := range r.Flags {
		dst = appendString(dst, f)
	}
	if r.Changed != nil {
		dst = appendLine(dst, r.Changed, false)
	}
	if r.ChangedInvalid != nil {
		dst = appendBytes(dst, mustJSON(r.ChangedInvalid))
	}
	dst = appendTime(dst, r.Created)
	if bits&recSameTimes == 0 {
		dst = appendTime(dst, r.Updated)
	}
	return binary.AppendUvarint(dst, uint64(r.SetBy))
}

// lineStrings returns pointers to a line's optional strings in the order
// of the ln* bits from firstLineString.
func lineStrings(l *batch.Line) [16]*string {
	d := &l.Dest
	return [16]*string{&l.Name, &l.FirstName, &l.LastName, (*string)(&d.Phone), &d.Network,
		&d.BankBranchRef, &d.AccountName, &d.AccountNumber, &d.TillNumber, &d.PaybillNumber,
		&d.PaybillAccount, &l.Description, &l.Occasion, &l.Narration, &l.ServiceCode, nil}
}

func appendLine(dst []byte, l *batch.Line, refIsRecordRef bool) []byte {
	var bits uint64
	if l.RefDerived {
		bits |= lnRefDerived
	}
	if l.Requested.Equal(l.Amount) {
		bits |= lnSameRequested
	}
	if !refIsRecordRef {
		bits |= lnReference
	}
	strs := lineStrings(l)
	for i, p := range strs {
		if p != nil && *p != "" {
			bits |= firstLineString << i
		}
	}
	dst = binary.AppendUvarint(dst, bits)
	dst = binary.AppendVarint(dst, int64(l.Row))
	if bits&lnReference != 0 {
		dst = appendString(dst, l.Reference)
	}
	dst = appendEnum(dst, enumProviders, string(l.Provider))
	dst = appendEnum(dst, enumDestTypes, string(l.Dest.Type))
	dst = appendEnum(dst, enumCurrency, string(l.Currency))
	dst = appendMoney(dst, l.Amount)
	if bits&lnSameRequested == 0 {
		dst = appendMoney(dst, l.Requested)
	}
	for i, p := range strs {
		if bits&(firstLineString<<i) != 0 {
			dst = appendString(dst, *p)
		}
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendEnum(dst []byte, table []string, s string) []byte {
	for i, v := range table {
		if v == s {
			return append(dst, byte(i))
		}
	}
	return appendString(append(dst, enumOther), s)
}

// appendTime stores the instant in UTC; the ledger only stores UTC times.
func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

// moneyCentsOf returns m in cents when it is a whole number of cents that
// fits comfortably in an int64.
func moneyCentsOf(m batch.Money) (int64, bool) {
	d := m.Decimal()
	exp := int(d.Exponent())
	if exp < -2 || exp > 16 || d.NumDigits()+exp+2 > 18 {
		return 0, false
	}
	c := d.CoefficientInt64()
	for range exp + 2 {
		c *= 10
	}
	return c, true
}

func appendMoney(dst []byte, m batch.Money) []byte {
	if m.IsZero() {
		return append(dst, moneyZero)
	}
	if c, ok := moneyCentsOf(m); ok {
		return binary.AppendVarint(append(dst, moneyCents), c)
	}
	return appendString(append(dst, moneyText), m.String())
}

// centMoney[i] is i cents, for i in 1..99.
var centMoney = func() [100]batch.Money {
	var t [100]batch.Money
	for i := 1; i < 100; i++ {
		t[i] = batch.MustMoney(fmt.Sprintf("0.%02d", i))
	}
	return t
}()

func moneyFromCents(c int64) batch.Money {
	if c == 0 {
		return batch.Money{}
	}
	neg := c < 0
	if neg {
		if c == math.MinInt64 {
			c++ // unreachable: encoders never write it
		}
		c = -c
	}
	m := batch.MoneyFromUnits(c / 100)
	if f := c % 100; f != 0 {
		m = m.Add(centMoney[f])
	}
	if neg {
		return batch.Money{}.Sub(m)
	}
	return m
}

// header is the undecoded start of a stored line.
type header struct {
	state batch.State
	row   int
	fp    []byte // aliases the stored value
}

// peekRecord reads the header of a stored value without decoding the body.
func peekRecord(v []byte) (header, error) {
	if len(v) < hdrLen || (v[0] != recVersion && v[0] != recVersionOld) || int(v[1]) >= len(codeStates) || codeStates[v[1]] == "" {
		return header{}, fmt.Errorf("ledger: corrupt line record header: %w", ErrInvariant)
	}
	n := int(binary.BigEndian.Uint16(v[6:8]))
	if len(v) < hdrLen+n {
		return header{}, fmt.Errorf("ledger: short line record: %w", ErrInvariant)
	}
	return header{state: codeStates[v[1]], row: int(binary.BigEndian.Uint32(v[2:6])), fp: v[hdrLen : hdrLen+n]}, nil
}

// Row is the line's row number in the sheet (as Excel shows it).
func (r *LineRecord) Row() int {
	if r.Invalid != nil {
		return r.Invalid.Row
	}
	return r.Line.Row
}

func decodeRecord(batchID string, seq uint64, v []byte) (*LineRecord, error) {
	h, err := peekRecord(v)
	if err != nil {
		return nil, err
	}
	r := &LineRecord{BatchID: batchID, Seq: seq, State: h.state}
	// One string holds the fingerprint and the body; every decoded string
	// is a substring of it.
	s := string(v[hdrLen:])
	r.Fingerprint = s[:len(h.fp)]
	d := decoder{s: s, off: len(h.fp), version: v[0]}
	d.record(r)
	if d.err == nil && d.off != len(s) {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("ledger: decode line %s/%d: %v: %w", batchID, seq, d.err, ErrInvariant)
	}
	return r, nil
}

// decoder reads a body; after the first error every read returns zero.
type decoder struct {
	s       string
	off     int
	err     error
	version byte
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("corrupt record at byte %d: %s", d.off, what)
	}
}

func (d *decoder) record(r *LineRecord) {
	bits := d.uvarint()
	r.Ref = d.string()
	if bits&recLine != 0 {
		d.line(&r.Line, r.Ref, bits&recLineRef != 0)
	}
	if bits&recInvalid != 0 {
		r.Invalid = d.invalid()
	}
	if n := d.count(); n > 0 {
		r.Attempts = make([]Attempt, n)
		for i := range r.Attempts {
			a := &r.Attempts[i]
			a.ID = d.string()
			a.Started = d.time()
			a.Ended = d.time()
			a.Outcome = outcomeKind(d.enum(enumOutcomes))
			a.ProviderRef = d.string()
			a.Error = d.string()
			a.Result = batch.State(d.enum(enumStates))
			if d.version >= 3 {
				a.ClientRef = d.string()
			}
		}
	}
	r.ProviderRef = d.string()
	r.Receipt = d.string()
	r.FailureReason = d.string()
	if n := d.count(); n > 0 {
		r.Flags = make([]string, n)
		for i := range r.Flags {
			r.Flags[i] = d.string()
		}
	}
	if bits&recChanged != 0 {
		r.Changed = &batch.Line{}
		d.line(r.Changed, "", false)
	}
	if bits&recChangedInvalid != 0 {
		r.ChangedInvalid = d.invalid()
	}
	r.Created = d.time()
	r.Updated = r.Created
	if bits&recSameTimes == 0 {
		r.Updated = d.time()
	}
	if d.version >= 3 {
		r.SetBy = int(d.uvarint())
	}
}

func (d *decoder) line(l *batch.Line, ref string, refIsRecordRef bool) {
	bits := d.uvarint()
	l.Row = int(d.varint())
	l.RefDerived = bits&lnRefDerived != 0
	if bits&lnReference != 0 {
		l.Reference = d.string()
	} else if refIsRecordRef {
		l.Reference = ref
	}
	l.Provider = batch.ProviderName(d.enum(enumProviders))
	l.Dest.Type = batch.DestType(d.enum(enumDestTypes))
	l.Currency = batch.Currency(d.enum(enumCurrency))
	l.Amount = d.money()
	l.Requested = l.Amount
	if bits&lnSameRequested == 0 {
		l.Requested = d.money()
	}
	for i, p := range lineStrings(l) {
		if bits&(firstLineString<<i) != 0 {
			if p == nil {
				d.fail("unknown line field")
				return
			}
			*p = d.string()
		}
	}
}

func (d *decoder) invalid() *batch.InvalidRow {
	js := d.string()
	if d.err != nil {
		return nil
	}
	inv := &batch.InvalidRow{}
	if err := json.Unmarshal([]byte(js), inv); err != nil {
		d.fail("invalid row: " + err.Error())
		return nil
	}
	return inv
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if d.off >= len(d.s) {
			break
		}
		b := d.s[d.off]
		d.off++
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<s
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	d.fail("bad varint")
	return 0
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// count reads a length that must fit in what is left.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.off) {
		d.fail("bad length")
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := d.s[d.off : d.off+n]
	d.off += n
	return s
}

func (d *decoder) enum(table []string) string {
	if d.err != nil {
		return ""
	}
	if d.off >= len(d.s) {
		d.fail("short enum")
		return ""
	}
	i := int(d.s[d.off])
	d.off++
	if i == enumOther {
		return d.string()
	}
	if i >= len(table) {
		d.fail("bad enum")
		return ""
	}
	return table[i]
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= 1e9 {
		d.fail("bad time")
		return time.Time{}
	}
	if d.err != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) money() batch.Money {
	if d.err != nil {
		return batch.Money{}
	}
	if d.off >= len(d.s) {
		d.fail("short amount")
		return batch.Money{}
	}
	tag := d.s[d.off]
	d.off++
	switch tag {
	case moneyZero:
		return batch.Money{}
	case moneyCents:
		return moneyFromCents(d.varint())
	case moneyText:
		var m batch.Money
		if err := m.UnmarshalText([]byte(d.string())); err != nil && d.err == nil {
			d.fail(err.Error())
		}
		return m
	}
	d.fail("bad amount tag")
	return batch.Money{}
}
