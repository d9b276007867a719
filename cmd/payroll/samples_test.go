package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"payroll/batch"
)

const samplesDir = "../../samples"

// TestSampleXLSXMatchesCSV checks that the XLSX sample pays exactly what the
// CSV sample pays. With -update it first writes the XLSX from the CSV, with
// amounts as real numbers in a money format and phones as text, as an HR
// system would export them.
func TestSampleXLSXMatchesCSV(t *testing.T) {
	csvPath := filepath.Join(samplesDir, "payroll-2026-11.csv")
	xlsxPath := filepath.Join(samplesDir, "payroll-2026-11.xlsx")
	if *update {
		writeSampleXLSX(t, csvPath, xlsxPath)
	}
	cfg := batch.DefaultConfig()
	fromCSV, err := batch.ValidateFile(t.Context(), csvPath, &cfg, "")
	if err != nil || !fromCSV.OK() {
		t.Fatalf("csv sample: %v %v", err, fromCSV.Errors)
	}
	fromXLSX, err := batch.ValidateFile(t.Context(), xlsxPath, &cfg, "")
	if err != nil || !fromXLSX.OK() {
		t.Fatalf("xlsx sample: %v %v", err, fromXLSX.Errors)
	}
	if d := cmp.Diff(fromCSV.Lines, fromXLSX.Lines); d != "" {
		t.Errorf("XLSX sample differs from CSV sample (-csv +xlsx):\n%s", d)
	}
}

func writeSampleXLSX(t *testing.T, csvPath, xlsxPath string) {
	t.Helper()
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wb := excelize.NewFile()
	defer wb.Close()
	const sheet = "November 2026"
	if err := wb.SetSheetName("Sheet1", sheet); err != nil {
		t.Fatal(err)
	}
	bold, _ := wb.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	money, _ := wb.NewStyle(&excelize.Style{NumFmt: 4}) // #,##0.00
	text, _ := wb.NewStyle(&excelize.Style{NumFmt: 49}) // @
	header := records[0]
	for r, rec := range records {
		for c, v := range rec {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
			switch {
			case r == 0:
				wb.SetCellStr(sheet, cell, v)
				wb.SetCellStyle(sheet, cell, cell, bold)
			case header[c] == "amount":
				m := batch.MustMoney(v)
				wb.SetCellValue(sheet, cell, m.Decimal().InexactFloat64())
				wb.SetCellStyle(sheet, cell, cell, money)
			case v != "":
				wb.SetCellStr(sheet, cell, v)
				if strings.Contains(header[c], "number") || header[c] == "phone" {
					wb.SetCellStyle(sheet, cell, cell, text)
				}
			}
		}
	}
	wb.SetColWidth(sheet, "A", "M", 16)
	wb.SetPanes(sheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"})
	if err := wb.SaveAs(xlsxPath); err != nil {
		t.Fatal(err)
	}
}
