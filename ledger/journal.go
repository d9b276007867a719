package ledger

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The journal (docs/design.md §3) is an append-only file of JSON lines
// beside the ledger, <ledger>.journal, mode 0600. Every write transaction
// of the ledger is mirrored by one commit in the journal: one or more
// lines (at most jLineOps changes each), the last one marked "end". Each
// line carries the SHA-256 of the line before it ("prev"), so an edited
// line breaks the chain right after it. A commit is written and fsynced
// before the bbolt transaction it mirrors commits, so the journal is
// always the ledger or one commit ahead of it; the ledger stores, in the
// same transaction, the head it has applied (meta/journal). A commit's
// changes are bucket operations (put, del, mk, seq) with keys and values
// in base64, so that a replay gives the ledger back byte for byte; events
// are also shown as JSON and line records as a readable "line" view for
// an auditor (docs/journal.md shows jq recipes).
//
// A line:
//
//	{"seq":7,"prev":"<sha256 hex of line 6>","commit":5,"op":"claim",
//	 "at":"2026-11-30T09:00:00Z","ops":[{"o":"put","b":["inflight"],"k":"…","v":""},…],"end":true}

// JournalPath is the journal of the ledger at path.
func JournalPath(ledgerPath string) string { return ledgerPath + ".journal" }

const (
	jLineOps   = 512     // changes per journal line at most
	jLineBytes = 1 << 20 // a line is ended once it is this long
)

var keyJournal = []byte("journal") // meta: the journal head the ledger applied

// ErrJournal is wrapped by every disagreement between the ledger and its
// journal; errors.Is(err, ErrDamaged) holds for them too.
var ErrJournal = errors.New("ledger and journal disagree")

// jhead is the last journal line of the last commit the ledger applied.
type jhead struct {
	Seq    uint64 `json:"seq"`    // its sequence number (0: none yet)
	Commit uint64 `json:"commit"` // its commit number
	Sum    string `json:"sha256"` // its SHA-256, hex
	Start  int64  `json:"start"`  // its offset in the journal
	End    int64  `json:"end"`    // the offset after its newline: the journal's length then
}

// journal is the open journal of a writable ledger.
type journal struct {
	f      *os.File
	path   string
	head   jhead // the last commit written and applied
	syncs  atomic.Int64
	broken error // a failed commit could not be taken back: nothing more is written
}

// JournalError says how the journal and the ledger disagree.
type JournalError struct {
	Path   string // the journal
	Seq    uint64 // the journal line, when one is named
	Detail string
}

func (e *JournalError) Error() string {
	where := e.Path
	if e.Seq > 0 {
		where += fmt.Sprintf(": entry %d", e.Seq)
	}
	return fmt.Sprintf("ledger damaged: %s: %s; nothing was sent; run `payroll check`, then `payroll recover`", where, e.Detail)
}

func (e *JournalError) Unwrap() []error { return []error{ErrJournal, ErrDamaged} }

func journalErr(path string, seq uint64, format string, a ...any) error {
	return &JournalError{Path: path, Seq: seq, Detail: fmt.Sprintf(format, a...)}
}

// jline is one journal line as read back.
type jline struct {
	Seq    uint64 `json:"seq"`
	Prev   string `json:"prev"`
	Commit uint64 `json:"commit"`
	Op     string `json:"op"`
	At     string `json:"at"`
	Ops    []jop  `json:"ops"`
	End    bool   `json:"end"`

	sum        string // SHA-256 of the line, hex
	start, end int64  // offsets of the line and after its newline
}

// jop is one change; Line is for readers and ignored by replay.
type jop struct {
	O     string          `json:"o"` // put, del, mk (create bucket), seq (set sequence)
	B     []string        `json:"b"` // bucket path from the root
	K     []byte          `json:"k,omitempty"`
	V     []byte          `json:"v,omitempty"`
	Event json.RawMessage `json:"event,omitempty"` // the value, when it is an event
	N     uint64          `json:"n,omitempty"`
}

func sum(line []byte) string {
	s := sha256.Sum256(line)
	return hex.EncodeToString(s[:])
}

