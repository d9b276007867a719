package ledger

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"reflect"
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

// recVersionOld is the previous format: read only to migrate it (and by a
// read-only open of a ledger not migrated yet).
const recVersionOld = 2

// crcLen is the trailer of a version-3 record: CRC-32C (Castagnoli) of the
// batch ID, a NUL, the line's key and the record before the trailer, so a
// flipped bit, a truncated value, or a record moved to another line's key
// is found on read.
const crcLen = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func recordSum(batchID string, seq uint64, v []byte) uint32 {
	h := crc32.New(castagnoli)
	h.Write([]byte(batchID))
	h.Write([]byte{0})
	h.Write(binary.BigEndian.AppendUint64(nil, seq))
	h.Write(v)
	return h.Sum32()
}

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

// stateCodes is the on-disk byte of each state: an explicit table, append
// only (a new state takes the next code), never derived from the order of
// a display list. TestStateCodes pins it.
var stateCodes = map[batch.State]byte{
	batch.StatePending: 1, batch.StateSending: 2, batch.StateAccepted: 3, batch.StatePaid: 4, batch.StateFailed: 5,
	batch.StateUnknown: 6, batch.StateInvalid: 7, batch.StateConflict: 8, batch.StateCancelled: 9,
}

var codeStates = func() (t [16]batch.State) {
	for s, c := range stateCodes {
		t[c] = s
	}
	return t
}()

// encodeRecord returns r's stored value in a new slice.
func encodeRecord(r *LineRecord) []byte {
	return appendRecord(make([]byte, 0, hdrLen+len(r.Fingerprint)+96), r)
}

// appendRecord appends r's stored value to dst.
func appendRecord(dst []byte, r *LineRecord) []byte {
	start := len(dst)
	dst = append(dst, recVersion, stateCodes[r.State], 0, 0, 0, 0, 0, 0)
	h := dst[len(dst)-hdrLen:]
	binary.BigEndian.PutUint32(h[2:6], uint32(r.Row()))
	binary.BigEndian.PutUint16(h[6:8], uint16(len(r.Fingerprint)))
	dst = append(dst, r.Fingerprint...)

	var bits uint64
	hasLine := !zeroLine(&r.Line)
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
	dst = binary.AppendUvarint(dst, uint64(r.SetBy))
	return binary.BigEndian.AppendUint32(dst, recordSum(r.BatchID, r.Seq, dst[start:]))
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

// peekRecord reads the header of a stored value without decoding the body
// (and without checking its sum: decodeRecord does). A version-2 record
// is read only where legacy is true.
func peekRecord(b *bkt, v []byte) (header, error) {
	trailer := crcLen
	if len(v) > 0 && v[0] == recVersionOld && b.legacy {
		trailer = 0
	}
	if len(v) < hdrLen+trailer || (v[0] != recVersion && trailer != 0) || int(v[1]) >= len(codeStates) || codeStates[v[1]] == "" {
		return header{}, &DamagedError{Path: b.path, Batch: b.id, Detail: "corrupt line record header"}
	}
	n := int(binary.BigEndian.Uint16(v[6:8]))
	if len(v) < hdrLen+n+trailer {
		return header{}, &DamagedError{Path: b.path, Batch: b.id, Detail: "short line record"}
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

// zeroLine reports whether l is the zero Line (an invalid row's record has
// none). Extra is not part of the record (it is kept beside it).
func zeroLine(l *batch.Line) bool {
	c := *l
	c.Extra = nil
	return reflect.ValueOf(c).IsZero()
}
