package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// JournalReport is what CheckJournal and Recover found.
type JournalReport struct {
	Entries int    // journal lines read (up to the ledger's head for CheckJournal)
	Commits uint64 // commits in them
	Ahead   uint64 // a complete commit after the ledger's head (the next writing open replays it)
	Torn    int64  // bytes of a torn last commit, never applied
	NoHead  bool   // the ledger has no journal head yet (written before journals; the next writing open starts one)
	Moved   string // Recover: where the ledger it replaced was moved
	Last    string // Recover: when the last commit rebuilt was made (the journal's "at")
	Checked bool   // Recover: the journal was checked to reach the replaced ledger's head
}

// chain reads the journal from the start, checking every line's place in
// the hash chain, and calls fn with each line (stopping early when fn
// says so). It returns the number of lines read and whether a torn
// commit ends the file.
func chain(f *os.File, path string, fn func(l *jline) (more bool, err error)) (n int, tornAt int64, err error) {
	rd, err := newReader(f, 0, path)
	if err != nil {
		return 0, -1, err
	}
	var seq, commit uint64 = 1, 1
	prev := ""
	inCommit := false
	var commitStart int64
	for {
		l, err := rd.next()
		switch {
		case errors.Is(err, io.EOF):
			if inCommit {
				return n, commitStart, nil
			}
			return n, -1, nil
		case errors.Is(err, errTorn):
			if !inCommit {
				commitStart = rd.off
			}
			return n, commitStart, nil
		case err != nil:
			return n, -1, journalErr(path, seq, "%v", err)
		}
		if err := follows(l, seq, prev, commit); err != nil {
			at := seq
			if l.Seq == seq && l.Prev != prev {
				at = seq - 1 // name the entry whose hash no longer matches
			}
			return n, -1, journalErr(path, at, "%v", err)
		}
		if !inCommit {
			commitStart = l.start
		}
		n++
		seq, prev = seq+1, l.sum
		inCommit = !l.End
		if l.End {
			commit++
		}
		more, err := fn(l)
		if err != nil || !more {
			return n, -1, err
		}
	}
}

