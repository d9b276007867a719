package reports

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"payroll/batch"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./reports -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./reports -update to accept):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

var at = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// sampleReport has a row in every status, both currencies, every
// destination type, an invalid row with a non-numeric amount, and text
// that a spreadsheet would execute.
func sampleReport() *Report {
	m := batch.MustMoney
	return &Report{Batch: "payroll-2026-11", Sheet: "payroll-2026-11.xlsx", Generated: at, Zone: time.FixedZone("EAT", 3*3600), Rows: []Row{
		{Row: 2, Reference: "EMP0001", Name: "Wanjiku Kamau", Provider: "kopokopo", Type: "mobile_wallet", Destination: "254712345678",
			Amount: m("75500"), Currency: "KES", Status: "paid", ProviderReference: "https://sandbox.kopokopo.com/api/v2/send_money/d76265cd", Receipt: "QCL160124A7", Attempts: 1, UpdatedAt: at,
			SentAt: at.Add(-2 * time.Minute), SettledAt: at},
		{Row: 3, Reference: "EMP0002", Name: "=HYPERLINK(\"http://evil\",\"x\")", Provider: "kopokopo", Type: "mobile_wallet", Destination: "254712345999",
			Amount: m("18500"), Currency: "KES", Status: "failed", ProviderReference: "https://sandbox.kopokopo.com/api/v2/send_money/d76265cd", FailureReason: "-Recipient not registered", Attempts: 1, UpdatedAt: at},
		{Row: 4, Reference: "EMP0003", Name: "Otieno Odhiambo", Provider: "kopokopo", Type: "bank_account", Destination: "c7f300c0-f1ef-4151-9bbe-005005aa3747 0123456789",
			Amount: m("185000"), Currency: "KES", Status: "unknown", FailureReason: "timeout after the request was sent", Attempts: 1, UpdatedAt: at},
		{Row: 5, Reference: "SUP-512345", Name: "Mama Mboga Supplies", Provider: "kopokopo", Type: "till", Destination: "512345",
			Amount: m("8600"), Currency: "KES", Status: "pending", ProviderReference: "https://sandbox.kopokopo.com/api/v2/send_money/aa11", Attempts: 1, UpdatedAt: at,
			SentAt: at, Awaiting: true},
		{Row: 6, Reference: "PB-54401234567", Name: "@KPLC Prepaid", Provider: "kopokopo", Type: "paybill", Destination: "888880 54401234567",
			Amount: m("3500"), Currency: "KES", Status: "cancelled", UpdatedAt: at},
		{Row: 7, Reference: "EMP0031", Name: "Neema Mushi", Provider: "kiotapay", Type: "mobile_wallet", Destination: "255652345678",
			Amount: m("450000"), Currency: "TZS", Status: "paid", ProviderReference: "fb89a98f-20a9-4a7a-9bb2-bf7ca478f644", Receipt: "TZ8812KQ", Attempts: 2, UpdatedAt: at},
		{Row: 8, Reference: "EMP0032", Name: "Baraka Swai", Provider: "kiotapay", Type: "mobile_wallet", Destination: "255742345678",
			Amount: m("520000"), Currency: "TZS", Status: "paid", FailureReason: "row changed after it was sent", Attempts: 1, UpdatedAt: at,
			SentAt: at.Add(-time.Hour), SettledAt: at, Flags: []string{"sheet-changed"}, SheetAmount: m("525000")},
		{Row: 9, Reference: "EMP0033", Name: "Juma", Provider: "", Type: "", Destination: "", AmountText: "+1e4",
			Currency: "TZS", Status: "invalid", FailureReason: "amount: amount has a sign; amounts must be positive and unsigned", UpdatedAt: at},
		{Row: 10, Reference: "EMP0034", Name: "Amina Said", Provider: "kiotapay", Type: "mobile_wallet", Destination: "255652345679",
			Amount: m("300000"), Currency: "TZS", Status: "pending", UpdatedAt: at},
	}}
}

func TestCSVGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.csv.golden", b.Bytes())
}

func TestJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json.golden", b.Bytes())
}

