package batch

import (
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
)

// seqOf yields lines, then err if not nil, counting what was read.
func seqOf(lines []Line, err error, read *atomic.Int64) iter.Seq2[Line, error] {
	return func(yield func(Line, error) bool) {
		for _, l := range lines {
			if read != nil {
				read.Add(1)
			}
			if !yield(l, nil) {
				return
			}
		}
		if err != nil {
			yield(Line{}, err)
		}
	}
}

// TestChunkFeedMatchesChunkLines: the chunks a run makes as it reads are
// the chunks plan counts (ChunkLines), per provider and currency.
func TestChunkFeedMatchesChunkLines(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 30))
	for c := range 100 {
		lines := randomLines(r, r.IntN(400))
		size := 1 + r.IntN(50)
		for _, p := range []ProviderName{KopoKopo, KiotaPay} {
			var mine []Line
			for _, l := range lines {
				if l.Provider == p {
					mine = append(mine, l)
				}
			}
			want := map[Currency][][]int{}
			for _, cur := range []Currency{KES, TZS} {
				var of []Line
				for _, l := range mine {
					if l.Currency == cur {
						of = append(of, l)
					}
				}
				for _, ch := range ChunkLines(of, size) {
					want[cur] = append(want[cur], rowsOf(ch))
				}
			}
			got := map[Currency][][]int{}
			for ch, err := range ChunkFeed(seqOf(mine, nil, nil), size) {
				if err != nil {
					t.Fatal(err)
				}
				if ch.Provider != p {
					t.Fatalf("case %d: a %s chunk from the %s lines", c, ch.Provider, p)
				}
				got[ch.Currency] = append(got[ch.Currency], rowsOf(ch.Lines))
			}
			for cur := range want {
				slices.SortFunc(want[cur], slices.Compare)
				slices.SortFunc(got[cur], slices.Compare)
				if fmt.Sprint(want[cur]) != fmt.Sprint(got[cur]) {
					t.Fatalf("case %d %s %s: feed chunks %v, ChunkLines %v", c, p, cur, got[cur], want[cur])
				}
			}
		}
	}
}

func rowsOf(lines []Line) []int {
	out := make([]int, len(lines))
	for i := range lines {
		out[i] = lines[i].Row
	}
	return out
}

// TestChunkFeedHoldsOnlyOpenChunks: a full chunk is handed out before the
// next lines are read, so a run holds the chunks in flight or filling,
// not the batch.
func TestChunkFeedHoldsOnlyOpenChunks(t *testing.T) {
	lines := testLines(1000)
	var read atomic.Int64
	n := 0
	for ch, err := range ChunkFeed(seqOf(lines, nil, &read), 50) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if got := read.Load(); got != int64(n*50) {
			t.Fatalf("chunk %d handed out after %d lines were read, want %d", n, got, n*50)
		}
		if len(ch.Lines) != 50 {
			t.Fatalf("chunk %d has %d lines", n, len(ch.Lines))
		}
	}
	if n != 20 {
		t.Fatalf("%d chunks, want 20", n)
	}
}

// TestChunkerBoundsOpenChunks: one destination repeated more often than
// maxOpenChunks closes the oldest open chunk instead of holding one chunk
// per repeat; every line is still in exactly one chunk and no chunk pays
// the destination twice.
func TestChunkerBoundsOpenChunks(t *testing.T) {
	lines := testLines(maxOpenChunks*3 + 7)
	for i := range lines {
		lines[i].Dest.Phone = "254700000001" // one payee, every line
	}
	chunks := ChunkLines(lines, 50)
	if len(chunks) != len(lines) {
		t.Fatalf("%d chunks for %d lines to one payee, want one each", len(chunks), len(lines))
	}
	c := newChunker(50)
	maxOpen := 0
	for _, l := range lines {
		c.add(l)
		maxOpen = max(maxOpen, len(c.open))
	}
	if maxOpen > maxOpenChunks {
		t.Fatalf("%d chunks open at once, bound %d", maxOpen, maxOpenChunks)
	}
}

// TestRunFeedsReadError: an error reading the lines stops the run with it,
// after what was claimed is recorded; nothing is left sending.
func TestRunFeedsReadError(t *testing.T) {
	lines := testLines(200)
	led := newFakeLedger(lines)
	s := &fakeSender{t: t, ledger: led}
	r := &Runner{Ledger: led, Senders: map[ProviderName]Sender{KopoKopo: s}}
	boom := errors.New("page 3 unreadable")
	feed := ChunkFeed(seqOf(lines[:100], boom, nil), 50)
	st, err := r.RunFeeds(t.Context(), "b", []Feed{{Provider: KopoKopo, Chunks: feed}})
	if !errors.Is(err, boom) {
		t.Fatalf("RunFeeds = %v, want the read error", err)
	}
	if n := led.count(StateSending); n != 0 {
		t.Fatalf("%d lines left sending", n)
	}
	if st.Accepted > 100 || led.count(StatePending) < 100 {
		t.Fatalf("accepted %d, pending %d: lines after the error were sent", st.Accepted, led.count(StatePending))
	}
}

// TestRunFeedsProviderMismatch: a chunk of another provider in a feed is
// refused, never sent through the wrong sender.
func TestRunFeedsProviderMismatch(t *testing.T) {
	lines := testLines(10)
	led := newFakeLedger(lines)
	s := &fakeSender{t: t, ledger: led}
	r := &Runner{Ledger: led, Senders: map[ProviderName]Sender{KopoKopo: s, KiotaPay: s}}
	feed := func(yield func(Chunk, error) bool) {
		yield(Chunk{Provider: KiotaPay, Currency: KES, Lines: lines}, nil)
	}
	if _, err := r.RunFeeds(t.Context(), "b", []Feed{{Provider: KopoKopo, Chunks: feed}}); err == nil {
		t.Fatal("a KiotaPay chunk in the Kopo Kopo feed was accepted")
	}
	if s.calls != 0 {
		t.Fatalf("%d requests sent", s.calls)
	}
}
