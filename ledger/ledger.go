package ledger

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"payroll/batch"
)

// Schema is the ledger format this package reads and writes. It is stored
// in the meta bucket at first open and checked at every open.
const Schema = "payroll-ledger/3"

// schemaOld is the format migrated on open (records without checksums).
const schemaOld = "payroll-ledger/2"

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = time.Second

// Errors returned by the ledger; match them with errors.Is.
var (
	// ErrBusy means another process (or another Open in this process)
	// holds the ledger file. The CLI maps it to exit code 11.
	ErrBusy = errors.New("ledger busy")
	// ErrSchema means the file was written by an incompatible version.
	ErrSchema = errors.New("ledger schema mismatch")
	// ErrNotFound means the batch or line does not exist.
	ErrNotFound = errors.New("not found")
	// ErrTransition means a state change that the state machine forbids.
	ErrTransition = errors.New("transition not allowed")
	// ErrInput means the caller passed something inconsistent (duplicate
	// references, an outcome without a provider reference, ...). Nothing
	// was written.
	ErrInput = errors.New("invalid ledger input")
	// ErrInvariant is wrapped by every problem Check reports.
	ErrInvariant = errors.New("ledger invariant broken")
	// ErrReadOnly is returned by writes on a ledger opened read-only.
	ErrReadOnly = errors.New("ledger opened read-only")
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Timeout is how long to wait for the file lock; 0 means
	// DefaultTimeout. It is never infinite.
	Timeout time.Duration
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
	// ReadOnly opens the file for queries only: no bucket creation and no
	// crash recovery. bbolt still takes a shared lock, so a read-only open
	// while a writer holds the file also fails with ErrBusy.
	ReadOnly bool
}

// DB is an open ledger. Its methods are safe for concurrent use; writes
// are serialised by bbolt.
type DB struct {
	bolt       *bolt.DB
	path       string
	now        func() time.Time
	readOnly   bool
	legacy     bool // the file is format 2, not migrated yet (read-only open)
	commits    atomic.Int64
	recovered  int
	j          *journal   // writable opens only
	wmu        sync.Mutex // held for a whole write: bbolt's commit and the journal head after it
	replayed   uint64     // the journal commit replayed at Open, if any
	journalCut int64      // bytes of a torn last journal commit cut at Open
	borrowed   bool       // a read-only view of another DB's file (Borrow): Close is a no-op
	mapped     *mapped    // shared with Borrow: one map per open file
}

// mapped paces the release of the file map's resident pages
// (releaseMapped): once releaseEvery has passed or releasePages read
// transactions have ended since the last, from whichever read transaction
// or commit comes first. (A paged scan that only peeks at record headers
// reads 100,000 lines in 50 ms: time alone lets all of them in.)
type mapped struct {
	last     atomic.Int64 // UnixNano of the last release
	views    atomic.Int64 // read transactions since the last release
	released atomic.Int64 // releases done, for tests
}

const (
	releaseEvery = 100 * time.Millisecond
	releasePages = 16
)

// due reports whether a release is due, and claims it.
func (m *mapped) due(force bool) bool {
	now := time.Now().UnixNano()
	last := m.last.Load()
	if !force && now-last < int64(releaseEvery) && m.views.Add(1) < releasePages {
		return false
	}
	if !m.last.CompareAndSwap(last, now) {
		return false
	}
	m.views.Store(0)
	return true
}

// releaseMapped releases the map's resident pages from within the read
// transaction tx if a release is due. A failure costs memory, not
// correctness, so it is not returned.
func (db *DB) releaseMapped(tx *bolt.Tx, force bool) {
	if db.mapped == nil || !db.mapped.due(force) {
		return
	}
	n, err := releaseMapped(tx, db.path)
	_ = n
	if err == nil {
		db.mapped.released.Add(1)
	}
}

