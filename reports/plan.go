package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"payroll/batch"
)

// PlanOptions say what WritePlan shows.
type PlanOptions struct {
	RoundingDown bool
	Requests     bool                          // list every request
	Lines        bool                          // list every line (destinations masked)
	Accounts     map[batch.ProviderName]string // what each provider pays from, for the funding table
}

// Funding is what to fund per currency and provider account.
type Funding struct {
	Currency batch.Currency     `json:"currency"`
	Provider batch.ProviderName `json:"provider"`
	Account  string             `json:"account"`
	Lines    int                `json:"lines"`
	Amount   batch.Money        `json:"amount"`
}

// Fund is the plan's funding: per currency and provider account, then
// sorted by currency.
func Fund(p *batch.Plan, accounts map[batch.ProviderName]string) []Funding {
	var out []Funding
	for _, gr := range p.Groups {
		out = append(out, Funding{Currency: gr.Currency, Provider: gr.Provider, Account: accounts[gr.Provider], Lines: gr.Lines, Amount: gr.Amount})
	}
	sortFunding(out)
	return out
}

func sortFunding(f []Funding) {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && (f[j].Currency < f[j-1].Currency || f[j].Currency == f[j-1].Currency && f[j].Provider < f[j-1].Provider); j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}

// WritePlan prints a plan: what to fund per currency and provider
// account, totals per provider and currency, and, when asked, every
// request and every line.
func WritePlan(w io.Writer, v *batch.Validation, p *batch.Plan, o PlanOptions) {
	lines := 0
	for _, gr := range p.Groups {
		lines += gr.Lines
	}
	fmt.Fprintf(w, "Plan for %s: %d %s in %d %s (no provider is called)\n",
		v.File, lines, Plural(lines, "line", "lines"), len(p.Chunks), Plural(len(p.Chunks), "request", "requests"))
	if len(v.Invalid) > 0 {
		fmt.Fprintf(w, "%d invalid %s not planned\n", len(v.Invalid), Plural(len(v.Invalid), "row", "rows"))
	}
	if len(p.Groups) == 0 {
		return
	}
	fmt.Fprintln(w, "\nTo fund before the run (provider fees are not included: they are not documented, see your tariff):")
	t := NewTable("  ", "currency", "amount", "provider", "paid from", "lines").AlignRight(1, 4)
	funds := Fund(p, o.Accounts)
	perCur := map[batch.Currency]batch.Money{}
	curs := []batch.Currency{}
	for _, f := range funds {
		t.Add(string(f.Currency), f.Amount.Grouped(), string(f.Provider), f.Account, strconv.Itoa(f.Lines))
		if _, ok := perCur[f.Currency]; !ok {
			curs = append(curs, f.Currency)
		}
		perCur[f.Currency] = perCur[f.Currency].Add(f.Amount)
	}
	if len(funds) > len(curs) {
		for _, c := range curs {
			t.Add(string(c), perCur[c].Grouped(), "all providers", "", "")
		}
	}
	t.Write(w)
	fmt.Fprintln(w)
	t = NewTable("", "provider", "currency", "lines", "requests", "total", "largest line", "rounding").AlignRight(2, 3, 4, 5, 6)
	for _, gr := range p.Groups {
		t.Add(string(gr.Provider), string(gr.Currency), strconv.Itoa(gr.Lines), strconv.Itoa(gr.Requests),
			gr.Amount.Grouped(), gr.Largest.Grouped(), gr.Rounding.Grouped())
	}
	t.Write(w)
	if o.RoundingDown {
		fmt.Fprintln(w, "\nrounding = \"down\": the rounding column is what the sheet asked for but will not be paid.")
	}
	if o.Lines {
		fmt.Fprintln(w, "\nLines:")
		t = NewTable("  ", "row", "reference", "name", "provider", "type", "destination", "amount").AlignRight(0, 6)
		var all []batch.Line
		for _, c := range p.Chunks {
			all = append(all, c.Lines...)
		}
		slices.SortFunc(all, func(a, b batch.Line) int { return a.Row - b.Row })
		for _, l := range all {
			{
				name := l.Name
				if name == "" {
					name = strings.TrimSpace(l.FirstName + " " + l.LastName)
				}
				t.Add(strconv.Itoa(l.Row), clean(l.Reference), Shorten(clean(name), 30), string(l.Provider), string(l.Dest.Type), l.Dest.Masked(), l.Amount.Grouped()+" "+string(l.Currency))
			}
		}
		t.Write(w)
	}
	if o.Requests {
		fmt.Fprintln(w, "\nRequests:")
		t = NewTable("  ", "#", "provider", "currency", "lines", "total", "rows").AlignRight(0, 3, 4)
		for i, c := range p.Chunks {
			t.Add(strconv.Itoa(i+1), string(c.Provider), string(c.Currency), strconv.Itoa(len(c.Lines)), c.Total().Grouped(), rowRanges(c.Lines))
		}
		t.Write(w)
	} else if !o.Lines {
		fmt.Fprintf(w, "\n(--lines lists every line, destinations masked; --requests lists the %d %s.)\n", len(p.Chunks), Plural(len(p.Chunks), "request", "requests"))
	}
}

// rowRanges writes the rows of lines compactly: "rows 2-23, 25".
func rowRanges(lines []batch.Line) string {
	if len(lines) == 0 {
		return ""
	}
	var parts []string
	start, prev := lines[0].Row, lines[0].Row
	flush := func() {
		if start == prev {
			parts = append(parts, strconv.Itoa(start))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", start, prev))
		}
	}
	for _, l := range lines[1:] {
		if l.Row == prev+1 {
			prev = l.Row
			continue
		}
		flush()
		start, prev = l.Row, l.Row
	}
	flush()
	word := "rows "
	if len(lines) == 1 {
		word = "row "
	}
	return word + strings.Join(parts, ", ")
}

type planJSON struct {
	File     string        `json:"file"`
	Rows     int           `json:"rows"`
	Valid    int           `json:"valid"`
	Invalid  int           `json:"invalid"`
	Errors   []string      `json:"errors"`
	Groups   []batch.Total `json:"groups"`
	Funding  []Funding     `json:"funding"`
	Requests []requestJSON `json:"requests"`
}

type requestJSON struct {
	N        int                `json:"n"`
	Provider batch.ProviderName `json:"provider"`
	Currency batch.Currency     `json:"currency"`
	Lines    int                `json:"lines"`
	Total    batch.Money        `json:"total"`
	Rows     []int              `json:"rows"`
	Refs     []string           `json:"references"`
}

// WritePlanJSON writes the plan for machines.
func WritePlanJSON(w io.Writer, v *batch.Validation, p *batch.Plan, accounts map[batch.ProviderName]string) error {
	out := planJSON{File: v.File, Rows: v.Rows, Valid: len(v.Lines), Invalid: len(v.Invalid),
		Errors: []string{}, Groups: p.Groups, Funding: Fund(p, accounts), Requests: []requestJSON{}}
	if out.Funding == nil {
		out.Funding = []Funding{}
	}
	if out.Groups == nil {
		out.Groups = []batch.Total{}
	}
	for _, e := range v.Errors {
		out.Errors = append(out.Errors, e.Error())
	}
	for i, c := range p.Chunks {
		r := requestJSON{N: i + 1, Provider: c.Provider, Currency: c.Currency, Lines: len(c.Lines), Total: c.Total()}
		for _, l := range c.Lines {
			r.Rows = append(r.Rows, l.Row)
			r.Refs = append(r.Refs, l.Reference)
		}
		out.Requests = append(out.Requests, r)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
