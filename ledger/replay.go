package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// attach opens the journal of a writable ledger and makes the two agree
// before anything is written: a journal exactly one commit ahead (the
// process died between the journal's fsync and bbolt's commit) is
// replayed; a torn last commit (it died while appending, before the
// fsync, so its transaction never committed) is cut off; a ledger that
// has never had a journal gets a base commit, a snapshot of all it holds.
// Anything else is a JournalError and nothing is written.
func (db *DB) attach() error {
	j, err := openJournal(db.path)
	if err != nil {
		return err
	}
	db.j = j
	var h jhead
	var has bool
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		h, has, err = readHead(tx)
		return err
	}); err != nil {
		return damaged(db.path, "%v", err)
	}
	fi, err := j.f.Stat()
	if err != nil {
		return fmt.Errorf("ledger: journal: %w", err)
	}
	size := fi.Size()
	if has {
		if size < h.End {
			if size == 0 {
				return journalErr(j.path, 0, "the journal is missing or empty, but the ledger has applied %d of its entries", h.Seq)
			}
			return journalErr(j.path, 0, "the journal is %d bytes, shorter than the %d the ledger has applied (truncated or replaced)", size, h.End)
		}
		line := make([]byte, h.End-h.Start)
		if _, err := j.f.ReadAt(line, h.Start); err != nil {
			return fmt.Errorf("ledger: journal: %w", err)
		}
		if line[len(line)-1] != '\n' || sum(line[:len(line)-1]) != h.Sum {
			return journalErr(j.path, h.Seq, "the entry differs from the one the ledger applied (the journal was edited or replaced)")
		}
	}
	j.head = h
	if size == h.End {
		if !has {
			return db.base()
		}
		return nil
	}
	last, state, err := scanCommit(j.f, j.path, h)
	switch {
	case err != nil:
		return err
	case state == commitTorn:
		if err := j.f.Truncate(h.End); err != nil {
			return fmt.Errorf("ledger: journal: cut the torn last commit: %w", err)
		}
		if err := j.f.Sync(); err != nil {
			return fmt.Errorf("ledger: journal: %w", err)
		}
		db.journalCut = size - h.End
		if !has {
			return db.base()
		}
		return nil
	}
	if err := db.replay(h, last); err != nil {
		return err
	}
	db.replayed = last.Commit
	return nil
}

type commitState int

const (
	commitTorn     commitState = iota // no complete commit after the head
	commitComplete                    // exactly one complete commit after the head
)

// scanCommit reads what follows the head h: nothing but a torn commit, or
// exactly one complete commit that continues the chain.
func scanCommit(f *os.File, path string, h jhead) (*jline, commitState, error) {
	rd, err := newReader(f, h.End, path)
	if err != nil {
		return nil, 0, err
	}
	seq, prev := h.Seq+1, h.Sum
	var last *jline
	for {
		l, err := rd.next()
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, errTorn):
			return nil, commitTorn, nil
		case err != nil:
			return nil, 0, journalErr(path, seq, "%v", err)
		}
		if err := follows(l, seq, prev, h.Commit+1); err != nil {
			return nil, 0, journalErr(path, l.Seq, "%v (after the ledger's head, entry %d)", err, h.Seq)
		}
		seq, prev, last = seq+1, l.sum, l
		if l.End {
			break
		}
	}
	switch _, err := rd.next(); {
	case errors.Is(err, io.EOF):
		return last, commitComplete, nil
	case errors.Is(err, errTorn):
		return nil, 0, journalErr(path, seq, "a torn entry follows a commit the ledger has not applied")
	default:
		return nil, 0, journalErr(path, seq, "the journal is more than one commit ahead of the ledger (entry %d applied)", h.Seq)
	}
}

// follows checks that l comes next in the chain.
func follows(l *jline, seq uint64, prev string, commit uint64) error {
	switch {
	case l.Seq != seq:
		return fmt.Errorf("entry %d found where entry %d should be", l.Seq, seq)
	case l.Prev != prev:
		return fmt.Errorf("entry %d does not match the hash entry %d records for it: one of the two was edited", seq-1, seq)
	case l.Commit != commit:
		return fmt.Errorf("commit %d found where commit %d should be", l.Commit, commit)
	}
	return nil
}

