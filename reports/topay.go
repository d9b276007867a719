package reports

import (
	"fmt"
	"io"
	"slices"
	"strconv"

	"payroll/batch"
)

// ToPay sums what a run or retry is about to send, per provider and
// currency, as the lines are read (none is held).
type ToPay struct {
	lines  int
	n      map[toPayKey]int
	sum    map[toPayKey]batch.Money
	perCur map[batch.Currency]batch.Money
}

type toPayKey struct {
	p batch.ProviderName
	c batch.Currency
}

// Add counts one line.
func (t *ToPay) Add(l *batch.Line) {
	if t.n == nil {
		t.n, t.sum, t.perCur = map[toPayKey]int{}, map[toPayKey]batch.Money{}, map[batch.Currency]batch.Money{}
	}
	k := toPayKey{l.Provider, l.Currency}
	t.lines++
	t.n[k]++
	t.sum[k] = t.sum[k].Add(l.Amount)
	t.perCur[k.c] = t.perCur[k.c].Add(l.Amount)
}

// Lines is the number of lines added.
func (t *ToPay) Lines() int { return t.lines }

// Providers lists the providers of the lines added, in a stable order.
func (t *ToPay) Providers() []batch.ProviderName {
	var out []batch.ProviderName
	for k := range t.n {
		if !slices.Contains(out, k.p) {
			out = append(out, k.p)
		}
	}
	slices.Sort(out)
	return out
}

// Write prints what a run or retry is about to send, per provider and
// currency, with the total per currency: what the operator confirms.
func (t *ToPay) Write(w io.Writer) {
	keys := make([]toPayKey, 0, len(t.n))
	for k := range t.n {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b toPayKey) int {
		if a.c != b.c {
			return cmpString(string(a.c), string(b.c))
		}
		return cmpString(string(a.p), string(b.p))
	})
	fmt.Fprintf(w, "About to pay %d %s:\n", t.lines, Plural(t.lines, "line", "lines"))
	tb := NewTable("  ", "provider", "currency", "lines", "amount").AlignRight(2, 3)
	for _, k := range keys {
		tb.Add(string(k.p), string(k.c), strconv.Itoa(t.n[k]), t.sum[k].Grouped())
	}
	curs := make([]batch.Currency, 0, len(t.perCur))
	for c := range t.perCur {
		curs = append(curs, c)
	}
	slices.Sort(curs)
	for _, c := range curs {
		tb.Add("total", string(c), "", t.perCur[c].Grouped())
	}
	tb.Write(w)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
