package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"payroll/batch"
)

// Batch is a batch's metadata as stored in the batches bucket.
type Batch struct {
	ID                string    `json:"id"`
	File              string    `json:"file"`
	SheetHash         string    `json:"sheet_hash"`         // sha256 hex of the sheet's bytes at the last import
	ConfigFingerprint string    `json:"config_fingerprint"` // of the config at the last import
	Created           time.Time `json:"created"`
	Updated           time.Time `json:"updated"`
	Imports           int       `json:"imports"` // how many times the sheet was imported
	// Lines counts every line record (valid and invalid rows, and rows
	// that left the sheet).
	Lines int `json:"lines"`
	// Counts is the number of lines per state; it always sums to Lines.
	Counts map[batch.State]int `json:"counts"`
	// Totals is, per currency, the sum of the amounts of all valid line
	// records, whatever their state. Only an import changes it; Check
	// verifies that the lines still add up to it (conservation).
	Totals map[batch.Currency]batch.Money `json:"totals"`
	// SheetTotals is, per currency, the sum of the valid lines of the last
	// imported sheet.
	SheetTotals map[batch.Currency]batch.Money `json:"sheet_totals"`
	// ExtraColumns are the last sheet's columns that map to no canonical
	// column (department, cost centre, ...), carried to the report.
	ExtraColumns []string `json:"extra_columns,omitempty"`
	// Version goes up with every commit that changes what the batch's
	// report shows (a line record, its extra columns, the sheet's name):
	// an unchanged Version means an identical report.
	Version uint64 `json:"version,omitempty"`
	// Importing is the number of an import that has committed some of its
	// pages but not its last (ImportStream): none of the batch's lines is
	// claimed until the sheet is imported again to the end.
	Importing int `json:"importing,omitempty"`
}

// Attempt is one try at sending a line: the intent committed by Claim
// and, once known, its outcome.
type Attempt struct {
	ID          string            `json:"id"` // uuid v7; shared by the lines of one Claim
	Started     time.Time         `json:"started"`
	Ended       time.Time         `json:"ended,omitzero"`
	Outcome     batch.OutcomeKind `json:"outcome,omitempty"` // zero while in flight
	ProviderRef string            `json:"provider_ref,omitempty"`
	Error       string            `json:"error,omitempty"`
	// Result is the settled result of an accepted or unknown attempt:
	// paid or failed (by callback, poll or operator).
	Result batch.State `json:"result,omitempty"`
	// ClientRef is the reference this attempt sends to a provider that
	// takes one (the KiotaPay referenceId): derived from the batch, the
	// line and the attempt, committed with the intent, so that no two
	// attempts of any line or batch ever share one (AttemptRef).
	ClientRef string `json:"client_ref,omitempty"`
}

// settledFailed reports whether the attempt proved that it paid nothing:
// refused before anything ran, failed conclusively, or accepted (or
// unknown) and then settled as failed.
func (a *Attempt) settledFailed() bool {
	switch a.Outcome {
	case batch.OutcomeNotSent, batch.OutcomeFailed:
		return true
	case batch.OutcomeAccepted, batch.OutcomeUnknown:
		return a.Result == batch.StateFailed
	}
	return false // in flight
}

// mayHavePaid reports whether the attempt may have moved money: it reached
// the provider (accepted or unknown) and was not settled as failed.
func (a *Attempt) mayHavePaid() bool {
	return (a.Outcome == batch.OutcomeAccepted || a.Outcome == batch.OutcomeUnknown) && a.Result != batch.StateFailed
}