// CheckJournal verifies the journal of a ledger opened read-only: the
// hash chain of every entry, the entry the ledger records as applied, and
// that replaying the journal up to it gives this ledger, key for key. The
// first entry or record that differs is named in the error.
func (db *DB) CheckJournal(ctx context.Context) (JournalReport, error) {
	var rep JournalReport
	jp := JournalPath(db.path)
	// One read transaction for the head and the comparison: a writer
	// (when db is borrowed) may commit meanwhile; the journal's later
	// commits are then simply past the head this snapshot applied.
	ltx, err := db.bolt.Begin(false)
	if err != nil {
		return rep, fmt.Errorf("ledger: check journal: %w", err)
	}
	defer ltx.Rollback()
	h, has, err := readHead(ltx)
	if err != nil {
		return rep, damaged(db.path, "%v", err)
	}
	f, err := os.Open(jp)
	if errors.Is(err, os.ErrNotExist) {
		if !has {
			rep.NoHead = true
			return rep, nil
		}
		return rep, journalErr(jp, 0, "the journal is missing, but the ledger has applied %d of its entries", h.Seq)
	}
	if err != nil {
		return rep, err
	}
	defer f.Close()
	if !has {
		fi, err := f.Stat()
		if err == nil && fi.Size() == 0 {
			rep.NoHead = true
			return rep, nil
		}
		return rep, journalErr(jp, 0, "the ledger has never applied a journal entry, but the journal holds entries")
	}
	tmp, err := os.CreateTemp(filepath.Dir(db.path), ".payroll-check-*.db")
	if err != nil {
		return rep, fmt.Errorf("ledger: check journal: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	replica, err := bolt.Open(tmp.Name(), 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true})
	if err != nil {
		return rep, fmt.Errorf("ledger: check journal: %w", err)
	}
	defer replica.Close()
	var pending []*jline
	var pendingBytes int64
	var found bool
	var lastCommit uint64
	n, tornAt, err := chain(f, jp, func(l *jline) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if found {
			if l.End {
				rep.Ahead = l.Commit
			}
			return true, nil
		}
		pending = append(pending, l)
		pendingBytes += l.end - l.start
		if l.Seq == h.Seq {
			if l.sum != h.Sum || l.start != h.Start || l.end != h.End {
				return false, journalErr(jp, l.Seq, "the entry differs from the one the ledger applied (the journal was edited there, or replaced)")
			}
			found = true
		}
		// Replay in transactions of about 16 MB of journal, whatever the
		// commits: the scratch file's transactions need not match them.
		if !found && pendingBytes < 16<<20 {
			return true, nil
		}
		pendingBytes = 0
		err := replica.Update(func(tx *bolt.Tx) error {
			for _, p := range pending {
				if err := applyLine(tx, p); err != nil {
					return journalErr(jp, p.Seq, "replay: %v", err)
				}
			}
			return nil
		})
		pending = pending[:0]
		if l.End {
			lastCommit = l.Commit
		}
		return true, err
	})
	rep.Entries, rep.Commits = n, lastCommit
	if err != nil {
		return rep, err
	}
	if tornAt >= 0 {
		fi, _ := f.Stat()
		rep.Torn = fi.Size() - tornAt
	}
	if !found {
		return rep, journalErr(jp, h.Seq, "the journal ends before the entry the ledger has applied (truncated, or the ledger is newer than its journal)")
	}
	if db.borrowed {
		rep.Ahead, rep.Torn = 0, 0 // the owner is writing them now
	} else if rep.Ahead != 0 && rep.Ahead != h.Commit+1 {
		return rep, journalErr(jp, h.Seq+1, "the journal is more than one commit ahead of the ledger")
	}
	return rep, db.sameAs(ltx, replica, f, jp, h)
}

// item is one key of a ledger in walk order.
type item struct {
	path   []string
	key    []byte
	value  []byte
	bucket bool
	seq    uint64
}

// walkAll yields every bucket and key of tx in order, but meta/journal.
func walkAll(tx *bolt.Tx) iter.Seq[item] {
	return func(yield func(item) bool) {
		var rec func(b *bolt.Bucket, path []string) bool
		rec = func(b *bolt.Bucket, path []string) bool {
			c := b.Cursor()
			top := len(path) == 1 && path[0] == string(bktMeta)
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if top && bytes.Equal(k, keyJournal) {
					continue
				}
				if v == nil {
					sub := b.Bucket(k)
					if !yield(item{path: path, key: k, bucket: true, seq: sub.Sequence()}) {
						return false
					}
					if !rec(sub, append(path[:len(path):len(path)], string(k))) {
						return false
					}
					continue
				}
				if !yield(item{path: path, key: k, value: v}) {
					return false
				}
			}
			return true
		}
		c := tx.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			b := tx.Bucket(k)
			if !yield(item{key: k, bucket: true, seq: b.Sequence()}) {
				return
			}
			if !rec(b, []string{string(k)}) {
				return
			}
		}
	}
}

// sameAs compares the ledger with the replica key for key and names the
// first difference, with the journal entry that last wrote that key.
func (db *DB) sameAs(ltx *bolt.Tx, replica *bolt.DB, f *os.File, jp string, h jhead) (err error) {
	defer faultsPanic()()
	defer guard(db.path, &err)
	var diff *item
	var detail string
	err = func() error {
		return replica.View(func(rtx *bolt.Tx) error {
			next, stop := iter.Pull(walkAll(ltx))
			defer stop()
			rnext, rstop := iter.Pull(walkAll(rtx))
			defer rstop()
			for {
				a, okA := next()
				b, okB := rnext()
				switch {
				case !okA && !okB:
					return nil
				case !okB:
					diff, detail = &a, "the ledger has it, the journal's replay does not"
				case !okA:
					diff, detail = &b, "the journal's replay has it, the ledger does not"
				case strings.Join(a.path, "/") != strings.Join(b.path, "/") || !bytes.Equal(a.key, b.key):
					if less(a, b) {
						diff, detail = &a, "the ledger has it, the journal's replay does not"
					} else {
						diff, detail = &b, "the journal's replay has it, the ledger does not"
					}
				case a.bucket != b.bucket || a.seq != b.seq:
					diff, detail = &a, "the bucket differs"
				case !bytes.Equal(a.value, b.value):
					diff, detail = &a, "the ledger's value differs from the journal's replay"
				default:
					continue
				}
				c := *diff
				c.key = bytes.Clone(c.key)
				c.path = append([]string(nil), c.path...)
				if name := describe(ltx, &c); name != "" {
					detail = name + ": " + detail
				}
				diff = &c
				return nil
			}
		})
	}()
	if err != nil || diff == nil {
		return err
	}
	seq := lastWriter(f, jp, diff, h.Seq)
	if seq > 0 {
		detail += fmt.Sprintf(" (journal entry %d last wrote it)", seq)
	}
	return &JournalError{Path: db.path, Detail: "the ledger is not what its journal says: " + detail}
}

