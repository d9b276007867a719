package batch

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// randomLines returns n valid-looking lines whose destinations come from a
// small pool, so that identities repeat within and across currencies.
func randomLines(r *rand.Rand, n int) []Line {
	pool := 1 + r.IntN(max(1, n/2)+1)
	lines := make([]Line, n)
	for i := range lines {
		l := Line{Row: i + 2, Reference: fmt.Sprintf("R%d", i)}
		switch r.IntN(4) {
		case 0:
			l.Provider, l.Currency = KiotaPay, TZS
		case 1:
			l.Provider, l.Currency = KiotaPay, KES
		default:
			l.Provider, l.Currency = KopoKopo, KES
		}
		id := r.IntN(pool)
		switch r.IntN(4) {
		case 0:
			l.Dest = Destination{Type: Till, TillNumber: fmt.Sprint(555000 + id)}
		case 1:
			l.Dest = Destination{Type: Paybill, PaybillNumber: "888880", PaybillAccount: fmt.Sprintf("acc-%d", id)}
		default:
			l.Dest = Destination{Type: MobileWallet, Phone: Phone(fmt.Sprintf("2547%08d", id))}
		}
		l.Requested = MustMoney(fmt.Sprintf("%d.%02d", 10+r.IntN(250_000), r.IntN(100)))
		l.Amount = l.Requested
		if r.IntN(2) == 0 {
			l.Amount = l.Requested.Floor()
		}
		lines[i] = l
	}
	return lines
}

// TestChunkLinesPartition checks on random inputs that ChunkLines is a
// partition that respects the size and identity rules.
func TestChunkLinesPartition(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 11))
	for c := range 200 {
		n := r.IntN(300)
		maxSize := 1 + r.IntN(60)
		if c%10 == 0 {
			maxSize = 1 - r.IntN(3) // 1, 0 or -1: taken as 1
		}
		lines := randomLines(r, n)
		t.Run(fmt.Sprintf("case%d_n%d_max%d", c, n, maxSize), func(t *testing.T) {
			chunks := ChunkLines(lines, maxSize)
			limit := max(maxSize, 1)
			seen := map[int]int{} // row → times seen
			totals := map[Currency]Money{}
			for i, ch := range chunks {
				if len(ch) == 0 {
					t.Fatalf("chunk %d is empty", i)
				}
				if len(ch) > limit {
					t.Fatalf("chunk %d has %d lines, max %d", i, len(ch), limit)
				}
				ids := map[string]bool{}
				for j, l := range ch {
					if ids[l.Dest.Identity()] {
						t.Fatalf("chunk %d pays %s twice", i, l.Dest.Identity())
					}
					ids[l.Dest.Identity()] = true
					if j > 0 && ch[j-1].Row >= l.Row {
						t.Fatalf("chunk %d is not in sheet order: row %d after row %d", i, l.Row, ch[j-1].Row)
					}
					seen[l.Row]++
					totals[l.Currency] = totals[l.Currency].Add(l.Amount)
				}
			}
			want := map[Currency]Money{}
			for _, l := range lines {
				if seen[l.Row] != 1 {
					t.Fatalf("row %d is in %d chunks", l.Row, seen[l.Row])
				}
				want[l.Currency] = want[l.Currency].Add(l.Amount)
			}
			if len(seen) != len(lines) {
				t.Fatalf("%d distinct rows in chunks, %d lines", len(seen), len(lines))
			}
			for cur, w := range want {
				if !totals[cur].Equal(w) {
					t.Fatalf("%s total %s after chunking, %s before", cur, totals[cur], w)
				}
			}
			if n == 0 && len(chunks) != 0 {
				t.Fatalf("%d chunks for no lines", len(chunks))
			}
		})
	}
}

