package batch

import (
	"cmp"
	"iter"
	"slices"
)

// Chunk is the lines of one provider request: up to max_destinations
// distinct destinations for Kopo Kopo, exactly one line for KiotaPay. A
// chunk is never empty and never holds one destination identity twice, so
// that results can be matched to lines by identity and amount.
type Chunk struct {
	Provider ProviderName
	Currency Currency
	Lines    []Line
}

// Total is the sum of the chunk's amounts.
func (c *Chunk) Total() Money {
	var t Money
	for i := range c.Lines {
		t = t.Add(c.Lines[i].Amount)
	}
	return t
}

// Plan is what a run would send: the requests per provider and currency.
type Plan struct {
	Chunks []Chunk
	Groups []Total // per provider × currency (Type empty), with Requests
}

// MakePlan routes valid lines to their providers and chunks them. Lines
// keep their sheet order inside and across chunks as far as the identity
// rule allows.
func MakePlan(lines []Line, cfg *Config) *Plan {
	type key struct {
		p ProviderName
		c Currency
	}
	var order []key
	groups := map[key][]Line{}
	for _, l := range lines {
		k := key{l.Provider, l.Currency}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], l)
	}
	slices.SortStableFunc(order, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.p, b.p), cmp.Compare(a.c, b.c))
	})
	p := &Plan{}
	for _, k := range order {
		size := 1
		if k.p == KopoKopo {
			size = cfg.KopoKopo.MaxDestinations
		}
		chunks := ChunkLines(groups[k], size)
		t := Total{Provider: k.p, Currency: k.c, Requests: len(chunks)}
		for _, ch := range chunks {
			for i := range ch {
				l := &ch[i]
				t.Lines++
				t.Amount = t.Amount.Add(l.Amount)
				t.Rounding = t.Rounding.Add(l.RoundingDiff())
				if l.Amount.Cmp(t.Largest) > 0 {
					t.Largest = l.Amount
				}
			}
			p.Chunks = append(p.Chunks, Chunk{Provider: k.p, Currency: k.c, Lines: ch})
		}
		p.Groups = append(p.Groups, t)
	}
	return p
}

// ChunkLines splits lines into chunks of at most max lines in which no
// destination identity appears twice. It is first-fit in sheet order: a
// line goes to the earliest chunk that has room and does not already pay
// its destination. The result is a partition of lines: every line appears
// in exactly one chunk and no chunk is empty. max < 1 is taken as 1.
// ChunkFeed makes the same chunks from lines as they come.
func ChunkLines(lines []Line, max int) [][]Line {
	c := newChunker(max)
	var done []*chunkBuilder
	for _, l := range lines {
		if b := c.add(l); b != nil {
			done = append(done, b)
		}
	}
	done = append(done, c.flush()...)
	slices.SortFunc(done, func(a, b *chunkBuilder) int { return cmp.Compare(a.n, b.n) })
	out := make([][]Line, len(done))
	for i, b := range done {
		out[i] = b.lines
	}
	return out
}

// maxOpenChunks bounds the chunks a chunker keeps open (not yet full).
// Only a sheet paying one destination more than this many times in a row
// of open chunks reaches it; the oldest open chunk is then closed as it
// is, so memory stays bounded. Plan and run share the rule, so the
// requests plan counts are the requests run sends.
const maxOpenChunks = 1024

// chunker builds ChunkLines's chunks incrementally: a chunk is handed out
// as soon as it is full, so only the open ones are held.
type chunker struct {
	max  int
	open []*chunkBuilder // not full, in creation order
	made int
}

type chunkBuilder struct {
	n     int // creation order
	lines []Line
	ids   map[string]struct{}
}

func newChunker(max int) *chunker {
	if max < 1 {
		max = 1
	}
	return &chunker{max: max}
}

// add places l in the earliest open chunk that has room and does not pay
// its destination, opening a chunk if none does. It returns the chunk
// closed by this line (full, or the oldest when too many are open).
func (c *chunker) add(l Line) *chunkBuilder {
	id := l.Dest.Identity()
	j := 0
	for ; j < len(c.open); j++ {
		if _, dup := c.open[j].ids[id]; !dup {
			break
		}
	}
	if j == len(c.open) {
		c.open = append(c.open, &chunkBuilder{n: c.made, lines: make([]Line, 0, min(c.max, 64)), ids: map[string]struct{}{}})
		c.made++
	}
	b := c.open[j]
	b.lines = append(b.lines, l)
	b.ids[id] = struct{}{}
	switch {
	case len(b.lines) >= c.max:
		c.open = slices.Delete(c.open, j, j+1)
	case len(c.open) > maxOpenChunks:
		b = c.open[0]
		c.open = slices.Delete(c.open, 0, 1)
	default:
		return nil
	}
	b.ids = nil
	return b
}

// flush closes and returns the open chunks, oldest first.
func (c *chunker) flush() []*chunkBuilder {
	out := c.open
	c.open = nil
	for _, b := range out {
		b.ids = nil
	}
	return out
}

// ChunkSize is how many lines one request of provider p carries: Kopo
// Kopo's max_destinations, one for KiotaPay.
func ChunkSize(p ProviderName, cfg *Config) int {
	if p == KopoKopo {
		return cfg.KopoKopo.MaxDestinations
	}
	return 1
}

// ChunkFeed chunks one provider's lines as they come, per currency, with
// ChunkLines's rule, yielding each chunk once it is full and the rest at
// the end: a run reads its lines from the ledger in pages and holds only
// the chunks still open. An error from lines ends the feed with it.
func ChunkFeed(lines iter.Seq2[Line, error], size int) iter.Seq2[Chunk, error] {
	type key struct {
		p ProviderName
		c Currency
	}
	return func(yield func(Chunk, error) bool) {
		open := map[key]*chunker{}
		var order []key
		for l, err := range lines {
			if err != nil {
				yield(Chunk{}, err)
				return
			}
			k := key{l.Provider, l.Currency}
			c := open[k]
			if c == nil {
				c = newChunker(size)
				open[k] = c
				order = append(order, k)
			}
			if b := c.add(l); b != nil && !yield(Chunk{Provider: k.p, Currency: k.c, Lines: b.lines}, nil) {
				return
			}
		}
		for _, k := range order {
			for _, b := range open[k].flush() {
				if !yield(Chunk{Provider: k.p, Currency: k.c, Lines: b.lines}, nil) {
					return
				}
			}
		}
	}
}
