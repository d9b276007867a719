package main

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers/sandbox"
)

// TestLargeSheetImportedAsRead: a sheet with more valid lines than run
// holds is read a second time as it is imported, a page of lines to a
// transaction. Everything a run shows is as for a sheet held whole: the
// same report (invalid rows in their place, sheet order, every valid
// line paid in one attempt) and the twin warning. (The two lines paying
// one payee are both paid, by design, which the sandbox's duplicate check
// flags: so the truth is compared line by line in the report here.)
func TestLargeSheetImportedAsRead(t *testing.T) {
	rows := kes(1, 60)
	rows[7].phone = "not a phone"                                     // invalid: reported in its place
	rows[33].amount = "-5"                                            // invalid
	rows[41].phone, rows[41].amount = rows[40].phone, rows[40].amount // twins: one payee, two references
	run := func(held, page int) (report [][]string, stderr string, h *harness) {
		defer func(a, b int) { heldLines, ledger.ImportPage = a, b }(heldLines, ledger.ImportPage)
		heldLines, ledger.ImportPage = held, page
		h = newHarness(t, sandbox.Options{}, knobs{})
		path := h.writeSheet("big.csv", rows)
		_, stderr = h.mustCode(exitUnsettled, "run", "--skip-invalid", "--wait", "20s", path)
		h.checkReport("big", rows)
		if k2, _ := h.sends(); k2 != 2 {
			t.Errorf("%d Kopo Kopo requests for 58 lines (at most 50 a request, twins apart), want 2", k2)
		}
		return readCSV(t, h.rep+"/big.csv"), stderr, h
	}
	whole, wholeErr, _ := run(1000, 1000)
	streamed, streamedErr, h := run(10, 7)
	if !strings.Contains(wholeErr, "row 42 (K0041) and row 43 (K0042) pay") {
		t.Fatalf("no twin warning for the held sheet:\n%s", wholeErr)
	}
	if !strings.Contains(streamedErr, "row 42 (K0041) and row 43 (K0042) pay") {
		t.Errorf("no twin warning when the sheet is read as imported:\n%s", streamedErr)
	}
	mask := func(recs [][]string) [][]string { // times and provider ids differ run to run
		out := make([][]string, len(recs))
		for i, r := range recs {
			out[i] = slices.Clone(r)
			for j, c := range recs[0] {
				if strings.HasSuffix(c, "_at") || c == "provider_reference" || c == "receipt" {
					out[i][j] = ""
				}
			}
		}
		return out
	}
	for _, r := range whole[1:] {
		if st := r[8]; st != "paid" && st != "invalid" || st == "paid" && r[12] != "1" {
			t.Errorf("row %s: %s in %s attempts", r[0], st, r[12])
		}
	}
	if a, b := mask(whole), mask(streamed); !slices.EqualFunc(a, b, slices.Equal) {
		t.Errorf("reports differ:\nheld:\n%v\nread as imported:\n%v", a, b)
	}
	h.withDB(func(db *ledger.DB) {
		b, err := db.Batch(t.Context(), "big")
		if err != nil || b.Importing != 0 || b.Lines != 60 || b.Imports != 1 {
			t.Errorf("batch after the run: %+v, %v", b, err)
		}
	})
}

// TestInterruptedImportFinishedByRun: a re-import of a large sheet that
// stopped between pages (a kill, a sheet changed while read) leaves the
// batch importing: retry sends nothing and says why; the next run of the
// sheet finishes the import and pays every new line exactly once.
func TestInterruptedImportFinishedByRun(t *testing.T) {
	defer func(a, b int) { heldLines, ledger.ImportPage = a, b }(heldLines, ledger.ImportPage)
	heldLines, ledger.ImportPage = 10, 7
	h := newHarness(t, sandbox.Options{}, knobs{})
	rows := kes(1, 40)
	rows[5].phone = "0712100999" // the sandbox fails it: a line retry would send
	path := h.writeSheet("late.csv", rows)
	h.mustCode(exitUnsettled, "run", "--wait", "20s", path)
	k2Before, _ := h.sends()

	rows = append(rows, kes(41, 10)...) // the sheet grows
	path = h.writeSheet("late.csv", rows)
	cfg, err := (&globalOptions{configPath: h.cfg}).loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	v, err := batch.ValidateFile(t.Context(), path, cfg, "")
	if err != nil || !v.OK() {
		t.Fatalf("validate: %v %v", err, v.Errors)
	}
	stop := errors.New("killed")
	h.withDB(func(db *ledger.DB) {
		rows := func(yield func(ledger.ImportRow, error) bool) {
			for i := range v.Lines {
				if i == 45 { // six pages of 7 are in: two new lines among them
					yield(ledger.ImportRow{}, stop)
					return
				}
				if !yield(ledger.ImportRow{Line: &v.Lines[i]}, nil) {
					return
				}
			}
		}
		if _, err := db.ImportStream(t.Context(), ledger.ImportSpec{BatchID: "late", File: "late.csv", Derived: true}, rows); !errors.Is(err, stop) {
			t.Fatalf("import: %v", err)
		}
		b, _ := db.Batch(t.Context(), "late")
		if b.Importing == 0 || b.Counts["pending"] != 2 {
			t.Fatalf("after the interrupted import: importing %d, %d pending", b.Importing, b.Counts["pending"])
		}
	})
	if out, _ := h.mustCode(exitOK, "status", "late"); !strings.Contains(out, "Its last import stopped before the end") {
		t.Errorf("status of a batch whose import was interrupted:\n%s", out)
	}
	_, stderr := h.mustCode(exitError, "retry", "--yes", "late")
	if !strings.Contains(stderr, "import was interrupted") {
		t.Errorf("retry of a batch whose import was interrupted:\n%s", stderr)
	}
	if k2, _ := h.sends(); k2 != k2Before {
		t.Fatalf("%d requests sent for a half-imported batch", k2-k2Before)
	}
	h.mustCode(exitUnsettled, "run", "--wait", "20s", path)
	h.checkTruth("late", truthOpts{})
	h.checkReport("late", rows)
}
