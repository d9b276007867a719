package reports

import (
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
	_, err = wb.WriteTo(w)
	return err
}

type styles struct{ header, money, title int }

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
	s.title, err = wb.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	return s, err
}

func writeLinesSheet(wb *excelize.File, r *Report, st styles) error {
	sw, err := wb.NewStreamWriter("Lines")
	if err != nil {
		return err
	}
	widths := []float64{6, 16, 24, 10, 15, 22, 14, 9, 10, 40, 16, 40, 9, 21, 26, 26, 24, 14}
	for i, wd := range widths {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	header := make([]any, len(Columns))
	for i, c := range Columns {
		header[i] = excelize.Cell{StyleID: st.header, Value: c}
	}
	if err := sw.SetRow("A1", header); err != nil {
		return err
	}
	for i := range r.Rows {
		row := &r.Rows[i]
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
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, vals); err != nil {
			return err
		}
	}
	return sw.Flush()
}

func writeSummarySheet(wb *excelize.File, r *Report, st styles) error {
	const sh = "Summary"
	set := func(cell string, v any) error { return wb.SetCellValue(sh, cell, v) }
	if err := set("A1", "Reconciliation: "+escape(r.Batch)); err != nil {
		return err
	}
	wb.SetCellStyle(sh, "A1", "A1", st.title)
	set("A2", "Sheet: "+escape(r.Sheet))
	set("A3", "Generated: "+timestamp(r.Generated))

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
		wb.SetCellValue(sh, fmt.Sprintf("F%d", row), g.Provider+" "+g.Currency+" "+string(g.Status))
	}
	last := 5 + len(groups)

	// Totals per currency.
	top := last + 2
	for i, h := range []string{"currency", "requested", "paid", "failed", "outstanding"} {
		cell, _ := excelize.CoordinatesToCellName(i+1, top)
		set(cell, h)
	}
	wb.SetCellStyle(sh, fmt.Sprintf("A%d", top), fmt.Sprintf("E%d", top), st.header)
	for i, t := range Totals(r) {
		row := top + 1 + i
		wb.SetSheetRow(sh, fmt.Sprintf("A%d", row), &[]any{t.Currency, t.Requested.Decimal().InexactFloat64(),
			t.Paid.Decimal().InexactFloat64(), t.Failed.Decimal().InexactFloat64(), t.Outstanding.Decimal().InexactFloat64()})
		wb.SetCellStyle(sh, fmt.Sprintf("B%d", row), fmt.Sprintf("E%d", row), st.money)
	}
	wb.SetColWidth(sh, "A", "A", 12)
	wb.SetColWidth(sh, "B", "E", 16)
	wb.SetColVisible(sh, "F", false) // chart labels
	if err := wb.SetPanes(sh, &excelize.Panes{Freeze: true, YSplit: 5, TopLeftCell: "A6", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	if len(groups) == 0 {
		return nil
	}
	return wb.AddChart(sh, "H5", &excelize.Chart{
		Type: excelize.Col,
		Series: []excelize.ChartSeries{{
			Name:       "Summary!$D$5",
			Categories: fmt.Sprintf("Summary!$F$6:$F$%d", last),
			Values:     fmt.Sprintf("Summary!$D$6:$D$%d", last),
		}},
		Title:  excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: "Lines by provider, currency and status"}}},
		Legend: excelize.ChartLegend{Position: "none"},
		Format: excelize.GraphicOptions{ScaleX: 1.3, ScaleY: 1.2},
	})
}