func less(a, b item) bool {
	pa, pb := strings.Join(a.path, "\x00"), strings.Join(b.path, "\x00")
	if pa != pb {
		return pa < pb
	}
	return bytes.Compare(a.key, b.key) < 0
}

// describe names a key: a batch's line by its reference, an event, an
// index entry.
func describe(tx *bolt.Tx, it *item) string {
	p := it.path
	if len(p) == 3 && p[0] == string(bktBatch) {
		switch p[2] {
		case string(bktLines):
			name := fmt.Sprintf("batch %s line #%d", p[1], seqOf(it.key))
			if b := tx.Bucket(bktBatch).Bucket([]byte(p[1])); b != nil {
				if v := b.Bucket(bktLines).Get(it.key); v != nil {
					if r, err := decodeRecord(&bkt{id: p[1]}, seqOf(it.key), v); err == nil {
						name = fmt.Sprintf("batch %s line %s (row %d)", p[1], r.Ref, r.Row())
					}
				}
			}
			return name
		case string(bktEvents):
			return fmt.Sprintf("batch %s event %d", p[1], seqOf(it.key))
		case string(bktRefs):
			return fmt.Sprintf("batch %s reference index %q", p[1], it.key)
		}
	}
	if len(p) == 0 {
		return fmt.Sprintf("bucket %q", it.key)
	}
	return fmt.Sprintf("%s entry %q", strings.Join(p, "/"), it.key)
}

