package ledger

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"payroll/batch"
)

// decodeRecord decodes and checks one stored line of batch b: a record
// whose sum does not match is damage (DamagedError naming the batch and
// the line's key), as is any record of the old format once the ledger is
// migrated.
func decodeRecord(b *bkt, seq uint64, v []byte) (*LineRecord, error) {
	h, err := peekRecord(b, v)
	if err != nil {
		err.(*DamagedError).Ref = fmt.Sprintf("#%d", seq)
		return nil, err
	}
	if v[0] == recVersion {
		body := v[:len(v)-crcLen]
		if binary.BigEndian.Uint32(v[len(body):]) != recordSum(b.id, seq, body) {
			return nil, &DamagedError{Path: b.path, Batch: b.id, Ref: fmt.Sprintf("#%d", seq), Detail: "line record checksum mismatch"}
		}
		v = body
	}
	r := &LineRecord{BatchID: b.id, Seq: seq, State: h.state}
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
		return nil, &DamagedError{Path: b.path, Batch: b.id, Ref: fmt.Sprintf("#%d", seq), Detail: d.err.Error()}
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