// jtx writes one commit while its transaction runs: changes are encoded
// as they are made, a line is written out when full, and finish ends the
// commit and fsyncs. Nothing is kept but the line being built.
type jtx struct {
	j      *journal
	w      *bufio.Writer
	op     string
	at     string
	commit uint64
	seq    uint64 // of the line being built
	prev   string
	line   []byte
	nops   int
	off    int64 // where the next line starts
	start  int64 // where the commit starts
	last   jhead
	err    error
	any    bool // the commit has changes
	inLine bool // a line is being built
}

func (j *journal) begin(op string, now time.Time) *jtx {
	return &jtx{j: j, op: op, at: now.Format(time.RFC3339Nano), commit: j.head.Commit + 1,
		seq: j.head.Seq + 1, prev: j.head.Sum, off: j.head.End, start: j.head.End}
}

func (x *jtx) open() {
	if x.w == nil {
		if _, err := x.j.f.Seek(x.start, io.SeekStart); err != nil {
			x.err = err
			return
		}
		x.w = bufio.NewWriterSize(x.j.f, 256<<10)
	}
	x.line = append(x.line[:0], `{"seq":`...)
	x.line = strconv.AppendUint(x.line, x.seq, 10)
	x.line = append(x.line, `,"prev":"`...)
	x.line = append(x.line, x.prev...)
	x.line = append(x.line, `","commit":`...)
	x.line = strconv.AppendUint(x.line, x.commit, 10)
	x.line = append(x.line, `,"op":`...)
	x.line = strconv.AppendQuote(x.line, x.op)
	x.line = append(x.line, `,"at":"`...)
	x.line = append(x.line, x.at...)
	x.line = append(x.line, `","ops":[`...)
	x.nops = 0
	x.inLine = true
}

// change starts an op of kind o on bucket path (JSON) and returns the
// line to append its fields to; done closes it.
func (x *jtx) change(o string, path []byte) {
	if x.err != nil {
		return
	}
	if !x.inLine {
		x.any = true
		x.open()
	}
	if x.nops > 0 {
		x.line = append(x.line, ',')
	}
	x.nops++
	x.line = append(x.line, `{"o":"`...)
	x.line = append(x.line, o...)
	x.line = append(x.line, `","b":`...)
	x.line = append(x.line, path...)
}

func (x *jtx) done() {
	x.line = append(x.line, '}')
	if x.nops >= jLineOps || len(x.line) >= jLineBytes {
		x.flushLine(false)
	}
}

func (x *jtx) b64(field string, v []byte) {
	x.line = append(x.line, `,"`...)
	x.line = append(x.line, field...)
	x.line = append(x.line, `":"`...)
	x.line = base64.StdEncoding.AppendEncode(x.line, v)
	x.line = append(x.line, '"')
}

func (x *jtx) put(path, k, v []byte, event bool, view *LineRecord) {
	x.change("put", path)
	if x.err != nil {
		return
	}
	x.b64("k", k)
	if event && json.Valid(v) && !bytes.ContainsAny(v, "\n\r") {
		x.line = append(x.line, `,"event":`...)
		x.line = append(x.line, v...)
	} else {
		x.b64("v", v)
	}
	if view != nil {
		x.line = append(x.line, `,"line":`...)
		x.line = appendLineView(x.line, view)
	}
	x.done()
}

func (x *jtx) del(path, k []byte) {
	x.change("del", path)
	if x.err != nil {
		return
	}
	x.b64("k", k)
	x.done()
}

func (x *jtx) mk(path []byte) {
	x.change("mk", path)
	if x.err != nil {
		return
	}
	x.done()
}

func (x *jtx) setSeq(path []byte, n uint64) {
	x.change("seq", path)
	if x.err != nil {
		return
	}
	x.line = append(x.line, `,"n":`...)
	x.line = strconv.AppendUint(x.line, n, 10)
	x.done()
}

