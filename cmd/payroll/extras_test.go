package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"payroll/providers/sandbox"
)

// TestExtraColumnsCarriedThrough: the sheet's own columns (department,
// cost centre) reach every report format, in their order, after the
// report's columns; a later import's values replace them; check still
// finds the ledger equal to its journal.
func TestExtraColumnsCarriedThrough(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	path := filepath.Join(h.dir, "nov.csv")
	write := func(dept string) {
		body := "reference,Department,name,phone,amount,Cost Centre,currency\n" +
			"E1," + dept + ",Amina,0712100001,1500,CC-10,KES\n" +
			"E2,Finance,Brian,0712100002,2500,,KES\n"
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("Operations")
	h.mustCode(exitOK, "run", "--wait", "10s", path)
	recs := readCSV(t, filepath.Join(h.rep, "nov.csv"))
	head := recs[0]
	if n := len(head); head[n-2] != "Department" || head[n-1] != "Cost Centre" {
		t.Fatalf("header %v", head)
	}
	if r := recs[1]; r[len(r)-2] != "Operations" || r[len(r)-1] != "CC-10" {
		t.Errorf("row E1: %v", r)
	}
	if r := recs[2]; r[len(r)-2] != "Finance" || r[len(r)-1] != "" {
		t.Errorf("row E2: %v", r)
	}
	var js struct {
		ExtraColumns []string `json:"extra_columns"`
		Rows         []struct {
			Reference string            `json:"reference"`
			Extra     map[string]string `json:"extra"`
		} `json:"rows"`
	}
	b, _ := os.ReadFile(filepath.Join(h.rep, "nov.json"))
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatal(err)
	}
	if strings.Join(js.ExtraColumns, ",") != "Department,Cost Centre" || js.Rows[0].Extra["Cost Centre"] != "CC-10" {
		t.Errorf("JSON: %+v", js)
	}
	wb, err := excelize.OpenFile(filepath.Join(h.rep, "nov.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := wb.GetCellValue("Lines", "S1"); v != "Department" {
		t.Errorf("XLSX S1 = %q", v)
	}
	if v, _ := wb.GetCellValue("Lines", "T2"); v != "CC-10" {
		t.Errorf("XLSX T2 = %q", v)
	}
	wb.Close()

	// The department changes: no payment, the report follows the sheet.
	write("Logistics")
	h.mustCode(exitOK, "run", "--wait", "5s", path)
	recs = readCSV(t, filepath.Join(h.rep, "nov.csv"))
	if r := recs[1]; r[len(r)-2] != "Logistics" {
		t.Errorf("after the edit: %v", r)
	}
	if k2, _ := h.sends(); k2 != 1 {
		t.Errorf("%d Kopo Kopo requests: an extra column's edit must not pay again", k2)
	}
	out, _ := h.mustCode(exitOK, "check")
	if !strings.Contains(out, "the ledger equals its replay") {
		t.Errorf("check:\n%s", out)
	}
}
