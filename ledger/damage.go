package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
)

// ErrDamaged means the ledger file is empty, truncated or altered: it is
// not trusted, and nothing is sent from it (docs/design.md §3, invariant 6).
var ErrDamaged = errors.New("ledger damaged")

// DamagedError says what is wrong with a damaged ledger.
type DamagedError struct {
	Path   string
	Batch  string // the batch the damage is in, when known
	Ref    string // the line, when known
	Detail string
}

func (e *DamagedError) Error() string {
	where := e.Path
	if e.Batch != "" {
		where += ": batch " + e.Batch
		if e.Ref != "" {
			where += " line " + e.Ref
		}
	}
	return fmt.Sprintf("ledger damaged: %s: %s; nothing was sent; see `payroll recover` (it rebuilds the ledger from its journal and keeps the damaged file)", where, e.Detail)
}

func (e *DamagedError) Unwrap() error { return ErrDamaged }

func damaged(path, format string, a ...any) error {
	return &DamagedError{Path: path, Detail: fmt.Sprintf(format, a...)}
}

// bbolt's meta page (go.etcd.io/bbolt/internal/common): after a 16-byte
// page header, magic, version, page size, flags (4 bytes each), the root
// bucket (16), the freelist page (8), the high-water mark pgid (8), the
// transaction id (8), then an FNV-64a checksum of the 56 bytes before it.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSumLen     = 56
)

type boltMeta struct {
	pageSize uint32
	pgid     uint64
	txid     uint64
}

// readMeta decodes and checks one meta page; ok is false if it is not a
// valid meta.
func readMeta(b []byte) (boltMeta, bool) {
	if len(b) < pageHeaderSize+metaSumLen+8 {
		return boltMeta{}, false
	}
	m := b[pageHeaderSize:]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:metaSumLen])
	if h.Sum64() != le.Uint64(m[metaSumLen:]) {
		return boltMeta{}, false
	}
	bm := boltMeta{pageSize: le.Uint32(m[8:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	if bm.pageSize < 512 || bm.pageSize > 1<<20 || bm.pageSize&(bm.pageSize-1) != 0 {
		return boltMeta{}, false
	}
	return bm, true
}

// checkFile looks at an existing ledger file before bbolt maps it: an
// empty file, no valid meta page, a file shorter than the high-water mark
// its newest valid meta records, or a damaged page (walk) is damage.
// (bbolt would take an empty file for a new ledger, would fault on pages
// past the end of a truncated one, and asserts page invariants with panics
// in goroutines of its own.) A missing file is not checked: Open creates it.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("ledger: open %s: %w", path, err)
	}
	size := fi.Size()
	if size == 0 {
		return damaged(path, "the file is empty")
	}
	head := make([]byte, 128<<10)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("ledger: read %s: %w", path, err)
	}
	head = head[:n]
	m, ok := newestMeta(head)
	if !ok {
		return damaged(path, "no valid meta page (%d bytes)", size)
	}
	if need := int64(m.pgid) * int64(m.pageSize); size < need {
		return damaged(path, "the file is %d bytes, shorter than the %d its meta page records (truncated)", size, need)
	}
	w := &walker{f: f, path: path, ps: int64(m.pageSize), size: size, hwm: m.pgid, seen: map[uint64]bool{}}
	meta := head[pageHeaderSize:]
	if m.txid%2 == 1 {
		meta = head[int(m.pageSize)+pageHeaderSize:]
	}
	return w.tree(binary.LittleEndian.Uint64(meta[16:]), 0, nil, nil)
}

// guard turns a panic or a memory fault while bbolt reads a damaged page
// into a DamagedError: no user ever sees a Go trace from a damaged file.
// It must be deferred in the goroutine that touches the mapping, with
// faults made panics (faultsPanic).
func guard(path string, err *error) {
	if r := recover(); r != nil {
		*err = damaged(path, "bbolt cannot read it: %v", r)
	}
}

// faultsPanic makes a memory fault in this goroutine (a page past the end
// of a truncated mapping) a recoverable panic; call the returned func to
// restore.
func faultsPanic() func() {
	old := debug.SetPanicOnFault(true)
	return func() { debug.SetPanicOnFault(old) }
}

// bbolt page layout (go.etcd.io/bbolt/internal/common/page.go): a 16-byte
// header (id, flags, count, overflow), then count 16-byte elements.
const (
	branchPage     = 0x01
	leafPage       = 0x02
	bucketLeafFlag = 0x01
	elemSize       = 16
	maxTreeDepth   = 64
)

// newestMeta is the valid meta page with the highest transaction id.
func newestMeta(head []byte) (boltMeta, bool) {
	var best boltMeta
	found := false
	if m0, ok := readMeta(head); ok {
		best, found = m0, true
		if int(m0.pageSize)*2 <= len(head) {
			if m1, ok := readMeta(head[m0.pageSize:]); ok && m1.txid > m0.txid {
				best = m1
			}
		}
		return best, found
	}
	for _, ps := range []uint32{4096, 8192, 16384, 32768, 65536} {
		if int(ps)*2 <= len(head) {
			if m1, ok := readMeta(head[ps:]); ok && m1.pageSize == ps {
				return m1, true
			}
		}
	}
	return best, found
}

type walker struct {
	f    *os.File
	path string
	ps   int64
	size int64
	hwm  uint64
	seen map[uint64]bool
}

