package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"payroll/batch"
)

type planOptions struct {
	sheet       string
	json        bool
	skipInvalid bool
}

func newPlanCommand(g *globalOptions) *cobra.Command {
	var o planOptions
	cmd := &cobra.Command{
		Use:   "plan SHEET",
		Short: "Validate, route and chunk a sheet; show the requests that would be sent",
		Long: `plan validates the sheet, routes every line to its provider and splits the
lines into the requests a run would send: Kopo Kopo requests of at most
kopokopo.max_destinations distinct destinations, one KiotaPay request per
line. It prints counts, totals, the largest line and what rounding = "down"
leaves unpaid. No provider is called. Exit 3 if the sheet has invalid rows
(unless --skip-invalid).`,
		Example: `  payroll plan samples/payroll-2026-11.csv
  payroll plan --json samples/payroll-2026-11.xlsx | jq '.requests | length'
  payroll plan --skip-invalid november.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlan(cmd.Context(), o, g, args[0])
		},
	}
	cmd.Flags().StringVar(&o.sheet, "sheet", "", "XLSX worksheet to read (default the first)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the plan as JSON")
	cmd.Flags().BoolVar(&o.skipInvalid, "skip-invalid", false, "plan the valid rows even if some are invalid")
	return cmd
}

func runPlan(ctx context.Context, o planOptions, g *globalOptions, path string) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	v, err := batch.ValidateFile(ctx, path, cfg, o.sheet)
	if err != nil {
		return err
	}
	p := batch.MakePlan(v.Lines, cfg)
	if o.json {
		if err := writePlanJSON(g.stdout, v, p); err != nil {
			return err
		}
	} else {
		printErrors(g.stdout, v)
		printPlan(g.stdout, v, p, cfg)
	}
	if !v.OK() && !o.skipInvalid {
		return errInvalidSheet
	}
	return nil
}

func printPlan(w io.Writer, v *batch.Validation, p *batch.Plan, cfg *batch.Config) {
	lines := 0
	for _, gr := range p.Groups {
		lines += gr.Lines
	}
	fmt.Fprintf(w, "Plan for %s: %d %s in %d %s (no provider is called)\n",
		v.File, lines, plural(lines, "line", "lines"), len(p.Chunks), plural(len(p.Chunks), "request", "requests"))
	if len(v.Invalid) > 0 {
		fmt.Fprintf(w, "%d invalid %s not planned\n", len(v.Invalid), plural(len(v.Invalid), "row", "rows"))
	}
	if len(p.Groups) == 0 {
		return
	}
	fmt.Fprintln(w)
	t := newTable("", "provider", "currency", "lines", "requests", "total", "largest line", "rounding").alignRight(2, 3, 4, 5, 6)
	for _, gr := range p.Groups {
		t.add(string(gr.Provider), string(gr.Currency), strconv.Itoa(gr.Lines), strconv.Itoa(gr.Requests),
			gr.Amount.Grouped(), gr.Largest.Grouped(), gr.Rounding.Grouped())
	}
	t.write(w)
	if cfg.Sheet.Rounding == batch.RoundingDown {
		fmt.Fprintln(w, "\nrounding = \"down\": the rounding column is what the sheet asked for but will not be paid.")
	}
	fmt.Fprintln(w, "\nRequests:")
	t = newTable("  ", "#", "provider", "currency", "lines", "total", "rows").alignRight(0, 3, 4)
	for i, c := range p.Chunks {
		t.add(strconv.Itoa(i+1), string(c.Provider), string(c.Currency), strconv.Itoa(len(c.Lines)), c.Total().Grouped(), rowRanges(c.Lines))
	}
	t.write(w)
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

func writePlanJSON(w io.Writer, v *batch.Validation, p *batch.Plan) error {
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
