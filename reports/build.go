package reports

import (
	"cmp"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"payroll/batch"
)

// Status is the report's status column (docs/design.md §6).
type Status string

// The report's statuses.
const (
	StatusPaid      Status = "paid"
	StatusFailed    Status = "failed"
	StatusUnknown   Status = "unknown"
	StatusPending   Status = "pending"
	StatusInvalid   Status = "invalid"
	StatusConflict  Status = "conflict"
	StatusCancelled Status = "cancelled"
)

// StatusOf maps a line state to the report's status: a line sent and not
// settled yet shows as pending.
func StatusOf(s batch.State) Status {
	switch s {
	case batch.StateSending, batch.StateAccepted:
		return StatusPending
	}
	return Status(s)
}

// Build makes a batch's report from its lines, in sheet order, holding
// every row (for status and tests; BuildStream writes large batches).
func Build(batchID, sheet string, generated time.Time, lines iter.Seq2[batch.LineView, error]) (*Report, error) {
	r := &Report{Batch: batchID, Sheet: sheet, Generated: generated}
	for v, err := range lines {
		if err != nil {
			return nil, err
		}
		r.Rows = append(r.Rows, RowOf(&v))
	}
	slices.SortStableFunc(r.Rows, func(a, b Row) int { return cmp.Compare(a.Row, b.Row) })
	return r, nil
}

// BuildStream makes a batch's report without holding its rows: one pass
// over lines() sums everything the summary needs, and each file written
// reads the lines again, row by row (memory does not grow with the
// batch). The ledger yields lines in import order; when that is not sheet
// order (rows inserted or moved by a later import), the rows are held and
// sorted as Build does.
func BuildStream(batchID, sheet string, generated time.Time, lines func() iter.Seq2[batch.LineView, error]) (*Report, error) {
	r := &Report{Batch: batchID, Sheet: sheet, Generated: generated}
	t := newTally()
	prev, sorted := 0, true
	for v, err := range lines() {
		if err != nil {
			return nil, err
		}
		row := RowOf(&v)
		if row.Row < prev {
			sorted = false
			break
		}
		prev = row.Row
		t.add(&row)
	}
	if !sorted {
		return Build(batchID, sheet, generated, lines())
	}
	r.tally = t
	r.source = func(fn func(*Row) error) error {
		for v, err := range lines() {
			if err != nil {
				return err
			}
			row := RowOf(&v)
			if err := fn(&row); err != nil {
				return err
			}
		}
		return nil
	}
	return r, nil
}

// each calls fn with every row in sheet order: the rows held, or read
// again from the ledger.
func (r *Report) each(fn func(*Row) error) error {
	if r.source != nil {
		return r.source(fn)
	}
	for i := range r.Rows {
		if err := fn(&r.Rows[i]); err != nil {
			return err
		}
	}
	return nil
}

// Len is the number of rows.
func (r *Report) Len() int { return r.sum().lines }

// tally is everything the summary, the advice and the verdict need,
// summed in one pass over the rows.
type tally struct {
	lines     int
	totals    []CurrencyTotal
	tidx      map[string]int
	groups    []Group
	gidx      map[groupKey]int
	counts    map[Status]int // Counts
	advice    map[Status]int // WriteAdvice's: statuses, never-sent, awaiting, changed
	neverSent int
}

type groupKey struct {
	p, c string
	s    Status
}

func newTally() *tally {
	return &tally{tidx: map[string]int{}, gidx: map[groupKey]int{}, counts: map[Status]int{}, advice: map[Status]int{}}
}

func (a *tally) add(row *Row) {
	a.lines++
	a.addTotal(row)
	k := groupKey{row.Provider, row.Currency, row.Status}
	j, ok := a.gidx[k]
	if !ok {
		j = len(a.groups)
		a.gidx[k] = j
		a.groups = append(a.groups, Group{Provider: k.p, Currency: k.c, Status: k.s})
	}
	a.groups[j].Lines++
	a.groups[j].Amount = a.groups[j].Amount.Add(row.Amount)
	a.counts[row.Status]++
	changed := row.HasFlag(FlagSheetChanged)
	if changed && row.Status != StatusConflict {
		a.counts[StatusConflict]++
	}
	switch {
	case row.Status == StatusPending && !row.Awaiting:
		a.advice["never-sent"]++
		a.neverSent++
	case row.Status == StatusPending:
		a.advice["awaiting"]++
	case changed && row.Status != StatusConflict:
		a.advice["changed"]++
	}
	a.advice[row.Status]++
}