// Stats are counters for tests, benchmarks and logs.
type Stats struct {
	// Commits is the number of write transactions committed (each one is
	// an fsync) since Open.
	Commits int64
	// Recovered is the number of lines that Open moved from sending to
	// unknown because a previous process died with them in flight.
	Recovered int
	// FileSize is the size of the ledger file in bytes.
	FileSize int64
	// JournalSyncs is the number of journal fsyncs since Open: one per
	// commit that changed anything.
	JournalSyncs int64
	// Replayed is the journal commit that Open replayed because the
	// ledger had not applied it (0: none).
	Replayed uint64
	// JournalCut is the number of bytes of a torn last journal commit
	// (never applied) that Open cut off.
	JournalCut int64
}

// Bucket names (see doc.go).
var (
	bktMeta     = []byte("meta")
	bktBatches  = []byte("batches")
	bktBatch    = []byte("batch")
	bktProvRefs = []byte("provrefs")
	bktPayees   = []byte("payees")
	bktInflight = []byte("inflight")

	bktLines  = []byte("lines")
	bktRefs   = []byte("refs")
	bktEvents = []byte("events")
	bktExtras = []byte("extras") // per line, the sheet's other columns (report only)

	keySchema  = []byte("schema")
	keyCreated = []byte("created")
)

var topBuckets = [][]byte{bktMeta, bktBatches, bktBatch, bktProvRefs, bktPayees, bktInflight}

// crashHook, when set (only by tests), is called at named points around
// each commit: "before-<op>-commit" inside the transaction after all its
// writes, "after-<op>-commit" once it is durable. The crash test kills
// the process there.
var crashHook func(point string)

// hook runs the crash test's hook and the process's failpoint (see
// batch.FailpointEnv) at a commit point. The failpoint names the outcomes
// op in the singular: before-outcome-commit, after-outcome-commit.
func hook(point string) {
	if crashHook != nil {
		crashHook(point)
	}
	switch point {
	case "before-outcomes-commit":
		point = "before-outcome-commit"
	case "after-outcomes-commit":
		point = "after-outcome-commit"
	}
	batch.Failpoint(point)
}

// Open opens (creating if needed) the ledger at path with mode 0600. It
// waits at most opts.Timeout for the file lock and then fails with an
// error wrapping ErrBusy. On a writable open it creates the buckets and
// schema on first use (one synced transaction), checks the schema, and
// turns lines left in sending by a dead process into unknown with a
// "crash-recovery" event. Nothing is ever resent automatically.
func Open(path string, opts Options) (db *DB, err error) {
	defer faultsPanic()()
	var b *bolt.DB
	defer func() { // runs after guard: a recovered panic closes the file too
		if err != nil && b != nil {
			b.Close()
		}
	}()
	defer guard(path, &err)
	if err := checkFile(path); err != nil {
		return nil, err
	}
	if !opts.ReadOnly {
		if err := lostLedger(path); err != nil {
			return nil, err
		}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	bo := &bolt.Options{Timeout: timeout, ReadOnly: opts.ReadOnly, NoFreelistSync: true, InitialMmapSize: initialMmapSize(path)}
	b, err = bolt.Open(path, 0o600, bo)
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, &busyError{path: path, err: err}
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
			return nil, damaged(path, "%v", err)
		}
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	db = &DB{bolt: b, path: path, now: now, readOnly: opts.ReadOnly, mapped: &mapped{}}
	if err := db.init(); err != nil {
		return nil, err
	}
	if !opts.ReadOnly {
		if err := db.attach(); err != nil {
			db.closeJournal()
			return nil, err
		}
		n, err := db.recover()
		if err != nil {
			db.closeJournal()
			return nil, err
		}
		db.recovered = n
	}
	// Opening read the file through the map (the schema, the journal's
	// head, crash recovery); what it touched need not stay resident.
	db.bolt.View(func(tx *bolt.Tx) error { db.releaseMapped(tx, true); return nil })
	return db, nil
}