func seqOf(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

// lastWriter is the journal entry (up to upto) that last changed the key.
func lastWriter(f *os.File, jp string, it *item, upto uint64) uint64 {
	path := it.path
	key := it.key
	if it.bucket {
		path, key = append(append([]string(nil), path...), string(key)), nil
	}
	var found uint64
	chain(f, jp, func(l *jline) (bool, error) {
		for _, op := range l.Ops {
			if strings.Join(op.B, "/") == strings.Join(path, "/") && (key == nil || bytes.Equal(op.K, key)) {
				found = l.Seq
			}
		}
		return l.Seq < upto, nil
	})
	return found
}

// Recover rebuilds the ledger at path from its journal: every complete
// commit is replayed into a new file, which is checked (pages, invariants
// and head) before it replaces the ledger; the file it replaces, if any,
// is kept as <ledger>.replaced-<time>. A torn last commit is cut off. It
// takes the journal's lock, so no run can write meanwhile.
func Recover(ctx context.Context, path string, now time.Time) (rep JournalReport, err error) {
	jp := JournalPath(path)
	f, err := os.OpenFile(jp, os.O_RDWR, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("ledger: recover: there is no journal %s", jp)
	}
	if err != nil {
		return rep, fmt.Errorf("ledger: recover: %w", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return rep, &busyError{path: jp, err: err}
	}
	if err := ledgerBusy(path); err != nil {
		return rep, err
	}
	// What the ledger being replaced had applied, if its head can still be
	// read: the journal must reach it. A journal that ends earlier (an
	// older copy restored from a backup, a truncated file) would rebuild an
	// older ledger, and a re-run would pay again what was paid since.
	old, hasOld := oldHead(path)
	tmp := path + ".recovering"
	os.Remove(tmp)
	defer os.Remove(tmp)
	// The new file is synced once, when it is complete; until it is
	// renamed into place nothing depends on it.
	nb, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true, InitialMmapSize: initialMmapSize(jp)})
	if err != nil {
		return rep, fmt.Errorf("ledger: recover: %w", err)
	}
	// One bbolt transaction per journal commit, committed at the commit's
	// last line: a commit that never ended (a torn tail, its transaction
	// never committed) is rolled back, never half applied.
	var tx *bolt.Tx
	defer func() {
		if tx != nil {
			tx.Rollback()
		}
	}()
	var head *jline
	reached := false
	n, tornAt, err := chain(f, jp, func(l *jline) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if hasOld && l.Seq == old.Seq {
			if l.sum != old.Sum {
				return false, journalErr(jp, l.Seq, "the entry differs from the one the ledger being replaced applied: this is not its journal; nothing was rebuilt")
			}
			reached = true
		}
		if tx == nil {
			var err error
			if tx, err = nb.Begin(true); err != nil {
				return false, err
			}
		}
		if err := applyLine(tx, l); err != nil {
			return false, journalErr(jp, l.Seq, "replay: %v", err)
		}
		if !l.End {
			return true, nil
		}
		if err := putHead(tx, jheadOf(l)); err != nil {
			return false, err
		}
		err := tx.Commit()
		tx = nil
		head = l
		rep.Commits = l.Commit
		return true, err
	})
	if tx != nil {
		tx.Rollback() // the torn last commit
		tx = nil
	}
	if err == nil {
		err = nb.Sync()
	}
	rep.Entries = n
	if err == nil && head == nil {
		err = journalErr(jp, 0, "the journal holds no complete commit")
	}
	if err == nil && hasOld && !reached {
		err = journalErr(jp, 0, "the journal ends at entry %d, before entry %d that the ledger being replaced had applied: it is an older or truncated copy, and a ledger rebuilt from it would pay again what was paid since; nothing was rebuilt", n, old.Seq)
	}
	if head != nil {
		rep.Last = head.At
	}
	rep.Checked = hasOld
	if cerr := nb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rep, err
	}
	if tornAt >= 0 {
		fi, _ := f.Stat()
		rep.Torn = fi.Size() - tornAt
	}
	// Check the new file as any ledger is checked before it is trusted.
	if err := checkFile(tmp); err != nil {
		return rep, err
	}
	db, err := Open(tmp, Options{ReadOnly: true})
	if err != nil {
		return rep, err
	}
	cerr := db.Check(ctx)
	db.Close()
	if cerr != nil {
		return rep, fmt.Errorf("ledger: recover: the rebuilt ledger fails its check:\n%w", cerr)
	}
	if tornAt >= 0 {
		if err := f.Truncate(tornAt); err != nil {
			return rep, fmt.Errorf("ledger: recover: cut the torn last commit: %w", err)
		}
		if err := f.Sync(); err != nil {
			return rep, err
		}
	}
	if _, err := os.Stat(path); err == nil {
		rep.Moved = path + ".replaced-" + now.UTC().Format("20060102T150405Z")
		if err := os.Rename(path, rep.Moved); err != nil {
			return rep, fmt.Errorf("ledger: recover: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return rep, fmt.Errorf("ledger: recover: %w", err)
	}
	return rep, syncDir(filepath.Dir(path))
}

// ledgerBusy fails if a process holds the ledger file's lock.
func ledgerBusy(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // missing or unreadable: nothing holds it
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return &busyError{path: path, err: err}
	}
	return nil
}

// oldHead reads the journal head a ledger file records, if the file can
// still be opened at all (a damaged one often can: the head is in the
// meta bucket).
func oldHead(path string) (h jhead, ok bool) {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return h, false
	}
	defer func() { // a fault on a damaged page: no head to compare
		if recover() != nil {
			ok = false
		}
	}()
	defer faultsPanic()()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return h, false
	}
	defer b.Close()
	b.View(func(tx *bolt.Tx) error {
		h, ok, _ = readHead(tx)
		return nil
	})
	return h, ok
}
