//go:build linux

package ledger

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// mappedRSS is the resident size in bytes of this process's mappings of
// path, from /proc/self/smaps.
func mappedRSS(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps:", err)
	}
	defer f.Close()
	abs, _ := filepath.Abs(path)
	var in bool
	var rss int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) >= 6 && fields[5] == abs
			continue
		}
		if in && len(fields) == 3 && fields[0] == "Rss:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			rss += kb << 10
		}
	}
	return rss
}

// TestReleaseMapped: reading a whole batch leaves its pages resident in
// the file map until a release; after one, the map's resident size is a
// small part of the file, and every line reads back the same (a released
// page faults back in from the page cache).
func TestReleaseMapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	db := openTest(t, path)
	mustImport(t, db, "b1", testLines(20000), nil)
	db.mapped.last.Store(1 << 62) // no release while the batch is read
	db.mapped.views.Store(-1 << 40)
	read := func() (n int, sum int64) {
		for r, err := range db.Lines(context.Background(), "b1") {
			if err != nil {
				t.Fatal(err)
			}
			n++
			sum += int64(r.Line.Row) * int64(len(r.Line.Reference)+len(r.Line.Name))
		}
		return n, sum
	}
	n1, sum1 := read()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	before := mappedRSS(t, path)
	if before < 1<<20 {
		t.Fatalf("after reading every line only %d bytes of the %d-byte file are resident: the test measures nothing", before, fi.Size())
	}
	var released int64
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		released, err = releaseMapped(tx, path)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if released < fi.Size() {
		t.Fatalf("released %d bytes of address space, less than the %d-byte file", released, fi.Size())
	}
	after := mappedRSS(t, path)
	t.Logf("file %d bytes; resident in the map %d before the release, %d after", fi.Size(), before, after)
	if after > before/8 {
		t.Fatalf("resident after the release: %d bytes of %d", after, before)
	}
	n2, sum2 := read()
	if n1 != 20000 || n2 != n1 || sum2 != sum1 {
		t.Fatalf("lines read back differ after the release: %d/%d lines, sums %d/%d", n1, n2, sum1, sum2)
	}
}

// TestReleaseMappedPaced: queries release the map as they go: once
// releaseEvery has passed, or after releasePages pages.
func TestReleaseMappedPaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	db := openTest(t, path)
	mustImport(t, db, "b1", testLines(2000), nil)
	start := db.mapped.released.Load()
	if start == 0 {
		t.Fatal("Open did not release what it read")
	}
	db.mapped.last.Store(0)
	for _, err := range db.Lines(context.Background(), "b1") {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := db.mapped.released.Load() - start; got != 1 {
		t.Fatalf("a 2-page query right after a due time released %d times, want 1 (paced)", got)
	}
	mustImport(t, db, "b2", testLines(3*releasePages*pageSize), nil)
	db.mapped.last.Store(time.Now().UnixNano() + int64(time.Hour)) // time never due
	start = db.mapped.released.Load()
	for _, err := range db.Lines(context.Background(), "b2") {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := db.mapped.released.Load() - start; got < 2 {
		t.Fatalf("a %d-page query released %d times, want at least 2 (every %d pages)", 3*releasePages, got, releasePages)
	}
}

func TestMapsLine(t *testing.T) {
	for _, c := range []struct {
		line   string
		ino    uint64
		lo, hi uint64
		ok     bool
	}{
		{"7f4e14000000-7f4e54000000 r--s 00000000 fe:00 10004240   /tmp/l.db", 10004240, 0x7f4e14000000, 0x7f4e54000000, true},
		{"7f4e14000000-7f4e54000000 r--p 00000000 fe:00 10004240   /tmp/l.db", 10004240, 0, 0, false}, // private
		{"7f4e14000000-7f4e54000000 r--s 00000000 fe:00 10004241   /tmp/l.db", 10004240, 0, 0, false}, // another file
		{"7f4e14000000-7f4e54000000 rw-p 00000000 00:00 0", 0, 0, 0, false},                           // anonymous
		{"garbage", 0, 0, 0, false},
	} {
		lo, hi, ok := mapsLine([]byte(c.line), c.ino)
		if ok != c.ok || lo != c.lo || hi != c.hi {
			t.Errorf("mapsLine(%q) = %x, %x, %v; want %x, %x, %v", c.line, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
}
