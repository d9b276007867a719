package reports

import (
	"archive/zip"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
)

// WriteXLSX writes the report as a workbook with a Summary sheet (counts
// and totals per provider × currency × status, totals per currency and a
// chart) and a Lines sheet streamed row by row. Amounts are numbers with a
// money format; header rows are frozen; formula-like text is escaped.
func WriteXLSX(w io.Writer, r *Report) error {
	wb := excelize.NewFile()
	defer wb.Close()
	if err := wb.SetSheetName("Sheet1", "Summary"); err != nil {
		return err
	}
	if _, err := wb.NewSheet("Lines"); err != nil {
		return err
	}
	styles, err := newStyles(wb)
	if err != nil {
		return err
	}
	if err := writeSummarySheet(wb, r, styles); err != nil {
		return fmt.Errorf("summary sheet: %w", err)
	}
	if err := writeLinesSheet(wb, r, styles); err != nil {
		return fmt.Errorf("lines sheet: %w", err)
	}
	wb.SetActiveSheet(0)
	// excelize assembles the whole archive in a bytes.Buffer before
	// copying it out (File.WriteToBuffer): 87 MB for a million lines, and
	// twice that while the buffer grows. Its ZipWriter hook is handed that
	// buffer; the archive is written straight to w instead, and the empty
	// buffer is discarded. (The one thing done on the buffer afterwards,
	// marking zip64 entries, applies only to parts over 4 GB.)
	var zw *zip.Writer
	wb.ZipWriter = func(io.Writer) excelize.ZipWriter {
		zw = zip.NewWriter(w)
		return zw
	}
	if _, err := wb.WriteTo(io.Discard); err != nil {
		return err
	}
	if zw == nil {
		return fmt.Errorf("xlsx: the workbook was not written")
	}
	return nil
}

type styles struct {
	header, money, title, total, totalMoney int
	failed, unknown                         int // conditional formats of the Lines sheet
}