// sum is the report's tally, made once from the rows held.
func (r *Report) sum() *tally {
	if r.tally == nil {
		t := newTally()
		for i := range r.Rows {
			t.add(&r.Rows[i])
		}
		r.tally = t
	}
	return r.tally
}

// RowOf is the report row of one line.
func RowOf(v *batch.LineView) Row {
	row := Row{
		Row:               v.Row,
		Reference:         v.Ref,
		Status:            StatusOf(v.State),
		ProviderReference: providerReference(v.Line.Provider, v.ProviderRef),
		Receipt:           v.Receipt,
		FailureReason:     v.FailureReason,
		Attempts:          v.Attempts,
		UpdatedAt:         v.Updated,
		SentAt:            v.SentAt,
		SettledAt:         v.SettledAt,
		Awaiting:          v.Awaiting(),
		Extra:             v.Extra,
	}
	if inv := v.Invalid; inv != nil {
		row.Name, row.Provider, row.Type, row.Currency = inv.Name, inv.Provider, inv.Type, inv.Currency
		if m, err := batch.ParseMoney(inv.Amount); err == nil {
			row.Amount = m
		} else {
			row.AmountText = inv.Amount
		}
		row.FailureReason = strings.Join(inv.Reasons, "; ")
		return row
	}
	l := &v.Line
	if l.RefDerived {
		row.Reference = ""
	}
	row.Name = l.Name
	if row.Name == "" {
		row.Name = strings.TrimSpace(l.FirstName + " " + l.LastName)
	}
	row.Provider, row.Type, row.Destination = string(l.Provider), string(l.Dest.Type), l.Dest.Display()
	row.Amount, row.Currency = l.Amount, string(l.Currency)
	row.Flags = slices.Clone(v.Flags)
	if v.SheetChanged {
		// A line already sent (even paid) whose row then changed keeps
		// its state and what was paid; the row as the sheet now has it
		// is shown beside it.
		row.Flags = append(row.Flags, FlagSheetChanged)
		if c := v.Changed; c != nil && !c.Amount.Equal(l.Amount) {
			row.SheetAmount = c.Amount
		}
		row.FailureReason = joinNonEmpty("; ", row.FailureReason, sheetChangedNote(v))
	}
	if d := l.RoundingDiff(); !d.IsZero() {
		row.FailureReason = joinNonEmpty("; ", row.FailureReason, fmt.Sprintf("rounded down: %s not paid", d))
	}
	return row
}

// providerReference is what the report shows of a provider reference:
// for Kopo Kopo the send_money request's id, the last segment of its
// Location URL (docs/design.md §6), not the URL.
func providerReference(p batch.ProviderName, ref string) string {
	if p == batch.KopoKopo {
		if i := strings.LastIndexByte(ref, '/'); i >= 0 && i < len(ref)-1 {
			return ref[i+1:]
		}
	}
	return ref
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// sheetChangedNote says what the sheet now asks for, for a line whose row
// changed after it was sent (the row's amount and destination are what
// was sent).
func sheetChangedNote(v *batch.LineView) string {
	const note = "the row changed in the sheet after it was sent; not paid again"
	switch c := v.Changed; {
	case c != nil && c.Dest.Identity() != v.Line.Dest.Identity():
		return note + "; the sheet now says " + c.Dest.Display() + " " + c.Amount.String()
	case c == nil && v.Line.Provider != "":
		return note + "; the sheet's row is now invalid"
	}
	return note
}

// Verdict is what a report says of a batch as a whole, for the exit code
// (docs/design.md §5).
type Verdict int

// Verdicts, from best to worst.
const (
	AllPaid   Verdict = iota // every line paid
	Unsettled                // settled, with failed, unknown, conflict or invalid lines
	Pending                  // lines not settled yet
)

// Counts counts the report's rows per status; a row whose sheet changed
// after it was sent also counts as a conflict.
func (r *Report) Counts() map[Status]int { return maps.Clone(r.sum().counts) }

// Verdict judges the batch from its counts.
func (r *Report) Verdict() Verdict {
	c := r.Counts()
	switch {
	case c[StatusPending] > 0:
		return Pending
	case c[StatusFailed]+c[StatusUnknown]+c[StatusConflict]+c[StatusInvalid] > 0:
		return Unsettled
	}
	return AllPaid
}

// NeverSent counts the pending rows that were never sent (payroll run
// sends them; settle cannot).
func (r *Report) NeverSent() int { return r.sum().neverSent }
