package batch

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// The fixtures of testdata/malformed that are binary or large are built here
// and committed; go test ./batch -run TestMalformed -update rebuilds them.
// Each builder returns the file's bytes.
var generatedFixtures = map[string]func(t *testing.T) []byte{
	"xlsx-valid.xlsx": func(t *testing.T) []byte {
		return buildXLSX(t, []string{"Reference", "Name", "Phone", "Amount", "Currency"}, [][]any{
			{"EMP1", "Achieng Barasa", "0712345678", 1500, "KES"},
			{"EMP2", "Otieno Ndegwa", 254722345678, "2,500.00", "KES"},
			{"EMP3", "Kiptoo Otieno", 710345678, 3500.0, "KES"}, // numeric phone: the leading 0 is lost
		}, nil)
	},
	// Numbers as Excel stores them (binary doubles) and as it shows them.
	"xlsx-float-noise.xlsx": func(t *testing.T) []byte {
		return buildXLSX(t, []string{"reference", "name", "phone", "amount", "currency"}, [][]any{
			{"EMP1", "Achieng Barasa", "0712345678", 1499.9999999999998, "KES"}, // shown as 1500: valid
			{"EMP2", "Otieno Ndegwa", "0722345678", 1500.005, "KES"},            // three decimals: rejected
			{"EMP3", "Kiptoo Otieno", "0710345678", 1000.0 / 3, "KES"},          // =1000/3 as a value: rejected
			{"EMP4", "Wanjiru Kamau", "0711345678", 0.1 + 0.2, "KES"},           // 0.30000000000000004 is 0.3: cents
			{"EMP5", "Mercy Chebet", "0713345678", 2500.0000000000005, "KES"},   // shown as 2500: valid
			{"EMP6", "Brian Kiprop", "0714345678", 1e6, "KES"},                  // 1000000: above the KES maximum
			{"EMP7", "Faith Njeri", "0715345678", -1500, "KES"},                 // a negative number
			{"EMP8", "Peter Kamau", "0716345678", 0, "KES"},                     // zero
		}, nil)
	},
	"xlsx-date-amount.xlsx": func(t *testing.T) []byte {
		return buildXLSX(t, []string{"reference", "name", "phone", "amount", "currency"}, [][]any{
			{"EMP1", "Achieng Barasa", "0712345678", 46327, "KES"}, // 2026-11-01 as a date
			{"EMP2", "Otieno Ndegwa", "0722345678", 1500, "KES"},   // #,##0.00: shown 1,500.00, valid
			{"EMP3", "Kiptoo Otieno", "0710345678", 0.5, "KES"},    // 12:00:00 as a time
			{"EMP4", "Wanjiru Kamau", "0711345678", "2026-11-01", "KES"},
		}, func(f *excelize.File) error {
			date, err := f.NewStyle(&excelize.Style{NumFmt: 14})
			if err != nil {
				return err
			}
			money, err := f.NewStyle(&excelize.Style{NumFmt: 4})
			if err != nil {
				return err
			}
			clock, err := f.NewStyle(&excelize.Style{NumFmt: 21})
			if err != nil {
				return err
			}
			return firstErr(
				f.SetCellStyle("Sheet1", "D2", "D2", date),
				f.SetCellStyle("Sheet1", "D3", "D3", money),
				f.SetCellStyle("Sheet1", "D4", "D4", clock),
			)
		})
	},
	"xlsx-formulas.xlsx": func(t *testing.T) []byte {
		return buildXLSX(t, []string{"reference", "name", "phone", "amount", "currency"}, [][]any{
			{"EMP1", "Achieng Barasa", "0712345678", nil, "KES"}, // =1000+500, never calculated
			{"EMP2", "Otieno Ndegwa", "0722345678", 1500, "KES"},
			{"EMP3", "Kiptoo Otieno", "0710345678", "=1000/3", "KES"}, // typed as text
			{"EMP4", "Wanjiru Kamau", "0711345678", 2500, "KES"},      // =2000+500 with its cached value
		}, func(f *excelize.File) error {
			return firstErr(
				f.SetCellFormula("Sheet1", "D2", "1000+500"),
				f.SetCellFormula("Sheet1", "D5", "2000+500"),
			)
		})
	},
	"xlsx-text-amounts.xlsx": func(t *testing.T) []byte {
		return buildXLSX(t, []string{"reference", "name", "phone", "amount", "currency"}, [][]any{
			{"EMP1", "Achieng Barasa", "0712345678", "1e3", "KES"},
			{"EMP2", "Otieno Ndegwa", "0722345678", "KES 1,500", "KES"},
			{"EMP3", "Kiptoo Otieno", "0710345678", " 1,500.00 ", "KES"},
			{"EMP4", "Wanjiru Kamau", "0711345678", "", "KES"},
		}, nil)
	},
	"xlsx-huge-cell.xlsx": func(t *testing.T) []byte {
		return buildXLSX(t, []string{"reference", "name", "phone", "amount", "currency"}, [][]any{
			{"EMP1", strings.Repeat("N", 2000), "0712345678", 1500, "KES"},
			{"EMP2", "Otieno Ndegwa", "0722345678", 1500, "KES"},
		}, nil)
	},
	"xlsx-title-row.xlsx": func(t *testing.T) []byte {
		return buildXLSX(t, nil, [][]any{
			nil,
			{"reference", "name", "phone", "amount", "currency"},
			{"EMP1", "Achieng Barasa", "0712345678", 1500, "KES"},
		}, func(f *excelize.File) error { return f.SetCellValue("Sheet1", "A1", "Payroll November 2026") })
	},
	"xlsx-empty.xlsx": func(t *testing.T) []byte {
		return buildXLSX(t, nil, nil, nil)
	},
	"xlsx-header-only.xlsx": func(t *testing.T) []byte {
		return buildXLSX(t, []string{"reference", "name", "phone", "amount", "currency"}, nil, nil)
	},
	"xlsx-too-many-rows.xlsx": func(t *testing.T) []byte {
		var rows [][]any
		for i := range 5 {
			rows = append(rows, []any{fmt.Sprintf("EMP%d", i+1), "Achieng Barasa", fmt.Sprintf("07123456%02d", i), 1500, "KES"})
		}
		return buildXLSX(t, []string{"reference", "name", "phone", "amount", "currency"}, rows, nil)
	},
	"xlsx-not-a-zip.xlsx": func(t *testing.T) []byte {
		return []byte("reference,name,phone,amount\nEMP1,Achieng,0712345678,1500\n")
	},
	// A real zip bomb: ~100 MiB of worksheet XML deflated to ~100 KB. The
	// default 64 MiB unzip limit refuses it before inflating anything.
	"xlsx-zip-bomb.xlsx": func(t *testing.T) []byte {
		return zipBomb(t, 100<<20, false, `<c t="inlineStr"><is><t>`+strings.Repeat("A", 30_000)+`</t></is></c>`)
	},
	// A zip whose header claims the worksheet is 4 KB while it inflates to
	// 4 MiB of valid rows: reading must neither inflate it all nor
	// silently stop at the declared size and pay the first rows.
	"xlsx-zip-bomb-lying.xlsx": func(t *testing.T) []byte {
		return zipBomb(t, 4<<20, true, `<c t="inlineStr"><is><t>EMP</t></is></c><c t="inlineStr"><is><t>0712345678</t></is></c>`)
	},
	// A line longer than the CSV line guard (64 KiB): reading stops there.
	"huge-line.csv": func(t *testing.T) []byte {
		return []byte("reference,name,phone,amount,currency\n" +
			"EMP1,Achieng Barasa,0712345678,1500,KES\n" +
			"EMP2," + strings.Repeat("N", 70_000) + ",0722345678,1500,KES\n" +
			"EMP3,Kiptoo Otieno,0710345678,1500,KES\n")
	},
	// A cell over max_cell_bytes (1024) on a line within the guard.
	"huge-cell.csv": func(t *testing.T) []byte {
		return []byte("reference,name,phone,amount,currency\n" +
			"EMP1," + strings.Repeat("N", 2000) + ",0712345678,1500,KES\n" +
			"EMP2,Otieno Ndegwa,0722345678," + strings.Repeat("9", 1500) + ",KES\n" +
			"EMP3,Kiptoo Otieno,0710345678,1500,KES\n")
	},
}

