package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"payroll/ledger"
	"payroll/providers/sandbox"
)

// TestCorruptionFuzz damages copies of a settled ledger and runs the same
// sheet against the sandbox with each (docs/design.md §3, invariant 6):
// single-byte changes inside line and batch records, random bytes in the
// used pages, whole pages zeroed, truncation at every page boundary, an
// empty file. Every copy must pay nobody (the sandbox's send count does not
// move) and no command may print a Go trace: each run refuses with the
// damaged-ledger message or proves the damage harmless. CORRUPT_COPIES
// sets how many copies (default 150; make corrupt runs 1,000).
func TestCorruptionFuzz(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	copies := 150
	if n, err := strconv.Atoi(os.Getenv("CORRUPT_COPIES")); err == nil && n > 0 {
		copies = n
	}
	seed := uint64(7)
	if n, err := strconv.ParseUint(os.Getenv("CORRUPT_SEED"), 10, 64); err == nil {
		seed = n
	}
	h := newHarness(t, sandbox.Options{}, knobs{})
	sheet := append(kes(1, 8), tzs(1, 3)...)
	sheet = append(sheet, row{"KFAIL", "Fail One", "0712300999", "1500", "KES"})
	path := h.writeSheet("settled.csv", sheet)
	h.mustCode(exitUnsettled, "run", "--wait", "20s", path)
	good, err := os.ReadFile(h.db)
	if err != nil {
		t.Fatal(err)
	}
	journal, err := os.ReadFile(ledger.JournalPath(h.db))
	if err != nil {
		t.Fatal(err)
	}
	goodReport := h.reportRows("settled")
	records := recordOffsets(t, h.db, good)
	const ps = 4096
	used := usedPages(good, ps)
	rng := rand.New(rand.NewPCG(seed, 1))

	type mutation struct {
		name  string
		apply func([]byte) []byte
	}
	var ms []mutation
	ms = append(ms, mutation{"empty file", func([]byte) []byte { return nil }})
	for p := 1; p <= used; p++ {
		ms = append(ms, mutation{fmt.Sprintf("truncated at page %d", p), func(b []byte) []byte { return b[:p*ps] }})
	}
	for len(ms) < copies {
		switch k := rng.IntN(4); {
		case k < 2 && len(records) > 0: // one byte inside a record
			r := records[rng.IntN(len(records))]
			off := r.off + rng.IntN(r.n)
			x := byte(1 + rng.IntN(255))
			ms = append(ms, mutation{fmt.Sprintf("%s: byte %d ^ %#x", r.what, off, x), func(b []byte) []byte { b[off] ^= x; return b }})
		case k == 2: // one random byte in the used pages
			off := rng.IntN(used * ps)
			x := byte(1 + rng.IntN(255))
			ms = append(ms, mutation{fmt.Sprintf("byte %d ^ %#x", off, x), func(b []byte) []byte { b[off] ^= x; return b }})
		default: // a page zeroed
			p := rng.IntN(used)
			ms = append(ms, mutation{fmt.Sprintf("page %d zeroed", p), func(b []byte) []byte {
				clear(b[p*ps : (p+1)*ps])
				return b
			}})
		}
	}
	k2, kp := h.sends()
	refused, harmless, detected, recovered := 0, 0, 0, 0
	prev := ""
	for i, m := range ms[:copies] {
		damaged := m.apply(bytes.Clone(good))
		if err := os.WriteFile(h.db, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ledger.JournalPath(h.db), journal, 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := h.cli("run", "--wait", "5s", path)
		cout, cerr, ccode := h.cli("check")
		all := out + errOut + cout + cerr
		if strings.Contains(all, "goroutine ") || strings.Contains(all, "panic:") || strings.Contains(all, "SIGBUS") || strings.Contains(all, "SIGSEGV") {
			t.Fatalf("copy %d (%s): a Go trace reached the user:\n%s", i, m.name, all)
		}
		if k2b, kpb := h.sends(); k2b != k2 || kpb != kp {
			t.Fatalf("copy %d (%s): PAID: the run sent %d Kopo Kopo and %d KiotaPay requests\n%s", i, m.name, k2b-k2, kpb-kp, all)
		}
		if code == exitLocked {
			t.Fatalf("copy %d (%s): ledger busy: an earlier copy (%s) left the file locked", i, m.name, prev)
		}
		prev = m.name + ": " + all
		switch {
		case strings.Contains(errOut, "ledger damaged"):
			refused++
		case code == exitUnsettled && ccode == exitOK:
			harmless++ // the damage was in a free page: same result, nothing sent
			continue
		case code == exitUnsettled && strings.Contains(cout, "not what its journal says"):
			detected++ // an index entry changed: nothing sent, and check names it
		default:
			t.Errorf("copy %d (%s): run exit %d, check exit %d, neither refused nor harmless:\n%s", i, m.name, code, ccode, all)
			continue
		}
		// Every copy that was refused or found wrong comes back whole from
		// its journal, and the run then sends nothing either.
		if i%recoverEvery != 0 {
			continue
		}
		rout, rerr, rcode := h.cli("recover")
		if rcode != exitOK {
			t.Fatalf("copy %d (%s): recover exit %d:\n%s%s", i, m.name, rcode, rout, rerr)
		}
		h.mustCode(exitUnsettled, "run", "--wait", "5s", path)
		h.mustCode(exitOK, "check")
		if k2b, kpb := h.sends(); k2b != k2 || kpb != kp {
			t.Fatalf("copy %d (%s): PAID after recover: %d Kopo Kopo and %d KiotaPay requests", i, m.name, k2b-k2, kpb-kp)
		}
		if got := h.reportRows("settled"); !reflect.DeepEqual(got, goodReport) {
			t.Fatalf("copy %d (%s): the report after recover differs", i, m.name)
		}
		recovered++
		removeReplaced(t, h.db)
	}
	t.Logf("%d damaged copies: %d refused as damaged, %d found by check against the journal, %d harmless (free pages); %d recovered from the journal and re-run; 0 payouts, 0 Go traces",
		copies, refused, detected, harmless, recovered)
}

// recoverEvery: every how many damaged copies recover is run (each one
// takes a recover, a run and a check).
var recoverEvery = 3

func removeReplaced(t *testing.T, db string) {
	t.Helper()
	old, _ := filepath.Glob(db + ".replaced-*")
	for _, f := range old {
		os.Remove(f)
	}
}

type recordSpan struct {
	what string
	off  int
	n    int
}

// recordOffsets finds where the line and batch records sit in the file.
func recordOffsets(t *testing.T, path string, file []byte) []recordSpan {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []recordSpan
	add := func(what string, v []byte) {
		if i := bytes.Index(file, v); i >= 0 {
			out = append(out, recordSpan{what, i, len(v)})
		}
	}
	db.View(func(tx *bolt.Tx) error {
		tx.Bucket([]byte("batches")).ForEach(func(k, v []byte) error {
			add("batch record "+string(k), v)
			return tx.Bucket([]byte("batch")).Bucket(k).Bucket([]byte("lines")).ForEach(func(k, v []byte) error {
				add(fmt.Sprintf("line record %x", k), v)
				return nil
			})
		})
		return nil
	})
	if len(out) == 0 {
		t.Fatal("no record found in the file")
	}
	return out
}

// usedPages is the bbolt high-water mark: pages past it are not the
// ledger's yet.
func usedPages(file []byte, ps int) int {
	n := len(file) / ps
	for n > 2 && bytes.Count(file[(n-1)*ps:n*ps], []byte{0}) == ps {
		n--
	}
	return n
}
