package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"payroll/providers/sandbox"
)

// TestRerunKeepsIdenticalReport: a re-run of a settled, unchanged batch
// does not rewrite its reports and says so, printing the same summary; a
// change in the ledger (a resolve), an edited or deleted report file, or
// payroll report rewrites them.
func TestRerunKeepsIdenticalReport(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	path := h.writeSheet("month.csv", append(kes(1, 3), row{"KF", "Fails", "0712300999", "1500", "KES"}))
	first, _ := h.mustCode(exitUnsettled, "run", "--wait", "10s", path)
	csvPath := filepath.Join(h.rep, "month.csv")
	fi, _ := os.Stat(csvPath)
	time.Sleep(20 * time.Millisecond)

	out, _ := h.mustCode(exitUnsettled, "run", "--wait", "5s", path)
	if !strings.Contains(out, "Report unchanged since") {
		t.Fatalf("re-run:\n%s", out)
	}
	summary := func(s string) string { return s[strings.Index(s, "Batch month (month.csv)"):] }
	if summary(out) != summary(first) {
		t.Errorf("the summary differs:\n%s\nwant\n%s", summary(out), summary(first))
	}
	if fi2, _ := os.Stat(csvPath); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Error("the CSV was rewritten")
	}
	// settle, too, finds nothing changed.
	out, _ = h.mustCode(exitUnsettled, "settle", "month", "--wait", "1s")
	if !strings.Contains(out, "Report unchanged since") {
		t.Errorf("settle:\n%s", out)
	}
	// A report file edited by hand: written again.
	os.WriteFile(csvPath, []byte("edited"), 0o600)
	out, _ = h.mustCode(exitUnsettled, "run", "--wait", "5s", path)
	if strings.Contains(out, "Report unchanged") {
		t.Errorf("an edited report was kept:\n%s", out)
	}
	if b, _ := os.ReadFile(csvPath); string(b) == "edited" {
		t.Error("the edited CSV is still there")
	}
	// The ledger changes (the failed line's phone is corrected and it is
	// paid): the report follows.
	os.WriteFile(path, []byte(strings.Replace(mustRead(t, path), "0712300999", "0712300998", 1)), 0o600)
	out, _ = h.mustCode(exitOK, "run", "--wait", "10s", path)
	if strings.Contains(out, "Report unchanged") || !strings.Contains(out, "Every line is paid") {
		t.Errorf("after a correction:\n%s", out)
	}
	// payroll report always writes.
	out, _ = h.mustCode(exitOK, "report", "month")
	if strings.Contains(out, "unchanged") {
		t.Errorf("payroll report:\n%s", out)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