// writeFixtures rebuilds the generated fixtures in dir.
func writeFixtures(t *testing.T, dir string) {
	t.Helper()
	for name, build := range generatedFixtures {
		if err := os.WriteFile(filepath.Join(dir, name), build(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// buildXLSX writes a one-sheet workbook: the header on row 1 (if any), then
// rows; a nil cell is left empty. edit may style or add cells.
func buildXLSX(t testing.TB, header []string, rows [][]any, edit func(*excelize.File) error) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	r := 1
	if header != nil {
		cells := make([]any, len(header))
		for i, h := range header {
			cells[i] = h
		}
		if err := f.SetSheetRow("Sheet1", "A1", &cells); err != nil {
			t.Fatal(err)
		}
		r++
	}
	for _, row := range rows {
		for i, v := range row {
			if v == nil {
				continue
			}
			cell, _ := excelize.CoordinatesToCellName(i+1, r)
			if err := f.SetCellValue("Sheet1", cell, v); err != nil {
				t.Fatal(err)
			}
		}
		r++
	}
	if edit != nil {
		if err := edit(f); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// zipBomb returns a valid small workbook whose first worksheet is replaced by
// size bytes of highly compressible XML. With lie, the zip header claims the
// worksheet is 4 KB.
func zipBomb(t testing.TB, size int, lie bool, cells string) []byte {
	t.Helper()
	base := buildXLSX(t, []string{"reference", "phone", "amount"}, nil, nil)
	zr, err := zip.NewReader(bytes.NewReader(base), int64(len(base)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	for _, f := range zr.File {
		if f.Name != "xl/worksheets/sheet1.xml" {
			if err := zw.Copy(f); err != nil {
				t.Fatal(err)
			}
			continue
		}
		// The sheet: a header row, then the same row repeated to size.
		head := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` +
			`<row r="1"><c r="A1" t="inlineStr"><is><t>reference</t></is></c><c r="B1" t="inlineStr"><is><t>phone</t></is></c><c r="C1" t="inlineStr"><is><t>amount</t></is></c></row>`
		row := `<row>` + cells + `<c><v>1500</v></c></row>`
		tail := `</sheetData></worksheet>`
		var xml bytes.Buffer
		xml.WriteString(head)
		for xml.Len()+len(tail) < size {
			xml.WriteString(row)
		}
		xml.WriteString(tail)
		if !lie {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Deflate})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(xml.Bytes()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var comp bytes.Buffer
		fw, _ := flate.NewWriter(&comp, flate.BestCompression)
		fw.Write(xml.Bytes())
		fw.Close()
		w, err := zw.CreateRaw(&zip.FileHeader{
			Name:               f.Name,
			Method:             zip.Deflate,
			CRC32:              crc32.ChecksumIEEE(xml.Bytes()),
			CompressedSize64:   uint64(comp.Len()),
			UncompressedSize64: 4096,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(comp.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
