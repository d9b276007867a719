package reports

import (
	"fmt"
	"io"
	"slices"
	"strconv"

	"payroll/batch"
)

// WriteToPay prints what a run or retry is about to send, per provider
// and currency, with the total per currency: what the operator confirms.
func WriteToPay(w io.Writer, lines []batch.Line) {
	type key struct {
		p batch.ProviderName
		c batch.Currency
	}
	n := map[key]int{}
	sum := map[key]batch.Money{}
	perCur := map[batch.Currency]batch.Money{}
	for i := range lines {
		k := key{lines[i].Provider, lines[i].Currency}
		n[k]++
		sum[k] = sum[k].Add(lines[i].Amount)
		perCur[k.c] = perCur[k.c].Add(lines[i].Amount)
	}
	keys := make([]key, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.c != b.c {
			return cmpString(string(a.c), string(b.c))
		}
		return cmpString(string(a.p), string(b.p))
	})
	fmt.Fprintf(w, "About to pay %d %s:\n", len(lines), Plural(len(lines), "line", "lines"))
	t := NewTable("  ", "provider", "currency", "lines", "amount").AlignRight(2, 3)
	for _, k := range keys {
		t.Add(string(k.p), string(k.c), strconv.Itoa(n[k]), sum[k].Grouped())
	}
	curs := make([]batch.Currency, 0, len(perCur))
	for c := range perCur {
		curs = append(curs, c)
	}
	slices.Sort(curs)
	for _, c := range curs {
		t.Add("total", string(c), "", perCur[c].Grouped())
	}
	t.Write(w)
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
