package reports

import (
	"fmt"
	"io"
	"strconv"

	"payroll/batch"
)

// WriteErrors prints a validation's errors, one a line, then a blank line.
func WriteErrors(w io.Writer, v *batch.Validation) {
	for _, e := range v.Errors {
		fmt.Fprintln(w, e)
	}
	if len(v.Errors) > 0 {
		fmt.Fprintln(w)
	}
}

// WriteValidation prints the counts of a validation and the totals per
// provider × currency × destination type, then per currency.
func WriteValidation(w io.Writer, v *batch.Validation) {
	fmt.Fprintf(w, "%s: %d rows, %d valid, %d invalid", v.File, v.Rows, v.Valid, len(v.Invalid))
	if n := len(v.Errors); n > 0 {
		fmt.Fprintf(w, ", %d %s", n, Plural(n, "error", "errors"))
	}
	fmt.Fprintln(w)
	totals := v.Totals()
	if len(totals) == 0 {
		return
	}
	fmt.Fprintln(w)
	t := NewTable("", "provider", "currency", "type", "lines", "amount").AlignRight(3, 4)
	for _, x := range totals {
		t.Add(string(x.Provider), string(x.Currency), string(x.Type), strconv.Itoa(x.Lines), x.Amount.Grouped())
	}
	for _, c := range currencyTotals(totals) {
		t.Add("total", string(c.Currency), "", strconv.Itoa(c.Lines), c.Amount.Grouped())
	}
	t.Write(w)
}

// currencyTotals sums totals per currency, in order of first appearance.
func currencyTotals(ts []batch.Total) []batch.Total {
	var out []batch.Total
	idx := map[batch.Currency]int{}
	for _, t := range ts {
		i, ok := idx[t.Currency]
		if !ok {
			i = len(out)
			idx[t.Currency] = i
			out = append(out, batch.Total{Currency: t.Currency})
		}
		out[i].Lines += t.Lines
		out[i].Amount = out[i].Amount.Add(t.Amount)
		out[i].Rounding = out[i].Rounding.Add(t.Rounding)
	}
	return out
}
