package batch

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDiscardLinesSameOutcome validates every sheet of the malformed corpus
// twice, keeping the lines and discarding them (as `payroll validate`
// does): the errors, counts, invalid rows and totals must be the same.
func TestDiscardLinesSameOutcome(t *testing.T) {
	var sheets []string
	for _, pat := range []string{"*.csv", "*.xlsx"} {
		m, _ := filepath.Glob(filepath.Join(malformedDir, pat))
		sheets = append(sheets, m...)
	}
	slices.Sort(sheets)
	if len(sheets) < 30 {
		t.Fatalf("found %d sheets", len(sheets))
	}
	for _, path := range sheets {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg := DefaultConfig()
			base := strings.TrimSuffix(path, filepath.Ext(path))
			if b, err := os.ReadFile(base + ".toml"); err == nil {
				var err error
				if cfg, err = ParseConfig(base+".toml", b); err != nil {
					t.Fatal(err)
				}
			}
			kept, err := ValidateFile(t.Context(), path, &cfg, "")
			if err != nil {
				t.Fatal(err)
			}
			streamed, err := ValidateFileWith(t.Context(), path, &cfg, ValidateOptions{DiscardLines: true})
			if err != nil {
				t.Fatal(err)
			}
			if streamed.Lines != nil {
				t.Errorf("DiscardLines kept %d lines", len(streamed.Lines))
			}
			if kept.Valid != len(kept.Lines) || streamed.Valid != kept.Valid || streamed.Rows != kept.Rows {
				t.Errorf("valid %d (lines %d) rows %d; streamed valid %d rows %d", kept.Valid, len(kept.Lines), kept.Rows, streamed.Valid, streamed.Rows)
			}
			if d := cmp.Diff(errorTexts(kept.Errors), errorTexts(streamed.Errors)); d != "" {
				t.Errorf("errors differ (-kept +streamed):\n%s", d)
			}
			if d := cmp.Diff(kept.Invalid, streamed.Invalid); d != "" {
				t.Errorf("invalid rows differ (-kept +streamed):\n%s", d)
			}
			if d := cmp.Diff(kept.Totals(), streamed.Totals()); d != "" {
				t.Errorf("totals differ (-kept +streamed):\n%s", d)
			}
		})
	}
}

