package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"payroll/batch"
)

// CurrencyTotal is the terminal summary's line for one currency.
type CurrencyTotal struct {
	Currency    string
	Lines       int
	Requested   batch.Money // every row of the current sheet (cancelled rows left it)
	Paid        batch.Money
	Failed      batch.Money
	Outstanding batch.Money // pending or unknown: not settled yet
	Counts      map[Status]int
	Amounts     map[Status]batch.Money // per status
}

// Totals sums the report per currency in order of first appearance.
func Totals(r *Report) []CurrencyTotal { return r.sum().totals }

// addTotal adds a row to the per-currency totals.
func (a *tally) addTotal(row *Row) {
	j, ok := a.tidx[row.Currency]
	if !ok {
		j = len(a.totals)
		a.tidx[row.Currency] = j
		a.totals = append(a.totals, CurrencyTotal{Currency: row.Currency, Counts: map[Status]int{}, Amounts: map[Status]batch.Money{}})
	}
	t := &a.totals[j]
	t.Lines++
	t.Counts[row.Status]++
	t.Amounts[row.Status] = t.Amounts[row.Status].Add(row.Amount)
	if row.Status != "cancelled" {
		t.Requested = t.Requested.Add(row.Amount)
	}
	switch row.Status {
	case "paid":
		t.Paid = t.Paid.Add(row.Amount)
	case "failed":
		t.Failed = t.Failed.Add(row.Amount)
	case "pending", "unknown":
		t.Outstanding = t.Outstanding.Add(row.Amount)
	}
}

// WriteSummary prints the terminal summary: per currency, what was
// requested, paid, failed and is outstanding, the counts per status, and
// what the operator should do next.
func WriteSummary(w io.Writer, r *Report) {
	n := r.Len()
	fmt.Fprintf(w, "Batch %s (%s): %d %s\n", r.Batch, clean(r.Sheet), n, Plural(n, "line", "lines"))
	for _, t := range Totals(r) {
		cur := t.Currency
		if cur == "" {
			cur = "(no currency)"
		}
		fmt.Fprintf(w, "  %-4s requested %s · paid %s · failed %s · outstanding %s\n", cur,
			t.Requested.Grouped(), t.Paid.Grouped(), t.Failed.Grouped(), t.Outstanding.Grouped())
		var parts []string
		for _, s := range Statuses {
			if n := t.Counts[s]; n > 0 {
				parts = append(parts, strconv.Itoa(n)+" "+string(s))
			}
		}
		fmt.Fprintf(w, "       %s\n", strings.Join(parts, ", "))
	}
	WriteAdvice(w, r)
}

// WriteAdvice prints what the operator should do next, one line per kind
// of line that needs it: never sent (run again), awaiting a result
// (settle), unknown (resolve), failed (correct or retry), invalid, and
// conflicts; or that every line is paid.
func WriteAdvice(w io.Writer, r *Report) {
	counts := r.sum().advice
	var next []string
	if n := counts["never-sent"]; n > 0 {
		next = append(next, fmt.Sprintf("%d %s never sent: run `payroll run %s` again (batch %s) to send %s; nothing already sent is sent again",
			n, Plural(n, "line was", "lines were"), clean(r.Sheet), r.Batch, Plural(n, "it", "them")))
	}
	if n := counts["awaiting"]; n > 0 {
		next = append(next, fmt.Sprintf("%d %s sent and %s for the provider's result: run `payroll settle %s` later (safe to repeat)",
			n, Plural(n, "line was", "lines were"), Plural(n, "waits", "wait"), r.Batch))
	}
	if n := counts["unknown"]; n > 0 {
		next = append(next, fmt.Sprintf("%d %s an unknown outcome: check with the provider, then `payroll resolve %s REF --paid|--failed --note ...`", n, Plural(n, "line has", "lines have"), r.Batch))
	}
	if n := counts["failed"]; n > 0 {
		next = append(next, fmt.Sprintf("%d %s: see failure_reason in the report; if the phone, account or amount was wrong, correct the sheet and run it again, else `payroll retry %s`", n, Plural(n, "line failed", "lines failed"), r.Batch))
	}
	if n := counts["invalid"]; n > 0 {
		next = append(next, fmt.Sprintf("%d invalid %s skipped: fix the sheet and run it again (paid lines are never paid twice)", n, Plural(n, "row was", "rows were")))
	}
	if n := counts["conflict"] + counts["changed"]; n > 0 {
		next = append(next, fmt.Sprintf("%d %s after being sent and %s not paid again: review them", n, Plural(n, "row changed", "rows changed"), Plural(n, "was", "were")))
	}
	if len(next) == 0 {
		fmt.Fprintln(w, "Every line is paid. Nothing to do.")
		return
	}
	fmt.Fprintln(w, "Next:")
	for _, s := range next {
		fmt.Fprintln(w, "  - "+s)
	}
}

// Plural picks the word for n: one for 1, many otherwise.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