// initialMmapSize is the address space mapped at Open: on 64-bit
// platforms the file's size plus 1 GiB of headroom. bbolt remaps when a
// write transaction grows the file past the mapping, and every remap
// copies each key and value the transaction holds out of the old mapping:
// a 1,000,000-line import remapped 15 times and copied 10 GB. The mapping
// is address space only; memory is used as pages are touched.
func initialMmapSize(path string) int {
	if strconv.IntSize < 64 {
		return 0
	}
	size := int64(1 << 30)
	if fi, err := os.Stat(path); err == nil {
		size += fi.Size()
	}
	return int(size)
}

type busyError struct {
	path string
	err  error
}

func (e *busyError) Error() string {
	return fmt.Sprintf("ledger busy: another payroll process holds %s", e.path)
}

func (e *busyError) Unwrap() []error { return []error{ErrBusy, e.err} }

// init checks the schema, creating the buckets on first open.
func (db *DB) init() error {
	var found string
	var complete bool
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bktMeta); m != nil {
			found = string(m.Get(keySchema))
		}
		complete = true
		for _, name := range topBuckets {
			if tx.Bucket(name) == nil {
				complete = false
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: open %s: %w", db.path, err)
	}
	switch {
	case found == schemaOld && db.readOnly:
		db.legacy = true // read as it is; the next writing open migrates it
		return nil
	case found == schemaOld:
		return db.migrate()
	case found != "" && found != Schema:
		return fmt.Errorf("ledger: %s has schema %q, this program reads %q: %w", db.path, found, Schema, ErrSchema)
	case found == Schema && complete:
		return nil
	case db.readOnly:
		return fmt.Errorf("ledger: %s is not an initialised ledger (opened read-only): %w", db.path, ErrSchema)
	}
	return db.update(context.Background(), "init", func(t *txn) error {
		for _, name := range topBuckets {
			if _, err := t.tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		m := t.tx.Bucket(bktMeta)
		if m.Get(keySchema) == nil {
			if err := m.Put(keySchema, []byte(Schema)); err != nil {
				return err
			}
			ts, _ := t.now.MarshalText()
			return m.Put(keyCreated, ts)
		}
		return nil
	})
}

// Borrow returns a read-only handle on the same open file, for queries
// that run while db's owner writes (payroll status during a run): its
// reads are bbolt read transactions, consistent snapshots however the
// owner writes; its writes fail with ErrReadOnly; its Close does nothing.
func (db *DB) Borrow() *DB {
	return &DB{bolt: db.bolt, path: db.path, now: db.now, readOnly: true, legacy: db.legacy, borrowed: true, mapped: db.mapped}
}

// Close releases the file lock.
func (db *DB) Close() error {
	if db.borrowed {
		return nil
	}
	db.wmu.Lock() // a write in progress ends first
	db.closeJournal()
	db.wmu.Unlock()
	return db.bolt.Close()
}

func (db *DB) closeJournal() {
	if db.j != nil {
		db.j.f.Close()
		db.j = nil
	}
}

// Lost reports, for a ledger path that has no file, whether its journal
// says a ledger was there: then the error points to payroll recover.
func Lost(path string) error { return lostLedger(path) }

// lostLedger refuses to create a new ledger where a journal says one was:
// the ledger file is missing but its journal holds entries.
func lostLedger(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	fi, err := os.Stat(JournalPath(path))
	if err != nil || fi.Size() == 0 {
		return nil
	}
	return &JournalError{Path: JournalPath(path), Detail: fmt.Sprintf("the ledger %s is missing but its journal holds %d bytes of entries", path, fi.Size())}
}

// Path returns the ledger file's path.
func (db *DB) Path() string { return db.path }

// Stats returns the ledger's counters.
func (db *DB) Stats() Stats {
	s := Stats{Commits: db.commits.Load(), Recovered: db.recovered, Replayed: db.replayed, JournalCut: db.journalCut}
	if db.j != nil {
		s.JournalSyncs = db.j.syncs.Load()
	}
	if fi, err := os.Stat(db.path); err == nil {
		s.FileSize = fi.Size()
	}
	return s
}

// update runs fn in one write transaction (one commit, one fsync) and
// saves the batch metadata fn touched. fn must not do I/O other than the
// ledger's own: no API here takes a caller's callback.
func (db *DB) update(ctx context.Context, op string, fn func(t *txn) error) (err error) {
	defer faultsPanic()()
	defer guard(db.path, &err)
	if db.readOnly {
		return ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.j != nil && db.j.broken != nil {
		return fmt.Errorf("ledger: a failed commit could not be taken back from the journal (%v): nothing more is written; run the command again", db.j.broken)
	}
	var x *jtx
	var head jhead
	defer func() {
		if err != nil && x != nil {
			x.abort()
		}
	}()
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		t := &txn{tx: tx, now: db.now().UTC(), ctx: ctx, metas: map[string]*Batch{}, path: db.path, legacy: db.legacy}
		if db.j != nil {
			x = db.j.begin(op, t.now)
			t.x = x
		}
		if err := fn(t); err != nil {
			return err
		}
		if err := t.flush(); err != nil {
			return err
		}
		hook("before-" + op + "-commit")
		if x == nil || !x.any {
			return x.failed()
		}
		h, err := x.finish()
		if err != nil {
			return err
		}
		head = h
		if err := putHead(tx, h); err != nil {
			return err
		}
		hook("after-journal-append")
		return nil
	})
	if err != nil {
		return err
	}
	if x != nil && x.any {
		db.j.head = head
	}
	db.commits.Add(1)
	hook("after-" + op + "-commit")
	if db.mapped != nil && time.Now().UnixNano()-db.mapped.last.Load() >= int64(releaseEvery) {
		db.bolt.View(func(tx *bolt.Tx) error { db.releaseMapped(tx, false); return nil })
	}
	return nil
}

