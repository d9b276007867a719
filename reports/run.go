package reports

import (
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"

	"payroll/batch"
)

// WriteImport prints what an import of the sheet did.
func WriteImport(w io.Writer, r batch.ImportReport) {
	verb := "imported"
	if !r.Created {
		verb = "re-imported"
	}
	fmt.Fprintf(w, "Batch %s %s: %d new, %d unchanged, %d updated", r.BatchID, verb, r.Added, r.Unchanged, r.Updated)
	for _, x := range []struct {
		n    int
		what string
	}{{r.Corrected, "corrected after failing"}, {r.Revived, "fixed"}, {r.Invalid, "invalid"}, {r.Cancelled, "cancelled"},
		{r.Conflicts, "conflicts"}, {r.Departed, "left the sheet after being sent"}} {
		if x.n > 0 {
			fmt.Fprintf(w, ", %d %s", x.n, x.what)
		}
	}
	fmt.Fprintln(w)
	for _, c := range r.ConflictLines {
		fmt.Fprintf(w, "  conflict: row %d (%s) changed after it was sent (%s); it will not be paid again\n", c.Row, c.Ref, c.State)
	}
}

// WriteTwins warns about rows of the sheet that pay the same destination
// the same amount under distinct references: allowed (a bonus beside a
// salary), but worth a look.
func WriteTwins(w io.Writer, lines []batch.Line) {
	for _, group := range batch.Twins(lines) {
		var rows []string
		for _, l := range group {
			rows = append(rows, fmt.Sprintf("row %d (%s)", l.Row, l.Reference))
		}
		fmt.Fprintf(w, "warning: %s pay %s %s %s; each is paid (distinct references)\n",
			strings.Join(rows, " and "), group[0].Dest.Masked(), group[0].Amount.Grouped(), group[0].Currency)
	}
}

// WriteDuplicates lists the lines the duplicate guard holds, each beside
// the payment it looks like.
func WriteDuplicates(w io.Writer, dups []batch.Duplicate) {
	for _, d := range dups {
		fmt.Fprintf(w, "row %d (%s): same destination, amount and currency as batch %s row %d (%s), %s %s\n",
			d.Row, d.Ref, d.OtherBatch, d.OtherRow, d.OtherRef, d.OtherState, d.When.Local().Format(time.DateTime))
	}
}

// Days shows a duration of whole days as "25 days".
func Days(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		return fmt.Sprintf("%d %s", n, Plural(n, "day", "days"))
	}
	return d.String()
}

// WriteAttention lists the lines that need a person: every line that is
// not paid, accepted or cancelled, and any line with a flag; phone and
// account numbers masked.
func WriteAttention(w io.Writer, lines iter.Seq2[batch.LineView, error]) error {
	t := NewTable("  ", "row", "reference", "state", "destination", "amount", "why").AlignRight(0, 4)
	n := 0
	for v, err := range lines {
		if err != nil {
			return err
		}
		switch v.State {
		case batch.StatePaid, batch.StateAccepted, batch.StateCancelled:
			if len(v.Flags) == 0 && !v.SheetChanged {
				continue
			}
		}
		n++
		row := RowOf(&v)
		amount := row.Amount.Grouped() + " " + row.Currency
		if row.AmountText != "" {
			amount = row.AmountText
		}
		why := row.FailureReason
		if v.State == batch.StatePending && why == "" {
			why = "never sent: payroll run sends it"
		}
		t.Add(strconv.Itoa(row.Row), v.Ref, string(v.State), v.Line.Dest.Masked(), amount, Shorten(why, 70))
	}
	if n > 0 {
		fmt.Fprintf(w, "\nLines that need attention:\n")
		t.Write(w)
	}
	return nil
}

// Shorten cuts s to n characters, ending in "…" when it cut.
func Shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// WriteDecisions shows decisions before they are recorded: each beside the
// line's state now, refused ones saying why.
func WriteDecisions(w io.Writer, cs []batch.DecisionCheck) {
	t := NewTable("  ", "row", "reference", "now", "decision", "receipt", "note").AlignRight(0)
	for _, c := range cs {
		now := string(c.State)
		if !c.OK {
			now = strings.TrimPrefix(now+": ", ": ") + "refused, " + c.Why
		}
		t.Add(strconv.Itoa(c.Row), c.Reference, now, c.Outcome, c.Receipt, Shorten(c.Note, 40))
	}
	t.Write(w)
}