// replay applies the one commit after h, ending at last, in one
// transaction that also records the new head.
func (db *DB) replay(h jhead, last *jline) (err error) {
	defer faultsPanic()()
	defer guard(db.path, &err)
	rd, err := newReader(db.j.f, h.End, db.j.path)
	if err != nil {
		return err
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		for {
			l, err := rd.next()
			if err != nil {
				return journalErr(db.j.path, h.Seq+1, "replay: %v", err)
			}
			if err := applyLine(tx, l); err != nil {
				return journalErr(db.j.path, l.Seq, "replay: %v", err)
			}
			if l.End {
				break
			}
		}
		return putHead(tx, jheadOf(last))
	})
	if err != nil {
		return err
	}
	db.j.head = jheadOf(last)
	db.commits.Add(1)
	return nil
}

func jheadOf(l *jline) jhead {
	return jhead{Seq: l.Seq, Commit: l.Commit, Sum: l.sum, Start: l.start, End: l.end}
}

func putHead(tx *bolt.Tx, h jhead) error {
	return tx.Bucket(bktMeta).Put(keyJournal, mustJSON(h))
}

// applyLine applies one journal line's changes.
func applyLine(tx *bolt.Tx, l *jline) error {
	for i := range l.Ops {
		if err := applyOp(tx, &l.Ops[i]); err != nil {
			return fmt.Errorf("change %d: %w", i+1, err)
		}
	}
	return nil
}

func applyOp(tx *bolt.Tx, op *jop) error {
	if len(op.B) == 0 {
		return errors.New("no bucket")
	}
	if op.O == "mk" {
		if len(op.B) == 1 {
			_, err := tx.CreateBucketIfNotExists([]byte(op.B[0]))
			return err
		}
		parent, err := walk(tx, op.B[:len(op.B)-1])
		if err != nil {
			return err
		}
		_, err = parent.CreateBucketIfNotExists([]byte(op.B[len(op.B)-1]))
		return err
	}
	b, err := walk(tx, op.B)
	if err != nil {
		return err
	}
	switch op.O {
	case "put":
		v := op.V
		if op.Event != nil {
			v = op.Event
		}
		if v == nil {
			v = []byte{}
		}
		return b.Put(op.K, v)
	case "del":
		return b.Delete(op.K)
	case "seq":
		return b.SetSequence(op.N)
	}
	return fmt.Errorf("unknown change %q", op.O)
}

func walk(tx *bolt.Tx, names []string) (*bolt.Bucket, error) {
	b := tx.Bucket([]byte(names[0]))
	for _, n := range names[1:] {
		if b == nil {
			break
		}
		b = b.Bucket([]byte(n))
	}
	if b == nil {
		return nil, fmt.Errorf("bucket %q does not exist", names)
	}
	return b, nil
}

// base writes a snapshot of the whole ledger as the journal's first
// commit after a ledger that had none: a new ledger, or one written by a
// version without a journal. The ledger itself is not changed (but for
// the head).
func (db *DB) base() error {
	return db.update(context.Background(), "base", func(t *txn) error {
		return t.tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return snapshot(t.x, b, []string{string(name)})
		})
	})
}

func snapshot(x *jtx, b *bolt.Bucket, path []string) error {
	p := jpath(path...)
	x.mk(p)
	if s := b.Sequence(); s != 0 {
		x.setSeq(p, s)
	}
	top := len(path) == 1 && path[0] == string(bktMeta)
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			return snapshot(x, b.Bucket(k), append(path[:len(path):len(path)], string(k)))
		}
		if top && bytes.Equal(k, keyJournal) {
			return nil
		}
		x.put(p, k, v, len(path) == 3 && path[2] == string(bktEvents), nil)
		return x.err
	})
}