// LineRecord is one line of a batch as the ledger knows it.
type LineRecord struct {
	BatchID     string      `json:"-"`
	Seq         uint64      `json:"-"` // position in sheet order (1-based)
	State       batch.State `json:"-"`
	Fingerprint string      `json:"-"` // batch.Line.Fingerprint() of Line; "" for invalid rows
	// Extra is the sheet's other columns (kept beside the record, in the
	// batch's extras bucket; read by Lines), for the report only.
	Extra map[string]string `json:"-"`

	Ref     string            `json:"ref"`
	Line    batch.Line        `json:"line,omitzero"`     // zero for an invalid row
	Invalid *batch.InvalidRow `json:"invalid,omitempty"` // set while the row is invalid
	// Attempts in order; the last one is current.
	Attempts      []Attempt `json:"attempts,omitempty"`
	ProviderRef   string    `json:"provider_ref,omitempty"` // of the current attempt
	Receipt       string    `json:"receipt,omitempty"`
	FailureReason string    `json:"failure_reason,omitempty"`
	// Flags record conflicting facts that were not applied, e.g.
	// "conflicting-result" or "sheet-changed". A flagged line needs a
	// person; Retry never resends it.
	Flags []string `json:"flags,omitempty"`
	// Changed is the sheet's newer version of a line that could not be
	// applied because the line had been sent (a conflict).
	Changed *batch.Line `json:"changed,omitempty"`
	// ChangedInvalid is set when the sheet's newer version is invalid.
	ChangedInvalid *batch.InvalidRow `json:"changed_invalid,omitempty"`
	Created        time.Time         `json:"created"`
	Updated        time.Time         `json:"updated"`
	// SetBy is the batch's import (1-based) that last set Line: the one
	// that added the line, or a later one that updated or corrected it.
	// The duplicate guard lets two lines of one batch pay the same
	// destination and amount only when one import set both (the sheet
	// asked for both, and was warned). 0 for lines of ledgers older than
	// record format 3.
	SetBy int `json:"set_by,omitempty"`
}

// Retryable reports whether payroll retry may give the line a new
// attempt: it failed conclusively, no attempt may have paid it, nothing
// holds it for a person and the sheet has no newer version of it. The
// retry preview and Retry both ask this.
func (r *LineRecord) Retryable() bool {
	return r.State == batch.StateFailed && !r.Blocked() && !r.MayHavePaid() && r.Changed == nil && r.ChangedInvalid == nil
}

// MayHavePaid reports whether any attempt of the line may have moved
// money (accepted or unknown, and not settled as failed) or is still in
// flight. Such a line is never claimed again and never takes a sheet
// change (docs/design.md §3, invariants 1 and 6).
func (r *LineRecord) MayHavePaid() bool {
	for i := range r.Attempts {
		if !r.Attempts[i].settledFailed() {
			return true
		}
	}
	return false
}