func (w *walker) bad(format string, a ...any) error { return damaged(w.path, format, a...) }

// tree checks the page pgid and everything under it; its keys must lie
// in [lo, hi) (nil: unbounded), as its parent's keys say.
func (w *walker) tree(pgid uint64, depth int, lo, hi []byte) error {
	if depth > maxTreeDepth {
		return w.bad("page tree deeper than %d at page %d", maxTreeDepth, pgid)
	}
	if pgid < 2 || pgid >= w.hwm {
		return w.bad("page %d is outside the file's pages 2..%d", pgid, w.hwm-1)
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.f.ReadAt(hdr, int64(pgid)*w.ps); err != nil {
		return w.bad("page %d cannot be read: %v", pgid, err)
	}
	le := binary.LittleEndian
	overflow := uint64(le.Uint32(hdr[12:]))
	if le.Uint64(hdr) != pgid {
		return w.bad("page %d says it is page %d", pgid, le.Uint64(hdr))
	}
	if pgid+overflow >= w.hwm || int64(pgid+overflow+1)*w.ps > w.size {
		return w.bad("page %d runs past the end of the file", pgid)
	}
	for p := pgid; p <= pgid+overflow; p++ {
		if w.seen[p] {
			return w.bad("page %d is used twice", p)
		}
		w.seen[p] = true
	}
	buf := make([]byte, int64(overflow+1)*w.ps)
	if _, err := w.f.ReadAt(buf, int64(pgid)*w.ps); err != nil {
		return w.bad("page %d cannot be read: %v", pgid, err)
	}
	return w.page(buf, pgid, depth, lo, hi)
}

// page checks one page's elements (a mapped page or an inline bucket's):
// in bounds, keys strictly ascending and within [lo, hi).
func (w *walker) page(buf []byte, pgid uint64, depth int, lo, hi []byte) error {
	le := binary.LittleEndian
	if len(buf) < pageHeaderSize {
		return w.bad("page %d is too short", pgid)
	}
	flags, count := le.Uint16(buf[8:]), int(le.Uint16(buf[10:]))
	if pageHeaderSize+count*elemSize > len(buf) {
		return w.bad("page %d has %d elements, more than fit", pgid, count)
	}
	switch flags {
	case branchPage:
		if count == 0 {
			return w.bad("branch page %d is empty", pgid)
		}
		keys := make([][]byte, count)
		for i := range count {
			at := pageHeaderSize + i*elemSize
			e := buf[at:]
			pos, ksize := int(le.Uint32(e)), int(le.Uint32(e[4:]))
			if at+pos+ksize > len(buf) || pos < 0 {
				return w.bad("page %d element %d points outside the page", pgid, i)
			}
			keys[i] = buf[at+pos : at+pos+ksize]
		}
		if err := w.ordered(pgid, keys, lo, hi); err != nil {
			return err
		}
		for i := range count {
			next := hi
			if i+1 < count {
				next = keys[i+1]
			}
			if err := w.tree(le.Uint64(buf[pageHeaderSize+i*elemSize+8:]), depth+1, keys[i], next); err != nil {
				return err
			}
		}
	case leafPage:
		keys := make([][]byte, count)
		for i := range count {
			at := pageHeaderSize + i*elemSize
			e := buf[at:]
			pos, ksize, vsize := int(le.Uint32(e[4:])), int(le.Uint32(e[8:])), int(le.Uint32(e[12:]))
			end := at + pos + ksize + vsize
			if end > len(buf) || end < at || pos < 0 {
				return w.bad("page %d element %d points outside the page", pgid, i)
			}
			keys[i] = buf[at+pos : at+pos+ksize]
		}
		if err := w.ordered(pgid, keys, lo, hi); err != nil {
			return err
		}
		for i := range count {
			at := pageHeaderSize + i*elemSize
			e := buf[at:]
			eflags := le.Uint32(e)
			pos, ksize, vsize := int(le.Uint32(e[4:])), int(le.Uint32(e[8:])), int(le.Uint32(e[12:]))
			end := at + pos + ksize + vsize
			if eflags&bucketLeafFlag == 0 {
				continue
			}
			v := buf[at+pos+ksize : end]
			if len(v) < 16 {
				return w.bad("page %d element %d is a bucket too short to be one", pgid, i)
			}
			if root := le.Uint64(v); root != 0 {
				if err := w.tree(root, depth+1, nil, nil); err != nil {
					return err
				}
			} else if err := w.page(v[16:], pgid, depth+1, nil, nil); err != nil {
				return err
			}
		}
	default:
		return w.bad("page %d has flags %#x, neither a branch nor a leaf", pgid, flags)
	}
	return nil
}

// ordered checks that keys ascend strictly and lie in [lo, hi).
func (w *walker) ordered(pgid uint64, keys [][]byte, lo, hi []byte) error {
	for i, k := range keys {
		if i > 0 && bytes.Compare(keys[i-1], k) >= 0 {
			return w.bad("page %d: keys out of order at element %d", pgid, i)
		}
		if lo != nil && bytes.Compare(k, lo) < 0 || hi != nil && bytes.Compare(k, hi) >= 0 {
			return w.bad("page %d: key of element %d outside the range its parent gives", pgid, i)
		}
	}
	return nil
}
