package batch

import (
	"cmp"
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
func ChunkLines(lines []Line, max int) [][]Line {
	if max < 1 {
		max = 1
	}
	type builder struct {
		lines []Line
		ids   map[string]struct{}
	}
	var bs []*builder
	first := 0 // every chunk before first is full
	for _, l := range lines {
		id := l.Dest.Identity()
		j := first
		for ; j < len(bs); j++ {
			b := bs[j]
			if len(b.lines) >= max {
				continue
			}
			if _, dup := b.ids[id]; !dup {
				break
			}
		}
		if j == len(bs) {
			bs = append(bs, &builder{lines: make([]Line, 0, min(max, len(lines))), ids: map[string]struct{}{}})
		}
		b := bs[j]
		b.lines = append(b.lines, l)
		b.ids[id] = struct{}{}
		for first < len(bs) && len(bs[first].lines) >= max {
			bs[first].ids = nil // full: its identities are no longer needed
			first++
		}
	}
	out := make([][]Line, len(bs))
	for i, b := range bs {
		out[i] = b.lines
	}
	return out
}