func TestSummaryGolden(t *testing.T) {
	var b bytes.Buffer
	WriteSummary(&b, sampleReport())
	golden(t, "summary.golden", b.Bytes())

	b.Reset()
	r := sampleReport()
	r.Rows = r.Rows[:1]
	WriteSummary(&b, r)
	golden(t, "summary_all_paid.golden", b.Bytes())
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "Wanjiku": "Wanjiku", "=1+2": "'=1+2", "+254": "'+254", "-5": "'-5", "@SUM(A1)": "'@SUM(A1)",
		// Control and bidirectional characters never reach a report.
		"\tx": "\uFFFDx", "\rx": "\uFFFDx", "a=b": "a=b", "nul\x00": "nul\uFFFD", "\x1b[31mred": "\uFFFD[31mred",
		"abc\u202egpj.exe": "abc\uFFFDgpj.exe", "=\u2066x": "'=\uFFFDx",
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestXLSX(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	paths, err := WriteFiles(dir, r, []string{"xlsx"})
	if err != nil {
		t.Fatal(err)
	}
	wb, err := excelize.OpenFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	if got := wb.GetSheetList(); len(got) != 2 || got[0] != "Summary" || got[1] != "Lines" {
		t.Fatalf("sheets %v, want [Summary Lines]", got)
	}
	rows, err := wb.GetRows("Lines")
	if err != nil {
		t.Fatal(err)
	}
	totals := Totals(r)
	if len(rows) != len(r.Rows)+2+len(totals) {
		t.Fatalf("Lines has %d rows, want %d lines, a header, a blank and %d totals", len(rows), len(r.Rows), len(totals))
	}
	// Below the lines, what each currency requested: a formula with its
	// value, equal to the report's exact total.
	for i, tot := range totals {
		rowN := len(r.Rows) + 3 + i
		if label, _ := wb.GetCellValue("Lines", fmt.Sprintf("F%d", rowN)); label != "requested "+tot.Currency {
			t.Errorf("total row %d label %q", rowN, label)
		}
		f, _ := wb.GetCellFormula("Lines", fmt.Sprintf("G%d", rowN))
		v, _ := wb.GetCellValue("Lines", fmt.Sprintf("G%d", rowN))
		if !strings.HasPrefix(f, "SUMIFS(") || v != tot.Requested.Grouped() {
			t.Errorf("total %s: formula %q value %q, want %s", tot.Currency, f, v, tot.Requested.Grouped())
		}
	}
	// A filter on the lines (a table), failed and unknown rows highlighted,
	// printed landscape one page wide with the header on every page.
	if tables, _ := wb.GetTables("Lines"); len(tables) != 1 || tables[0].Range != fmt.Sprintf("A1:R%d", len(r.Rows)+1) {
		t.Errorf("tables %+v", tables)
	}
	cf, _ := wb.GetConditionalFormats("Lines")
	var criteria []string
	for _, opts := range cf {
		for _, o := range opts {
			criteria = append(criteria, o.Criteria)
		}
	}
	if !slices.Contains(criteria, `$I2="failed"`) || !slices.Contains(criteria, `$I2="unknown"`) {
		t.Errorf("conditional formats %v", criteria)
	}
	if pl, _ := wb.GetPageLayout("Lines"); pl.Orientation == nil || *pl.Orientation != "landscape" || pl.FitToWidth == nil || *pl.FitToWidth != 1 {
		t.Errorf("page layout %+v", pl)
	}
	titles := false
	for _, dn := range wb.GetDefinedName() {
		titles = titles || dn.Name == "_xlnm.Print_Titles" && dn.RefersTo == "Lines!$1:$1"
	}
	if !titles {
		t.Error("no print titles")
	}
	for i, c := range Columns {
		if rows[0][i] != c {
			t.Errorf("header %d = %q, want %q", i, rows[0][i], c)
		}
	}
	// Amounts are numbers with a money format, and their sum equals the
	// exact total.
	var sum batch.Money
	for i := range r.Rows {
		cell := "G" + strconv.Itoa(i+2)
		typ, _ := wb.GetCellType("Lines", cell)
		raw, _ := wb.GetCellValue("Lines", cell, excelize.Options{RawCellValue: true})
		if r.Rows[i].AmountText != "" {
			if raw != "'+1e4" {
				t.Errorf("%s = %q, want the escaped text", cell, raw)
			}
			continue
		}
		if typ == excelize.CellTypeSharedString || typ == excelize.CellTypeInlineString {
			t.Errorf("%s is text, want a number", cell)
		}
		m, err := batch.ParseMoney(raw)
		if err != nil {
			t.Fatalf("%s = %q: %v", cell, raw, err)
		}
		sum = sum.Add(m)
		if shown, _ := wb.GetCellValue("Lines", cell); shown != r.Rows[i].Amount.Grouped() {
			t.Errorf("%s shows %q, want %q", cell, shown, r.Rows[i].Amount.Grouped())
		}
	}
	var want batch.Money
	for _, row := range r.Rows {
		want = want.Add(row.Amount)
	}
	if !sum.Equal(want) {
		t.Errorf("Lines amounts sum to %s, want %s", sum, want)
	}
	if v, _ := wb.GetCellValue("Lines", "C3"); v != `'=HYPERLINK("http://evil","x")` {
		t.Errorf("formula-like name not escaped: %q", v)
	}
	// Summary: groups with numeric totals and a chart.
	sum2 := map[string]string{}
	srows, _ := wb.GetRows("Summary")
	for _, row := range srows[5:] {
		if len(row) >= 5 && row[0] != "" && row[0] != "currency" {
			sum2[row[0]+" "+row[1]+" "+row[2]] = row[4]
		}
		if len(row) >= 1 && row[0] == "currency" {
			break
		}
	}
	if sum2["kopokopo KES paid"] != "75,500.00" || sum2["kiotapay TZS paid"] != "970,000.00" {
		t.Errorf("summary groups: %v", sum2)
	}
	// One chart per currency, of amounts.
	if n := countCharts(t, paths[0]); n != len(totals) {
		t.Errorf("%d charts, want one per currency (%d)", n, len(totals))
	}
	if pics, _ := wb.GetPanes("Summary"); !pics.Freeze {
		t.Error("Summary header not frozen")
	}
	if panes, _ := wb.GetPanes("Lines"); !panes.Freeze || panes.YSplit != 1 {
		t.Errorf("Lines panes %+v, want the header row frozen", panes)
	}
}

func TestWriteFilesAtomic0600(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports")
	r := sampleReport()
	paths, err := WriteFiles(dir, r, Formats)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 {
		t.Fatalf("paths %v", paths)
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", p, fi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("leftover files in %s: %v", dir, entries)
	}
	// Rewriting replaces the files whole.
	r.Rows = r.Rows[:1]
	if _, err := WriteFiles(dir, r, []string{"csv"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "payroll-2026-11.csv"))
	if n := bytes.Count(b, []byte("\n")); n != 2 {
		t.Errorf("rewritten CSV has %d lines, want 2", n)
	}
	if _, err := WriteFiles(dir, r, []string{"pdf"}); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestTotalsConserve(t *testing.T) {
	r := sampleReport()
	for _, tot := range Totals(r) {
		n := 0
		for _, c := range tot.Counts {
			n += c
		}
		if n != tot.Lines {
			t.Errorf("%s: counts add to %d, want %d", tot.Currency, n, tot.Lines)
		}
	}
	var fromGroups, fromRows batch.Money
	for _, g := range r.Groups() {
		fromGroups = fromGroups.Add(g.Amount)
	}
	for _, row := range r.Rows {
		fromRows = fromRows.Add(row.Amount)
	}
	if !fromGroups.Equal(fromRows) {
		t.Errorf("group totals %s != row totals %s", fromGroups, fromRows)
	}
}

func TestWriteFilesRemovesStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".payroll-2026-11.csv.12345.tmp")
	if err := os.WriteFile(stale, []byte("half a report"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFiles(dir, sampleReport(), []string{"csv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file left behind: %v", err)
	}
}

func countCharts(t *testing.T, path string) int {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	n := 0
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "xl/charts/chart") {
			n++
		}
	}
	return n
}