func newStyles(wb *excelize.File) (styles, error) {
	var s styles
	var err error
	if s.header, err = wb.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}}}); err != nil {
		return s, err
	}
	if s.money, err = wb.NewStyle(&excelize.Style{NumFmt: 4}); err != nil { // #,##0.00
		return s, err
	}
	if s.total, err = wb.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Border: []excelize.Border{{Type: "top", Color: "000000", Style: 1}}}); err != nil {
		return s, err
	}
	if s.totalMoney, err = wb.NewStyle(&excelize.Style{NumFmt: 4, Font: &excelize.Font{Bold: true},
		Border: []excelize.Border{{Type: "top", Color: "000000", Style: 1}}}); err != nil {
		return s, err
	}
	if s.failed, err = wb.NewConditionalStyle(&excelize.Style{Font: &excelize.Font{Color: "9C0006"},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFC7CE"}}}); err != nil {
		return s, err
	}
	if s.unknown, err = wb.NewConditionalStyle(&excelize.Style{Font: &excelize.Font{Color: "9C5700"},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFEB9C"}}}); err != nil {
		return s, err
	}
	s.title, err = wb.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	return s, err
}

// writeLinesSheet streams one row per line, then a total per currency.
// Everything that is not a cell (filter, highlights, print setup) is set
// on the sheet before the stream writer takes it over, which writes it
// out at Flush.
func writeLinesSheet(wb *excelize.File, r *Report, st styles) error {
	const sh = "Lines"
	n := r.Len()
	header := r.Header()
	lastCol, _ := excelize.ColumnNumberToName(len(header))
	last := n + 1 // the last data row
	// Failed and unknown rows stand out (whole row, by the status column).
	if n > 0 {
		rng := fmt.Sprintf("A2:%s%d", lastCol, last)
		var rules []excelize.ConditionalFormatOptions
		for _, c := range []struct {
			s     Status
			style int
		}{{StatusFailed, st.failed}, {StatusConflict, st.failed}, {StatusUnknown, st.unknown}} {
			style := c.style
			rules = append(rules, excelize.ConditionalFormatOptions{Type: "formula", Criteria: fmt.Sprintf(`$I2="%s"`, c.s), Format: &style})
		}
		if err := wb.SetConditionalFormat(sh, rng, rules); err != nil {
			return err
		}
	}
	// Print: landscape, one page wide, the header on every page.
	fit, tall := 1, 0
	if err := wb.SetSheetProps(sh, &excelize.SheetPropsOptions{FitToPage: boolPtr(true)}); err != nil {
		return err
	}
	orientation, paper := "landscape", 9 // A4
	if err := wb.SetPageLayout(sh, &excelize.PageLayoutOptions{Orientation: &orientation, Size: &paper, FitToWidth: &fit, FitToHeight: &tall}); err != nil {
		return err
	}
	if err := wb.SetDefinedName(&excelize.DefinedName{Name: "_xlnm.Print_Titles", RefersTo: "Lines!$1:$1", Scope: sh}); err != nil {
		return err
	}
	sw, err := wb.NewStreamWriter(sh)
	if err != nil {
		return err
	}
	widths := []float64{6, 16, 24, 10, 15, 22, 14, 9, 10, 40, 16, 40, 9, 21, 26, 26, 24, 14}
	for range r.ExtraColumns {
		widths = append(widths, 16)
	}
	for i, wd := range widths {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	cells := make([]any, len(header))
	for i, c := range header {
		cells[i] = excelize.Cell{StyleID: st.header, Value: escape(c)}
	}
	if err := sw.SetRow("A1", cells); err != nil {
		return err
	}
	i := -1
	err = r.each(func(row *Row) error {
		i++
		var amount any = excelize.Cell{StyleID: st.money, Value: row.Amount.Decimal().InexactFloat64()}
		if row.AmountText != "" {
			amount = escape(row.AmountText)
		}
		vals := []any{
			row.Row, escape(row.Reference), escape(row.Name), row.Provider, row.Type, escape(row.Destination),
			amount, row.Currency, string(row.Status), escape(row.ProviderReference), escape(row.Receipt),
			escape(row.FailureReason), row.Attempts, timestamp(row.UpdatedAt),
			zoned(row.SentAt, r.Zone), zoned(row.SettledAt, r.Zone), escape(strings.Join(row.Flags, ";")), nil,
		}
		if !row.SheetAmount.IsZero() {
			vals[len(vals)-1] = excelize.Cell{StyleID: st.money, Value: row.SheetAmount.Decimal().InexactFloat64()}
		}
		for _, e := range r.extras(row) {
			vals = append(vals, e)
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		return sw.SetRow(cell, vals)
	})
	if err != nil {
		return err
	}
	if n > 0 {
		// The filter covers the data only, not the totals below it.
		if err := sw.AddTable(&excelize.Table{Range: fmt.Sprintf("A1:%s%d", lastCol, last), Name: "Lines",
			StyleName: "TableStyleLight1", ShowRowStripes: boolPtr(false)}); err != nil {
			return err
		}
	}
	// One total per currency: a formula (the sheet stays right if rows are
	// edited) with its value cached.
	totals := Totals(r)
	for i, t := range totals {
		rowN := last + 2 + i
		label := excelize.Cell{StyleID: st.total, Value: "requested " + t.Currency}
		f := fmt.Sprintf(`SUMIFS(G2:G%[1]d,H2:H%[1]d,"%[2]s",I2:I%[1]d,"<>cancelled")`, max(last, 2), t.Currency)
		vals := []any{nil, nil, nil, nil, nil, label,
			excelize.Cell{StyleID: st.totalMoney, Formula: f, Value: t.Requested.Decimal().InexactFloat64()},
			excelize.Cell{StyleID: st.total, Value: t.Currency}}
		cell, _ := excelize.CoordinatesToCellName(1, rowN)
		if err := sw.SetRow(cell, vals); err != nil {
			return err
		}
	}
	return sw.Flush()
}

func boolPtr(b bool) *bool { return &b }

func writeSummarySheet(wb *excelize.File, r *Report, st styles) error {
	const sh = "Summary"
	set := func(cell string, v any) error { return wb.SetCellValue(sh, cell, v) }
	if err := set("A1", "Reconciliation: "+escape(r.Batch)); err != nil {
		return err
	}
	wb.SetCellStyle(sh, "A1", "A1", st.title)
	set("A2", "Sheet: "+escape(r.Sheet))
	set("A3", "Generated: "+zoned(r.Generated, r.Zone))

	head := []string{"provider", "currency", "status", "lines", "amount"}
	for i, h := range head {
		cell, _ := excelize.CoordinatesToCellName(i+1, 5)
		set(cell, h)
	}
	wb.SetCellStyle(sh, "A5", "E5", st.header)
	groups := r.Groups()
	for i, g := range groups {
		row := 6 + i
		wb.SetSheetRow(sh, fmt.Sprintf("A%d", row), &[]any{g.Provider, g.Currency, string(g.Status), g.Lines, g.Amount.Decimal().InexactFloat64()})
		wb.SetCellStyle(sh, fmt.Sprintf("E%d", row), fmt.Sprintf("E%d", row), st.money)
	}
	last := 5 + len(groups)

	// Totals per currency.
	top := last + 2
	for i, h := range []string{"currency", "requested", "paid", "failed", "outstanding"} {
		cell, _ := excelize.CoordinatesToCellName(i+1, top)
		set(cell, h)
	}
	wb.SetCellStyle(sh, fmt.Sprintf("A%d", top), fmt.Sprintf("E%d", top), st.header)
	totals := Totals(r)
	for i, t := range totals {
		row := top + 1 + i
		wb.SetSheetRow(sh, fmt.Sprintf("A%d", row), &[]any{t.Currency, t.Requested.Decimal().InexactFloat64(),
			t.Paid.Decimal().InexactFloat64(), t.Failed.Decimal().InexactFloat64(), t.Outstanding.Decimal().InexactFloat64()})
		wb.SetCellStyle(sh, fmt.Sprintf("B%d", row), fmt.Sprintf("E%d", row), st.money)
	}
	wb.SetColWidth(sh, "A", "A", 12)
	wb.SetColWidth(sh, "B", "E", 16)
	if err := wb.SetPanes(sh, &excelize.Panes{Freeze: true, YSplit: 5, TopLeftCell: "A6", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	// Printed on one landscape page.
	orientation, fit := "landscape", 1
	if err := wb.SetSheetProps(sh, &excelize.SheetPropsOptions{FitToPage: boolPtr(true)}); err != nil {
		return err
	}
	if err := wb.SetPageLayout(sh, &excelize.PageLayoutOptions{Orientation: &orientation, FitToWidth: &fit, FitToHeight: &fit}); err != nil {
		return err
	}
	// Amounts per currency and status, below the totals, and a chart per
	// currency of them beside the tables (KES and TZS on one axis would be
	// meaningless).
	row := top + len(totals) + 2
	for i, h := range []string{"currency", "status", "amount"} {
		cell, _ := excelize.CoordinatesToCellName(i+1, row)
		set(cell, h)
	}
	wb.SetCellStyle(sh, fmt.Sprintf("A%d", row), fmt.Sprintf("C%d", row), st.header)
	for i, t := range totals {
		first := row + 1
		for _, s := range Statuses {
			amount := t.Amounts[s]
			if amount.IsZero() {
				continue
			}
			row++
			wb.SetSheetRow(sh, fmt.Sprintf("A%d", row), &[]any{t.Currency, string(s), amount.Decimal().InexactFloat64()})
			wb.SetCellStyle(sh, fmt.Sprintf("C%d", row), fmt.Sprintf("C%d", row), st.money)
		}
		if row < first {
			continue
		}
		anchor := fmt.Sprintf("G%d", 5+i*16)
		if err := wb.AddChart(sh, anchor, &excelize.Chart{
			Type: excelize.Col,
			Series: []excelize.ChartSeries{{
				Name:       fmt.Sprintf("Summary!$A$%d", first),
				Categories: fmt.Sprintf("Summary!$B$%d:$B$%d", first, row),
				Values:     fmt.Sprintf("Summary!$C$%d:$C$%d", first, row),
				Fill:       excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"5B9BD5"}},
			}},
			Title:    excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: t.Currency + " amounts by status"}}},
			Legend:   excelize.ChartLegend{Position: "none"},
			PlotArea: excelize.ChartPlotArea{ShowVal: true},
			Format:   excelize.GraphicOptions{ScaleX: 1.1, ScaleY: 1.0},
		}); err != nil {
			return err
		}
	}
	return nil
}
