package ledger

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"payroll/batch"
)

// oldLedger copies testdata/format2.db.gz, a settled 11-line ledger written
// by the format-2 code (commit 55563a9: 10 paid, 1 failed), to a temporary
// file.
func oldLedger(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "format2.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	out.Close()
	return path
}

func linesJSON(t *testing.T, db *DB, id string) string {
	t.Helper()
	var all []LineRecord
	for r, err := range db.Lines(context.Background(), id) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	b, _ := json.Marshal(all)
	return string(b)
}

// TestMigrateFormat2: a format-2 ledger is read as it is by a read-only
// open, and migrated by the first writing open: every record gets its
// checksum, nothing else changes, and the checks stay clean.
func TestMigrateFormat2(t *testing.T) {
	path := oldLedger(t)
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	before := linesJSON(t, ro, "format2")
	ro.Close()

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if after := linesJSON(t, db, "format2"); after != before {
		t.Errorf("migration changed the lines:\nbefore %s\nafter  %s", before, after)
	}
	b, err := db.Batch(context.Background(), "format2")
	if err != nil || b.Counts[batch.StatePaid] != 10 || b.Counts[batch.StateFailed] != 1 {
		t.Errorf("batch %+v %v", b.Counts, err)
	}
	mustCheck(t, db)
	db.Close()

	// Every record is now format 3 with its checksum, and the schema says so.
	raw, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.View(func(tx *bolt.Tx) error {
		if s := string(tx.Bucket(bktMeta).Get(keySchema)); s != Schema {
			t.Errorf("schema %q", s)
		}
		return tx.Bucket(bktBatch).Bucket([]byte("format2")).Bucket(bktLines).ForEach(func(k, v []byte) error {
			if v[0] != recVersion {
				t.Errorf("line %x still version %d", k, v[0])
			}
			return nil
		})
	})
}

// TestDamagedRecordRefusesTheBatch: one byte of a paid line's record (its
// state byte, paid → pending) makes the batch damaged: nothing can be
// claimed in it, and the error names the batch and the line.
func TestDamagedRecordRefusesTheBatch(t *testing.T) {
	path := oldLedger(t)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bolt.Tx) error {
		lines := tx.Bucket(bktBatch).Bucket([]byte("format2")).Bucket(bktLines)
		k, v := lines.Cursor().First()
		w := append([]byte(nil), v...)
		w[1] = stateCodes[batch.StatePending]
		return lines.Put(append([]byte(nil), k...), w)
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, perr := range db.PendingLines(context.Background(), "format2", "") {
		if perr != nil {
			err = perr
			break
		}
	}
	var de *DamagedError
	if !isErr(err, ErrDamaged) || !errorsAs(err, &de) || de.Batch != "format2" || de.Ref != "#1" {
		t.Fatalf("Pending on a damaged batch: %v", err)
	}
	if err := db.Verify(context.Background(), "format2"); !isErr(err, ErrDamaged) {
		t.Errorf("Verify: %v", err)
	}
}
