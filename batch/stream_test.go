package batch

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// writeSheet writes a valid KES sheet of n rows with distinct phones.
func writeSheet(w io.Writer, n int) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "reference,name,phone,amount,currency,description")
	for i := range n {
		fmt.Fprintf(bw, "EMP%07d,Employee %d,0712%06d,\"%d,%03d.00\",KES,Salary November 2026\n", i, i, i, 1+i%200, i%1000)
	}
	return bw.Flush()
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestCSVStreams reads a 200,000-row sheet through the Sheet reader
// without keeping the records: the heap after 200k rows must be about what
// it was after 10k, not twenty times more.
func TestCSVStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a 200,000-row sheet")
	}
	const rows = 200_000
	path := filepath.Join(t.TempDir(), "big.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeSheet(f, rows); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)

	s, err := OpenSheet(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var at10k, n int
	var sum Money
	for {
		rec, err := s.Next(t.Context())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("row %d: %v", rec.Row, err)
		}
		if n++; rec.Row != n+1 {
			t.Fatalf("record %d has row %d", n, rec.Row)
		}
		m, err := ParseMoney(rec.Get(ColAmount))
		if err != nil {
			t.Fatalf("row %d: %v", rec.Row, err)
		}
		sum = sum.Add(m)
		if n == 10_000 {
			at10k = int(heapInuse())
		}
	}
	atEnd := int(heapInuse())
	if n != rows {
		t.Fatalf("read %d rows, want %d", n, rows)
	}
	// Keeping the records would cost well over 100 bytes a row (20 MB);
	// streaming costs nothing per row. 4 MiB absorbs GC and runtime noise.
	growth := atEnd - at10k
	t.Logf("file %d MB; heap in use %d KB after 10k rows, %d KB after %dk rows; total %s", info.Size()>>20, at10k>>10, atEnd>>10, rows/1000, sum.Grouped())
	if growth > 4<<20 {
		t.Errorf("heap grew by %d KB between 10k and %d rows: the reader keeps rows", growth>>10, rows)
	}
}

// BenchmarkValidateCSV validates a 100,000-row sheet held in memory.
func BenchmarkValidateCSV(b *testing.B) {
	var buf bytes.Buffer
	if err := writeSheet(&buf, 100_000); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	cfg := DefaultConfig()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := NewCSVSheet(bytes.NewReader(data), "bench.csv", ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		v, err := Validate(b.Context(), s, &cfg)
		if err != nil || !v.OK() || len(v.Lines) != 100_000 {
			b.Fatalf("err %v, %d lines, errors %v", err, len(v.Lines), v.Errors[:min(3, len(v.Errors))])
		}
		s.Close()
	}
}