// view runs fn in a read transaction.
func (db *DB) view(fn func(t *txn) error) (err error) {
	defer faultsPanic()()
	defer guard(db.path, &err)
	return db.bolt.View(func(tx *bolt.Tx) error {
		err := fn(&txn{tx: tx, now: db.now().UTC(), ctx: context.Background(), metas: map[string]*Batch{}, path: db.path, legacy: db.legacy})
		db.releaseMapped(tx, false)
		return err
	})
}

// mustJSON marshals v; the ledger's own types always marshal.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("ledger: marshal %T: %v", v, err))
	}
	return b
}

func joinErrors(errs []error) error { return errors.Join(errs...) }

// migrate rewrites a format-2 ledger as format 3 in one transaction:
// every line record gets its checksum (and the new fields, empty), every
// batch record its checksum; nothing else changes, not even a line's
// Updated time. A record that cannot be read stops the migration: the
// ledger is then damaged and stays as it was.
func (db *DB) migrate() error {
	db.legacy = true
	defer func() { db.legacy = false }()
	return db.update(context.Background(), "migrate", func(t *txn) error {
		var ids []string
		if err := t.tx.Bucket(bktBatches).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		}); err != nil {
			return err
		}
		for _, id := range ids {
			b, err := t.batch(id)
			if err != nil {
				return err
			}
			var recs []*LineRecord
			c := b.lines.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				r, err := decodeRecord(b, binary.BigEndian.Uint64(k), v)
				if err != nil {
					return err
				}
				recs = append(recs, r)
			}
			for _, r := range recs {
				if err := b.lines.Put(seqKey(r.Seq), encodeRecord(r)); err != nil {
					return err
				}
			}
			if err := t.tx.Bucket(bktBatches).Put([]byte(id), sealMeta(id, mustJSON(b.meta))); err != nil {
				return err
			}
		}
		return t.tx.Bucket(bktMeta).Put(keySchema, []byte(Schema))
	})
}
