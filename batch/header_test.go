package batch

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// TestHeaderFound: HR exports put a title, a date or group captions above
// the header, and spell the columns their own way; the header is found
// and rows keep the numbers the spreadsheet shows.
func TestHeaderFound(t *testing.T) {
	for _, tt := range []struct {
		name, csv string
		opts      ReadOptions
		wantRow   int // the first data row's number
	}{
		{"title row", "Payroll November 2026,,,\nStaff No,Employee Name,Mobile No,Net Pay (KES)\nE1,Amina,0712345678,1500\n", ReadOptions{}, 3},
		{"title and blank rows", "ACME Ltd\n\nNovember 2026\nEmployee No;Name;MPESA No;Net Pay (KES)\nE1;Amina;0712345678;1500\n", ReadOptions{}, 5},
		{"two header rows", "Employee,,Payment,\nStaff ID,Name,Phone No.,Amount (KES)\nE1,Amina,0712345678,1500\n", ReadOptions{}, 3},
		{"forced header row", "Staff No,Employee Name,Mobile No,Net Pay (KES)\nsub,total,x,y\nref,name,phone,amount\nE1,Amina,0712345678,1500\n", ReadOptions{HeaderRow: 3}, 4},
		{"header on row 1", "reference,name,phone,amount\nE1,Amina,0712345678,1500\n", ReadOptions{}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewCSVSheet(strings.NewReader(tt.csv), "hr.csv", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := s.Next(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if rec.Row != tt.wantRow || rec.Get(ColAmount) != "1500" || rec.Get(ColPhone) != "0712345678" {
				t.Errorf("row %d amount %q phone %q, want row %d", rec.Row, rec.Get(ColAmount), rec.Get(ColPhone), tt.wantRow)
			}
		})
	}
}

// TestHeaderHelp: when no row maps, the error lists the headers found and
// the [sheet.columns] lines that would map them.
func TestHeaderHelp(t *testing.T) {
	_, err := NewCSVSheet(strings.NewReader("Staff,Pay Out,Wallet\nE1,1500,0712345678\n"), "hr.csv", ReadOptions{})
	var he *HeaderError
	if !errors.As(err, &he) || !errors.Is(err, ErrMissingColumn) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{`the headers on row 1 are "Staff", "Pay Out", "Wallet"`, "[sheet.columns]", `amount = "Pay Out"`, `phone = "Wallet"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	// With the suggested mapping the sheet reads.
	s, err := NewCSVSheet(strings.NewReader("Staff,Pay Out,Wallet\nE1,1500,0712345678\n"), "hr.csv",
		ReadOptions{Columns: map[string]string{"amount": "Pay Out", "phone": "Wallet"}})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := s.Next(t.Context()); err != nil || rec.Get(ColAmount) != "1500" {
		t.Fatalf("%v %v", rec, err)
	}
	// A forced header row that is not one.
	if _, err := NewCSVSheet(strings.NewReader("a,b\nc,d\n"), "hr.csv", ReadOptions{HeaderRow: 2}); !errors.As(err, &he) || he.Row != 2 {
		t.Errorf("--header-row 2: %v", err)
	}
}

// TestWorksheetNotFound lists the workbook's worksheets.
func TestWorksheetNotFound(t *testing.T) {
	f := excelize.NewFile()
	f.SetSheetName("Sheet1", "November")
	f.NewSheet("Casuals")
	f.SetSheetRow("November", "A1", &[]any{"reference", "phone", "amount"})
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewXLSXSheet(buf, "pay.xlsx", ReadOptions{SheetName: "Nov"})
	if !errors.Is(err, ErrSheetNotFound) || !strings.Contains(err.Error(), `"November", "Casuals"`) {
		t.Errorf("err = %v", err)
	}
}

// TestDirectoryAsSheet: a directory is refused the same way whatever its
// name ends with.
func TestDirectoryAsSheet(t *testing.T) {
	for _, name := range []string{"november", "november.csv", "november.xlsx", "november.CSV"} {
		dir := t.TempDir() + "/" + name
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := OpenSheet(dir, ReadOptions{})
		if !errors.Is(err, ErrDirectory) || !strings.Contains(err.Error(), name+": sheet: is a directory") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