// flushLine ends the line being built and writes it out.
func (x *jtx) flushLine(end bool) {
	if x.err != nil {
		return
	}
	x.line = append(x.line, ']')
	if end {
		x.line = append(x.line, `,"end":true`...)
	}
	x.line = append(x.line, '}')
	s := sum(x.line)
	x.line = append(x.line, '\n')
	if _, err := x.w.Write(x.line); err != nil {
		x.err = err
		return
	}
	n := int64(len(x.line))
	x.last = jhead{Seq: x.seq, Commit: x.commit, Sum: s, Start: x.off, End: x.off + n}
	x.off += n
	x.prev = s
	x.seq++
	x.line = x.line[:0]
	x.nops = 0
	x.inLine = false
}

// failed is the error met while encoding (nil-safe).
func (x *jtx) failed() error {
	if x == nil || x.err == nil {
		return nil
	}
	return fmt.Errorf("ledger: journal %s: %w", x.j.path, x.err)
}

// finish ends the commit and makes it durable: one fsync.
func (x *jtx) finish() (jhead, error) {
	if x.err == nil && !x.inLine {
		x.open() // the last line was written out full: end with an empty one
	}
	x.flushLine(true)
	if x.err == nil {
		x.err = x.w.Flush()
	}
	if x.err == nil {
		x.err = x.j.f.Sync()
		x.j.syncs.Add(1)
	}
	if x.err != nil {
		return jhead{}, fmt.Errorf("ledger: journal %s: %w", x.j.path, x.err)
	}
	return x.last, nil
}

// abort takes back whatever the commit wrote: its transaction did not
// commit. If that fails the journal is broken for this process.
func (x *jtx) abort() {
	if !x.any {
		return
	}
	if err := x.j.f.Truncate(x.start); err != nil {
		x.j.broken = err
		return
	}
	if err := x.j.f.Sync(); err != nil {
		x.j.broken = err
	}
}

// wbucket is a bucket whose writes are journaled.
type wbucket struct {
	*bolt.Bucket
	path  []byte // JSON array of bucket names
	x     *jtx   // nil: not journaled (init, migrate: a base commit follows)
	event bool   // values are events (JSON)
}

func (w wbucket) Put(k, v []byte) error {
	if err := w.Bucket.Put(k, v); err != nil {
		return err
	}
	if w.x != nil {
		w.x.put(w.path, k, v, w.event, nil)
	}
	return nil
}

// putLine writes a line record and journals a readable view of it.
func (w wbucket) putLine(k, v []byte, r *LineRecord) error {
	if err := w.Bucket.Put(k, v); err != nil {
		return err
	}
	if w.x != nil {
		w.x.put(w.path, k, v, false, r)
	}
	return nil
}

func (w wbucket) Delete(k []byte) error {
	if err := w.Bucket.Delete(k); err != nil {
		return err
	}
	if w.x != nil {
		w.x.del(w.path, k)
	}
	return nil
}

func (w wbucket) NextSequence() (uint64, error) {
	n, err := w.Bucket.NextSequence()
	if err == nil && w.x != nil {
		w.x.setSeq(w.path, n)
	}
	return n, err
}

// jpath encodes a bucket path as the journal writes it.
func jpath(names ...string) []byte {
	b, _ := json.Marshal(names)
	return b
}

// bucket returns the top-level bucket name for writing.
func (t *txn) bucket(name []byte) wbucket {
	return wbucket{Bucket: t.tx.Bucket(name), path: jpath(string(name)), x: t.x}
}

// mkBucket creates a nested bucket under parent (nil: the root) and
// journals it.
func (t *txn) mkBucket(parent *bolt.Bucket, names ...string) (*bolt.Bucket, error) {
	name := []byte(names[len(names)-1])
	var b *bolt.Bucket
	var err error
	if parent == nil {
		b, err = t.tx.CreateBucket(name)
	} else {
		b, err = parent.CreateBucket(name)
	}
	if err == nil && t.x != nil {
		t.x.mk(jpath(names...))
	}
	return b, err
}

// lineView is a line record as an auditor reads it in the journal
// (appendLineView writes it; tests read it back).
type lineView struct {
	Ref         string   `json:"ref"`
	Row         int      `json:"row,omitempty"`
	State       string   `json:"state"`
	Type        string   `json:"type,omitempty"`
	Destination string   `json:"destination,omitempty"`
	Amount      string   `json:"amount,omitempty"`
	Currency    string   `json:"currency,omitempty"`
	Attempts    int      `json:"attempts,omitempty"`
	ProviderRef string   `json:"provider_ref,omitempty"`
	Receipt     string   `json:"receipt,omitempty"`
	Flags       []string `json:"flags,omitempty"`
}