func errorTexts(errs []error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// TestTotalsMatchDecimalSums checks the cents-based totals against plain
// decimal sums, rounding included.
func TestTotalsMatchDecimalSums(t *testing.T) {
	var lines []Line
	for i := range 500 {
		amt := MustMoney(fmt.Sprintf("%d", 10+i*997%250000))
		req := amt
		if i%7 == 0 {
			req = MustMoney(fmt.Sprintf("%d.%02d", 10+i*997%250000, i%100))
		}
		l := Line{Row: i + 2, Provider: []ProviderName{KopoKopo, KiotaPay}[i%2], Currency: []Currency{KES, TZS}[i%3/2],
			Dest: Destination{Type: []DestType{MobileWallet, Till, Paybill}[i%3]}, Amount: amt, Requested: req}
		lines = append(lines, l)
	}
	lines = append(lines, Line{Provider: KopoKopo, Currency: KES, Dest: Destination{Type: Till},
		Amount: MustMoney("999999999999.99"), Requested: MustMoney("999999999999.99")})
	got := (&Validation{Lines: lines}).Totals()
	type key struct {
		p ProviderName
		c Currency
		t DestType
	}
	want := map[key]*Total{}
	for i := range lines {
		l := &lines[i]
		k := key{l.Provider, l.Currency, l.Dest.Type}
		w := want[k]
		if w == nil {
			w = &Total{Provider: k.p, Currency: k.c, Type: k.t}
			want[k] = w
		}
		w.Lines++
		w.Amount = w.Amount.Add(l.Amount)
		w.Rounding = w.Rounding.Add(l.RoundingDiff())
		if l.Amount.Cmp(w.Largest) > 0 {
			w.Largest = l.Amount
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d totals, want %d", len(got), len(want))
	}
	for _, g := range got {
		w := want[key{g.Provider, g.Currency, g.Type}]
		if d := cmp.Diff(*w, g); d != "" {
			t.Errorf("%s %s %s (-want +got):\n%s", g.Provider, g.Currency, g.Type, d)
		}
	}
}

func TestAppendFingerprint(t *testing.T) {
	dests := []Destination{
		{Type: MobileWallet, Phone: "254712345678"},
		{Type: BankAccount, BankBranchRef: "3F1C0000-AB12-4CDE-8F00-0123456789AB", AccountNumber: "0123456789"},
		{Type: Till, TillNumber: "555123"},
		{Type: Paybill, PaybillNumber: "888880", PaybillAccount: "acc|1 ä"},
		{Type: "weird"},
	}
	for _, d := range dests {
		for _, a := range []string{"10", "1500.5", "1,000.05", "999999999999.99", "0.01"} {
			for _, c := range []Currency{KES, TZS} {
				l := Line{Dest: d, Amount: MustMoney(a), Currency: c}
				if got, want := string(l.appendFingerprint(nil)), l.Fingerprint(); got != want {
					t.Errorf("appendFingerprint = %q, want %q", got, want)
				}
			}
		}
		l := Line{Dest: d, Currency: KES, Amount: MoneyFromUnits(0)}
		if got, want := string(l.appendFingerprint(nil)), l.Fingerprint(); got != want {
			t.Errorf("zero: appendFingerprint = %q, want %q", got, want)
		}
	}
}

// TestSeenIndex checks the index against a map through several growths.
func TestSeenIndex(t *testing.T) {
	x := newSeenIndex(maphash.MakeSeed())
	defer x.free()
	want := map[string]int{}
	for i := range 300_000 {
		k := fmt.Sprintf("EMP%d", i*7%200_000) // every key comes back
		h := x.hash(k)
		row, flag, ok := x.get(h)
		w, wok := want[k]
		if ok != wok || ok && (row != w || flag != (w%2 == 0)) {
			t.Fatalf("%s: got %d %v %v, want %d %v", k, row, flag, ok, w, wok)
		}
		if !ok {
			want[k] = i + 2
			if i%2 == 0 {
				x.put(h, i+2, (i+2)%2 == 0)
			} else if _, _, found := x.insert(h, i+2, (i+2)%2 == 0); found {
				t.Fatalf("%s: insert found it", k)
			}
		} else if r, f, found := x.insert(h, 1, false); !found || r != w || f != (w%2 == 0) {
			t.Fatalf("%s: insert of a present key: %d %v %v", k, r, f, found)
		}
	}
	if x.n != len(want) {
		t.Fatalf("%d entries, want %d", x.n, len(want))
	}
	h := x.hash("EMP0")
	x.put(h, 7, true)
	if row, flag, _ := x.get(h); row != 7 || !flag {
		t.Fatalf("put did not replace: %d %v", row, flag)
	}
	if x.n != len(want) {
		t.Fatalf("replacing added an entry")
	}
}

// BenchmarkValidateSheetFile validates the sheet named by
// PAYROLL_BENCH_SHEET (e.g. one that scripts/bench-intake generated) the
// way `payroll validate` does, for profiling:
//
//	PAYROLL_BENCH_SHEET=/tmp/payroll-bench-intake/…/payroll-1000000.csv \
//	  go test ./batch -run '^$' -bench SheetFile -benchtime 1x -cpuprofile cpu.out
func BenchmarkValidateSheetFile(b *testing.B) {
	path := os.Getenv("PAYROLL_BENCH_SHEET")
	if path == "" {
		b.Skip("PAYROLL_BENCH_SHEET is not set")
	}
	cfg := DefaultConfig()
	b.ReportAllocs()
	for b.Loop() {
		v, err := ValidateFileWith(b.Context(), path, &cfg, ValidateOptions{DiscardLines: true})
		if err != nil || !v.OK() {
			b.Fatalf("err %v, errors %v", err, v.Errors[:min(3, len(v.Errors))])
		}
		b.ReportMetric(float64(v.Rows)/b.Elapsed().Seconds(), "rows/s")
	}
}

// TestSeenIndexReserve: a reserved index holds its entries without
// growing, and finds what it was given before and after the reserve.
func TestSeenIndexReserve(t *testing.T) {
	x := newSeenIndex(maphash.MakeSeed())
	defer x.free()
	for i := range 3000 {
		x.insert(x.hash(fmt.Sprint("K", i)), i+2, false)
	}
	x.reserve(100_000)
	size := x.size
	for i := range 100_000 {
		row, _, found := x.insert(x.hash(fmt.Sprint("K", i)), 1_000_000+i, true)
		if i < 3000 && (!found || row != i+2) {
			t.Fatalf("K%d: found %v row %d after reserve, want row %d", i, found, row, i+2)
		}
		if i >= 3000 && found {
			t.Fatalf("K%d found before it was added", i)
		}
	}
	if x.size != size || x.n != 100_000 {
		t.Fatalf("size %d → %d for %d entries: it grew past its reserve", size, x.size, x.n)
	}
	x.reserve(10) // smaller: nothing to do
	if x.size != size {
		t.Fatal("reserve shrank the table")
	}
}

// TestSeenIndexRows: rows kept as differences come back exact whatever
// the gaps (small, past a byte, backwards), across marks and chunks, and
// after replacements.
func TestSeenIndexRows(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 30))
	x := newSeenIndex(maphash.MakeSeed())
	defer x.free()
	type kept struct {
		row  int
		flag bool
	}
	want := map[string]kept{}
	row := 1
	for i := range 200_000 {
		switch n := r.IntN(100); {
		case n < 80:
			row++
		case n < 95:
			row += r.IntN(126) + 1
		case n < 99:
			row += 127 + r.IntN(100_000)
		default:
			row = max(2, row-r.IntN(50)) // backwards: the index must not care
		}
		k := fmt.Sprintf("K%d", i)
		flag := r.IntN(2) == 0
		if _, _, found := x.insert(x.hash(k), row, flag); found {
			t.Fatalf("%s found before it was added", k)
		}
		want[k] = kept{row, flag}
		if r.IntN(50) == 0 { // replace an earlier key's row
			j := fmt.Sprintf("K%d", r.IntN(i+1))
			nr, nf := row+r.IntN(1000), r.IntN(2) == 0
			x.put(x.hash(j), nr, nf)
			want[j] = kept{nr, nf}
		}
	}
	for k, w := range want {
		row, flag, ok := x.get(x.hash(k))
		if !ok || row != w.row || flag != w.flag {
			t.Fatalf("%s: %d %v %v, want %d %v", k, row, flag, ok, w.row, w.flag)
		}
	}
	if x.width != 3 {
		t.Errorf("slots of %d bytes for %d entries", x.width, x.n)
	}
}
