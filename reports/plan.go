package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"payroll/batch"
)

// WritePlan prints a plan: totals per provider and currency, and the
// requests it would send.
func WritePlan(w io.Writer, v *batch.Validation, p *batch.Plan, roundingDown bool) {
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
	fmt.Fprintln(w)
	t := NewTable("", "provider", "currency", "lines", "requests", "total", "largest line", "rounding").AlignRight(2, 3, 4, 5, 6)
	for _, gr := range p.Groups {
		t.Add(string(gr.Provider), string(gr.Currency), strconv.Itoa(gr.Lines), strconv.Itoa(gr.Requests),
			gr.Amount.Grouped(), gr.Largest.Grouped(), gr.Rounding.Grouped())
	}
	t.Write(w)
	if roundingDown {
		fmt.Fprintln(w, "\nrounding = \"down\": the rounding column is what the sheet asked for but will not be paid.")
	}
	fmt.Fprintln(w, "\nRequests:")
	t = NewTable("  ", "#", "provider", "currency", "lines", "total", "rows").AlignRight(0, 3, 4)
	for i, c := range p.Chunks {
		t.Add(strconv.Itoa(i+1), string(c.Provider), string(c.Currency), strconv.Itoa(len(c.Lines)), c.Total().Grouped(), rowRanges(c.Lines))
	}
	t.Write(w)
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
func WritePlanJSON(w io.Writer, v *batch.Validation, p *batch.Plan) error {
	out := planJSON{File: v.File, Rows: v.Rows, Valid: len(v.Lines), Invalid: len(v.Invalid),
		Errors: []string{}, Groups: p.Groups, Requests: []requestJSON{}}
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