// Flagged reports whether the line carries the flag.
func (r *LineRecord) Flagged(flag string) bool {
	for _, f := range r.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// Current returns the current attempt, or nil if the line was never sent.
func (r *LineRecord) Current() *Attempt {
	if len(r.Attempts) == 0 {
		return nil
	}
	return &r.Attempts[len(r.Attempts)-1]
}

func (r *LineRecord) attempt(id string) *Attempt {
	for i := range r.Attempts {
		if r.Attempts[i].ID == id {
			return &r.Attempts[i]
		}
	}
	return nil
}

func (r *LineRecord) addFlag(f string) {
	if !r.Flagged(f) {
		r.Flags = append(r.Flags, f)
	}
}

// Line flags. The first four record a conflicting fact and hold the line
// for a person (Blocked); the others only say what happened, for the
// report.
const (
	FlagConflictingResult = "conflicting-result" // a result contradicts the line's state
	FlagMismatch          = "result-mismatch"    // a result's amount or destination differs from the ledger
	FlagSheetChanged      = "sheet-changed"      // the sheet changed a line already sent
	FlagStaleOutcome      = "stale-outcome"      // an outcome arrived for an attempt that is not in flight

	FlagDuplicateAllowed   = "duplicate-allowed"    // sent with --allow-duplicates although it looked like a payment already made
	FlagResolvedByOperator = "resolved-by-operator" // an operator decided an unknown line
	FlagCorrected          = "corrected"            // the sheet corrected the line after every attempt failed
)

// informational flags do not hold a line.
var informational = map[string]bool{FlagDuplicateAllowed: true, FlagResolvedByOperator: true, FlagCorrected: true}

// Blocked reports whether the line carries a flag that holds it for a
// person: it is never claimed or retried.
func (r *LineRecord) Blocked() bool {
	for _, f := range r.Flags {
		if !informational[f] {
			return true
		}
	}
	return false
}

func (r *LineRecord) dropFlag(f string) {
	r.Flags = slices.DeleteFunc(r.Flags, func(x string) bool { return x == f })
	if len(r.Flags) == 0 {
		r.Flags = nil
	}
}

// Event is one entry of a batch's append-only log.
type Event struct {
	Seq     uint64      `json:"-"`
	Time    time.Time   `json:"t"`
	Ref     string      `json:"ref,omitempty"`
	From    batch.State `json:"from,omitempty"`
	To      batch.State `json:"to,omitempty"`
	Cause   string      `json:"cause"`
	Attempt string      `json:"attempt,omitempty"`
	Note    string      `json:"note,omitempty"`
	// Flagged marks a fact that was recorded but not applied (conflicting
	// or mismatched result, stale outcome, sheet conflict).
	Flagged bool `json:"flagged,omitempty"`
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// txn is one ledger transaction: the bbolt tx plus the batch metadata it
// has read (and may change), saved by flush before commit.
type txn struct {
	tx       *bolt.Tx
	now      time.Time
	ctx      context.Context
	metas    map[string]*Batch
	dirty    map[string]bool
	importNo int    // the import this transaction makes (Import only)
	path     string // the ledger file, for DamagedError
	legacy   bool   // records of the old format may be read (not migrated yet)
	key      []byte // scratch for keys: bbolt copies a key on Put
	buf      []byte // scratch for encoding a value before keep
	slab     []byte // values kept for the transaction, see keep
	x        *jtx   // the journal commit this transaction writes (nil: none)
	bumped   map[string]bool
}

// keep returns a copy of v that lives as long as the transaction. bbolt
// holds on to a Put value (not a copy) until commit, so bulk puts cannot
// share one buffer; copies are carved from slabs instead of allocated one
// by one.
func (t *txn) keep(v []byte) []byte {
	if cap(t.slab)-len(t.slab) < len(v) {
		t.slab = make([]byte, 0, max(min(2*cap(t.slab), 1<<20), 4<<10, len(v)))
	}
	n := len(t.slab)
	t.slab = append(t.slab, v...)
	return t.slab[n:len(t.slab):len(t.slab)]
}

// bkt is one batch's nested buckets within a transaction.
type bkt struct {
	id     string
	path   string // the ledger file
	legacy bool   // old-format records may be read
	meta   *Batch
	lines  wbucket
	refs   wbucket
	events wbucket
	extras wbucket // nil Bucket until a sheet with extra columns is imported
	root   *bolt.Bucket
}

// batch opens an existing batch's buckets; ErrNotFound if there is none.
func (t *txn) batch(id string) (*bkt, error) {
	m, err := t.meta(id)
	if err != nil {
		return nil, err
	}
	root := t.tx.Bucket(bktBatch).Bucket([]byte(id))
	if root == nil {
		return nil, &DamagedError{Path: t.path, Batch: id, Detail: "the batch has a record but no buckets"}
	}
	b := &bkt{id: id, path: t.path, legacy: t.legacy, meta: m,
		lines:  t.nested(root, id, bktLines),
		refs:   t.nested(root, id, bktRefs),
		events: t.nested(root, id, bktEvents),
		extras: t.nested(root, id, bktExtras),
		root:   root}
	b.events.event = true
	if b.lines.Bucket == nil || b.refs.Bucket == nil || b.events.Bucket == nil {
		return nil, &DamagedError{Path: t.path, Batch: id, Detail: "the batch has a record but not all its buckets"}
	}
	if t.tx.Writable() {
		b.lines.FillPercent = 1.0
		b.events.FillPercent = 1.0
	}
	return b, nil
}

func (t *txn) meta(id string) (*Batch, error) {
	if m, ok := t.metas[id]; ok {
		return m, nil
	}
	v := t.tx.Bucket(bktBatches).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("ledger: batch %q: %w", id, ErrNotFound)
	}
	js, err := openMeta(id, v, t.legacy)
	if err != nil {
		return nil, &DamagedError{Path: t.path, Batch: id, Detail: err.Error()}
	}
	m := &Batch{}
	if err := json.Unmarshal(js, m); err != nil {
		return nil, &DamagedError{Path: t.path, Batch: id, Detail: "batch record: " + err.Error()}
	}
	if m.Counts == nil {
		m.Counts = map[batch.State]int{}
	}
	t.metas[id] = m
	return m, nil
}

// createBatch makes the buckets of a new batch.
func (t *txn) createBatch(id string) (*bkt, error) {
	root, err := t.mkBucket(t.tx.Bucket(bktBatch), string(bktBatch), id)
	if err != nil {
		return nil, fmt.Errorf("ledger: create batch %q: %w", id, err)
	}
	for _, name := range [][]byte{bktLines, bktRefs, bktEvents} {
		if _, err := t.mkBucket(root, string(bktBatch), id, string(name)); err != nil {
			return nil, err
		}
	}
	m := &Batch{ID: id, Created: t.now, Updated: t.now, Counts: map[batch.State]int{},
		Totals: map[batch.Currency]batch.Money{}, SheetTotals: map[batch.Currency]batch.Money{}}
	t.metas[id] = m
	t.touch(id)
	return t.batch(id)
}

func (t *txn) touch(id string) {
	if t.dirty == nil {
		t.dirty = map[string]bool{}
	}
	t.dirty[id] = true
}

func (t *txn) flush() error {
	for id := range t.dirty {
		m := t.metas[id]
		m.Updated = t.now
		if err := t.bucket(bktBatches).Put([]byte(id), sealMeta(id, mustJSON(m))); err != nil {
			return err
		}
	}
	return nil
}

// get loads the line with the reference.
func (t *txn) get(b *bkt, ref string) (*LineRecord, error) {
	sk := b.refs.Get([]byte(ref))
	if sk == nil {
		return nil, fmt.Errorf("ledger: batch %q line %q: %w", b.id, ref, ErrNotFound)
	}
	if len(sk) != 8 {
		return nil, &DamagedError{Path: b.path, Batch: b.id, Ref: ref, Detail: "reference index entry is damaged"}
	}
	r, err := t.getSeq(b, binary.BigEndian.Uint64(sk))
	if err == nil && r.Ref != ref {
		return nil, &DamagedError{Path: b.path, Batch: b.id, Ref: ref, Detail: fmt.Sprintf("reference index points at line %q", r.Ref)}
	}
	return r, err
}

func (t *txn) getSeq(b *bkt, seq uint64) (*LineRecord, error) {
	v := b.lines.Get(seqKey(seq))
	if v == nil {
		return nil, &DamagedError{Path: b.path, Batch: b.id, Ref: fmt.Sprintf("#%d", seq), Detail: "an index names a line that is not there"}
	}
	return decodeRecord(b, seq, v)
}

// save writes a line record back (its state unchanged or already changed
// by move).
func (t *txn) save(b *bkt, r *LineRecord) error {
	r.Updated = t.now
	t.bump(b)
	t.buf = appendRecord(t.buf[:0], r)
	t.key = binary.BigEndian.AppendUint64(t.key[:0], r.Seq)
	return b.lines.putLine(t.key, t.keep(t.buf), r)
}

// setExtras records the sheet's other columns of a line as a JSON object
// (header → value, empty values left out; nothing at all when none),
// creating the batch's extras bucket on first use. They are for the report
// only: nothing decides a payment from them.
func (t *txn) setExtras(b *bkt, seq uint64, cols, vals []string) error {
	var m map[string]string
	for i, v := range vals {
		if v != "" && i < len(cols) {
			if m == nil {
				m = map[string]string{}
			}
			m[cols[i]] = v
		}
	}
	if b.extras.Bucket == nil {
		if m == nil {
			return nil
		}
		eb, err := t.mkBucket(b.root, string(bktBatch), b.id, string(bktExtras))
		if err != nil {
			return err
		}
		b.extras = t.nested(b.root, b.id, bktExtras)
		b.extras.Bucket = eb
	}
	k := seqKey(seq)
	old := b.extras.Get(k)
	if m == nil {
		if old == nil {
			return nil
		}
		t.bump(b)
		return b.extras.Delete(k)
	}
	v := mustJSON(m)
	if bytes.Equal(old, v) {
		return nil // unchanged: nothing written, nothing journaled
	}
	t.bump(b)
	return b.extras.Put(k, t.keep(v))
}

// bump marks the batch's report-visible content as changed in this
// transaction: its Version goes up once.
func (t *txn) bump(b *bkt) {
	t.touch(b.id)
	if t.bumped == nil {
		t.bumped = map[string]bool{}
	}
	if !t.bumped[b.id] {
		t.bumped[b.id] = true
		b.meta.Version++
	}
}

// nested returns a batch's bucket for reading and journaled writing.
func (t *txn) nested(root *bolt.Bucket, id string, name []byte) wbucket {
	w := wbucket{Bucket: root.Bucket(name), x: t.x}
	if t.x != nil {
		w.path = jpath(string(bktBatch), id, string(name))
	}
	return w
}

// event appends to the batch's log.
func (t *txn) event(b *bkt, e Event) error {
	seq, err := b.events.NextSequence()
	if err != nil {
		return err
	}
	e.Time = t.now
	return b.events.Put(seqKey(seq), mustJSON(e))
}

// flag records a fact that is not applied: an event marked flagged and a
// flag on the line.
func (t *txn) flag(b *bkt, r *LineRecord, flag string, e Event) error {
	e.Flagged = true
	e.Ref = r.Ref
	if e.Note == "" {
		e.Note = flag
	}
	if err := t.event(b, e); err != nil {
		return err
	}
	r.addFlag(flag)
	return t.save(b, r)
}

// View is the line as reports and status show it.
func (r *LineRecord) View() batch.LineView {
	v := batch.LineView{Row: r.Row(), Ref: r.Ref, Line: r.Line, Invalid: r.Invalid, State: r.State, Extra: r.Extra,
		Attempts: len(r.Attempts), ProviderRef: r.ProviderRef, Receipt: r.Receipt, FailureReason: r.FailureReason,
		Flags:        slices.DeleteFunc(slices.Clone(r.Flags), func(f string) bool { return f == FlagSheetChanged }),
		SheetChanged: r.State == batch.StateConflict || r.Changed != nil || r.ChangedInvalid != nil || r.Flagged(FlagSheetChanged),
		Changed:      r.Changed, Updated: r.Updated}
	if len(v.Flags) == 0 {
		v.Flags = nil
	}
	if a := r.Current(); a != nil && a.Outcome != batch.OutcomeNotSent {
		v.SentAt = a.Started
	}
	if r.State == batch.StatePaid || r.State == batch.StateFailed {
		v.SettledAt = r.Updated
	}
	return v
}

// A batch record is metaVersion, the CRC-32C of the batch ID, a NUL and
// the JSON, then the JSON. Before format 3 it was the JSON alone.
const metaVersion = 1

func sealMeta(id string, js []byte) []byte {
	out := make([]byte, 0, 5+len(js))
	out = append(out, metaVersion)
	out = binary.BigEndian.AppendUint32(out, metaSum(id, js))
	return append(out, js...)
}

func metaSum(id string, js []byte) uint32 {
	h := crc32.New(castagnoli)
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(js)
	return h.Sum32()
}

// openMeta checks a stored batch record and returns its JSON.
func openMeta(id string, v []byte, legacy bool) ([]byte, error) {
	if len(v) > 0 && v[0] == '{' && legacy {
		return v, nil
	}
	if len(v) < 5 || v[0] != metaVersion {
		return nil, errors.New("batch record has no known format")
	}
	if binary.BigEndian.Uint32(v[1:5]) != metaSum(id, v[5:]) {
		return nil, errors.New("batch record checksum mismatch")
	}
	return v[5:], nil
}