// TestStreamedEqualsHeld: a report streamed from its lines (BuildStream:
// rows read again per file, sums in one pass) writes byte for byte the
// files and summary of the same report held in memory, and the JSON is
// encoding/json's own indented form.
func TestStreamedEqualsHeld(t *testing.T) {
	held := sampleReport()
	streamed := &Report{Batch: held.Batch, Sheet: held.Sheet, Generated: held.Generated, Zone: held.Zone, ExtraColumns: held.ExtraColumns}
	rows := slices.Clone(held.Rows)
	streamed.source = func(fn func(*Row) error) error {
		for i := range rows {
			r := rows[i]
			if err := fn(&r); err != nil {
				return err
			}
		}
		return nil
	}
	streamed.tally = newTally()
	for i := range rows {
		streamed.tally.add(&rows[i])
	}
	for name, write := range map[string]func(io.Writer, *Report) error{"csv": WriteCSV, "json": WriteJSON} {
		var a, b bytes.Buffer
		if err := write(&a, held); err != nil {
			t.Fatal(err)
		}
		if err := write(&b, streamed); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Errorf("%s differs streamed", name)
		}
	}
	var a, b bytes.Buffer
	WriteSummary(&a, held)
	WriteSummary(&b, streamed)
	if a.String() != b.String() {
		t.Errorf("summary differs streamed:\n%s\n%s", a.String(), b.String())
	}
	// The streamed JSON is what encoding/json writes for the whole document.
	var got bytes.Buffer
	WriteJSON(&got, held)
	var doc any
	if err := json.Unmarshal(got.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	out := jsonReport{Batch: held.Batch, Sheet: held.Sheet, Generated: held.Generated.UTC(), Groups: held.Groups(), ExtraColumns: held.ExtraColumns}
	for _, row := range held.Rows {
		row.UpdatedAt = row.UpdatedAt.UTC()
		row.SentAt, row.SettledAt = inZone(row.SentAt, held.Zone), inZone(row.SettledAt, held.Zone)
		row.Name = clean(row.Name)
		out.Rows = append(out.Rows, jsonRow{Row: row, Amount: row.amount()})
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetIndent("", "  ")
	enc.Encode(out)
	if got.String() != want.String() {
		t.Errorf("the streamed JSON is not encoding/json's:\n%s\nwant\n%s", got.String(), want.String())
	}
}
