package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"payroll/ledger"
	"payroll/providers/sandbox"
)

// TestRecoverRoundTrip: a paid month, then the ledger is deleted. A run
// refuses (it would otherwise pay everyone again) and points to recover;
// recover rebuilds the ledger from the journal; the re-run calls no
// provider and writes the same report.
func TestRecoverRoundTrip(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	sheet := append(kes(1, 6), tzs(1, 2)...)
	path := h.writeSheet("month.csv", sheet)
	h.mustCode(exitOK, "run", "--wait", "20s", path)
	want := h.reportRows("month")
	k2, kp := h.sends()

	if err := os.Remove(h.db); err != nil {
		t.Fatal(err)
	}
	_, errOut := h.mustCode(exitError, "run", "--wait", "5s", path)
	if !strings.Contains(errOut, "payroll recover") || !strings.Contains(errOut, "nothing was sent") {
		t.Errorf("run without its ledger:\n%s", errOut)
	}
	_, errOut = h.mustCode(exitError, "status")
	if !strings.Contains(errOut, "payroll recover") {
		t.Errorf("status without its ledger:\n%s", errOut)
	}
	out, _ := h.mustCode(exitOK, "recover")
	if !strings.Contains(out, "Rebuilt") {
		t.Errorf("recover said:\n%s", out)
	}
	out, _ = h.mustCode(exitOK, "check")
	if !strings.Contains(out, "chain intact; the ledger equals its replay") {
		t.Errorf("check after recover:\n%s", out)
	}
	h.mustCode(exitOK, "run", "--wait", "5s", path)
	if a, b := h.sends(); a != k2 || b != kp {
		t.Fatalf("the re-run after recover sent %d Kopo Kopo and %d KiotaPay requests", a-k2, b-kp)
	}
	if got := h.reportRows("month"); !reflect.DeepEqual(got, want) {
		t.Errorf("report after recover:\n%v\nwant\n%v", got, want)
	}
	out, _ = h.mustCode(exitOK, "recover")
	if !strings.Contains(out, "nothing to recover") {
		t.Errorf("recover of a sound ledger:\n%s", out)
	}
}

// TestJournalTamperCheck: one journal entry edited (an amount in its
// readable view); check names that entry.
func TestJournalTamperCheck(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	path := h.writeSheet("month.csv", kes(1, 4))
	h.mustCode(exitOK, "run", "--wait", "20s", path)
	jp := ledger.JournalPath(h.db)
	data, err := os.ReadFile(jp)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	k := -1
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"op":"import"`)) {
			k = i
			break
		}
	}
	if k < 0 {
		t.Fatal("no import in the journal")
	}
	edited := bytes.Replace(lines[k], []byte(`"amount":"`), []byte(`"amount":"9`), 1)
	if bytes.Equal(edited, lines[k]) {
		t.Fatal("no amount in the import entry")
	}
	lines[k] = edited
	os.WriteFile(jp, bytes.Join(lines, nil), 0o600)
	out, errOut := h.mustCode(exitError, "check")
	var seq struct {
		Seq int `json:"seq"`
	}
	json.Unmarshal(lines[k], &seq)
	if !strings.Contains(out, "entry "+itoa(seq.Seq)+" ") || !strings.Contains(out, "edited") {
		t.Errorf("check of an edited entry %d:\n%s%s", seq.Seq, out, errOut)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestJournalReadableWithJq: the docs' jq recipes work on a real journal.
func TestJournalReadableWithJq(t *testing.T) {
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Skip("jq is not installed")
	}
	h := newHarness(t, sandbox.Options{}, knobs{})
	path := h.writeSheet("month.csv", kes(1, 3))
	h.mustCode(exitOK, "run", "--wait", "20s", path)
	jp := ledger.JournalPath(h.db)
	out, err := exec.Command(jq, "-r", `.ops[] | select(.event) | .event | select(.to == "paid") | .ref`, jp).Output()
	if err != nil {
		t.Fatal(err)
	}
	paid := strings.Fields(string(out))
	if len(paid) != 3 {
		t.Errorf("jq found %d paid events: %q", len(paid), paid)
	}
	f, _ := os.Open(jp)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	if n == 0 {
		t.Error("empty journal")
	}
	if fi, _ := os.Stat(jp); fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v", fi.Mode().Perm())
	}
	_ = filepath.Base(jp)
}