// appendLineView appends r's lineView as JSON, without reflection: it
// runs for every line record written.
func appendLineView(b []byte, r *LineRecord) []byte {
	b = append(b, `{"ref":`...)
	b = appendJSONString(b, r.Ref)
	if row := r.Row(); row != 0 {
		b = append(b, `,"row":`...)
		b = strconv.AppendInt(b, int64(row), 10)
	}
	b = append(b, `,"state":`...)
	b = appendJSONString(b, string(r.State))
	field := func(name, v string) {
		if v != "" {
			b = append(b, ',', '"')
			b = append(b, name...)
			b = append(b, '"', ':')
			b = appendJSONString(b, v)
		}
	}
	if r.Invalid == nil {
		field("type", string(r.Line.Dest.Type))
		field("destination", r.Line.Dest.Display())
		field("amount", r.Line.Amount.String())
		field("currency", string(r.Line.Currency))
	}
	if n := len(r.Attempts); n > 0 {
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(n), 10)
	}
	field("provider_ref", r.ProviderRef)
	field("receipt", r.Receipt)
	if len(r.Flags) > 0 {
		b = append(b, `,"flags":[`...)
		for i, f := range r.Flags {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, f)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: printable ASCII without
// quotes or backslashes as it is, anything else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			js, _ := json.Marshal(s)
			return append(b, js...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// openJournal opens (creating) the journal of the ledger at path and
// takes its lock.
func openJournal(ledgerPath string) (*journal, error) {
	p := JournalPath(ledgerPath)
	_, statErr := os.Stat(p)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: journal: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, &busyError{path: p, err: err}
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if err := syncDir(filepath.Dir(p)); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &journal{f: f, path: p}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("ledger: sync %s: %w", dir, err)
	}
	return nil
}

// readHead returns the journal head the ledger applied, if any.
func readHead(tx *bolt.Tx) (jhead, bool, error) {
	m := tx.Bucket(bktMeta)
	if m == nil {
		return jhead{}, false, nil
	}
	v := m.Get(keyJournal)
	if v == nil {
		return jhead{}, false, nil
	}
	var h jhead
	if err := json.Unmarshal(v, &h); err != nil || h.Seq == 0 || h.End <= h.Start {
		return jhead{}, false, errors.New("the journal head it records is unreadable")
	}
	return h, true, nil
}

// reader reads journal lines from an offset, checking each line's JSON
// and hash; a line without its newline is torn.
type reader struct {
	r    *bufio.Reader
	off  int64
	path string
}

var errTorn = errors.New("torn line")

func newReader(f *os.File, off int64, path string) (*reader, error) {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return &reader{r: bufio.NewReaderSize(f, 1<<20), off: off, path: path}, nil
}

// next returns the next line; io.EOF at a clean end, errTorn for a last
// line without its newline, another error for a line that is not JSON.
func (rd *reader) next() (*jline, error) {
	b, err := rd.r.ReadSlice('\n')
	var long []byte
	for errors.Is(err, bufio.ErrBufferFull) {
		long = append(long, b...)
		b, err = rd.r.ReadSlice('\n')
	}
	if long != nil {
		b = append(long, b...)
	}
	if errors.Is(err, io.EOF) {
		if len(b) == 0 {
			return nil, io.EOF
		}
		return nil, errTorn
	}
	if err != nil {
		return nil, err
	}
	l := &jline{start: rd.off, end: rd.off + int64(len(b))}
	rd.off = l.end
	body := b[:len(b)-1]
	if !parseLine(body, l) {
		// Not in the form this package writes: encoding/json decides, and
		// says what is wrong.
		*l = jline{start: l.start, end: l.end}
		if err := json.Unmarshal(body, l); err != nil {
			return nil, fmt.Errorf("the line at byte %d is not a journal entry: %v", l.start, err)
		}
	}
	l.sum = sum(body)
	return l, nil
}