// TestMakePlanTotals checks on random inputs that the plan's groups add up
// to its chunks and to the lines, and that KiotaPay sends one line per
// request.
func TestMakePlanTotals(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 42))
	for c := range 200 {
		cfg := DefaultConfig()
		cfg.KopoKopo.MaxDestinations = 1 + r.IntN(50)
		lines := randomLines(r, r.IntN(300))
		t.Run(fmt.Sprintf("case%d", c), func(t *testing.T) {
			p := MakePlan(lines, &cfg)
			type key struct {
				p ProviderName
				c Currency
			}
			want := map[key]*Total{}
			for _, l := range lines {
				k := key{l.Provider, l.Currency}
				if want[k] == nil {
					want[k] = &Total{}
				}
				w := want[k]
				w.Lines++
				w.Amount = w.Amount.Add(l.Amount)
				w.Rounding = w.Rounding.Add(l.RoundingDiff())
				if l.Amount.Cmp(w.Largest) > 0 {
					w.Largest = l.Amount
				}
			}
			requests := map[key]int{}
			chunkLines := 0
			for _, ch := range p.Chunks {
				k := key{ch.Provider, ch.Currency}
				requests[k]++
				chunkLines += len(ch.Lines)
				size := 1
				if ch.Provider == KopoKopo {
					size = cfg.KopoKopo.MaxDestinations
				}
				if len(ch.Lines) == 0 || len(ch.Lines) > size {
					t.Fatalf("%s chunk of %d lines (max %d)", ch.Provider, len(ch.Lines), size)
				}
				for _, l := range ch.Lines {
					if l.Provider != ch.Provider || l.Currency != ch.Currency {
						t.Fatalf("row %d (%s %s) in a %s %s chunk", l.Row, l.Provider, l.Currency, ch.Provider, ch.Currency)
					}
				}
			}
			if chunkLines != len(lines) {
				t.Fatalf("%d lines in chunks, %d lines", chunkLines, len(lines))
			}
			if len(p.Groups) != len(want) {
				t.Fatalf("%d groups, want %d", len(p.Groups), len(want))
			}
			for i, g := range p.Groups {
				if i > 0 && (p.Groups[i-1].Provider > g.Provider || p.Groups[i-1].Provider == g.Provider && p.Groups[i-1].Currency >= g.Currency) {
					t.Fatalf("groups out of order: %v", p.Groups)
				}
				w := want[key{g.Provider, g.Currency}]
				if w == nil || g.Lines != w.Lines || !g.Amount.Equal(w.Amount) || !g.Rounding.Equal(w.Rounding) || !g.Largest.Equal(w.Largest) ||
					g.Requests != requests[key{g.Provider, g.Currency}] {
					t.Fatalf("group %s %s = %+v, want %+v with %d requests", g.Provider, g.Currency, g, w, requests[key{g.Provider, g.Currency}])
				}
			}
		})
	}
}

func TestChunkLinesExamples(t *testing.T) {
	wallet := func(row int, phone string) Line {
		return Line{Row: row, Dest: Destination{Type: MobileWallet, Phone: Phone(phone)}, Amount: MoneyFromUnits(100)}
	}
	tests := []struct {
		name  string
		lines []Line
		max   int
		want  [][]int // rows per chunk
	}{
		{name: "no lines", max: 3, want: [][]int{}},
		{name: "fits one chunk", lines: []Line{wallet(2, "a"), wallet(3, "b")}, max: 3, want: [][]int{{2, 3}}},
		{name: "split by size", lines: []Line{wallet(2, "a"), wallet(3, "b"), wallet(4, "c")}, max: 2, want: [][]int{{2, 3}, {4}}},
		{name: "same destination goes to the next chunk", lines: []Line{wallet(2, "a"), wallet(3, "a"), wallet(4, "b")}, max: 5, want: [][]int{{2, 4}, {3}}},
		{name: "three times the same destination", lines: []Line{wallet(2, "a"), wallet(3, "a"), wallet(4, "a")}, max: 50, want: [][]int{{2}, {3}, {4}}},
		{name: "first fit fills earlier chunks", lines: []Line{wallet(2, "a"), wallet(3, "b"), wallet(4, "a"), wallet(5, "c"), wallet(6, "d")}, max: 3, want: [][]int{{2, 3, 5}, {4, 6}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := [][]int{}
			for _, ch := range ChunkLines(tt.lines, tt.max) {
				var rows []int
				for _, l := range ch {
					rows = append(rows, l.Row)
				}
				got = append(got, rows)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("chunks %v, want %v", got, tt.want)
			}
		})
	}
}
