package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers/sandbox"
)

// The edit matrix (issue 10): a batch is run until its lines are in one
// state, the operator edits the sheet, and the batch is run again. Every
// cell is checked against the sandbox's record of truth: nobody is paid
// twice, nobody is stranded, the exit code and the advice are right. The
// table is in README.md ("Edits between runs").

// editState is where the lines are when the sheet is edited.
type editState string

const (
	stPending  editState = "pending"  // imported, nothing sent (SIGTERM before the first request)
	stUnknown  editState = "unknown"  // sent, the provider paid but answered 500
	stAccepted editState = "accepted" // sent and accepted, no result yet
	stPaid     editState = "paid"     // settled paid
	stFailed   editState = "failed"   // the target line failed conclusively, the rest paid
)

var editStates = []editState{stPending, stUnknown, stAccepted, stPaid, stFailed}

// editSheet is the base sheet: four KES wallet rows; the second is the
// line the edits are about (the one that fails in the failed state).
func editSheet() []row {
	return []row{
		{"EMP01231", "Achieng Barasa", "0712401231", "1000", "KES"},
		{"EMP01232", "Otieno Ndegwa", "0712401232", "2000", "KES"},
		{"EMP01233", "Wanjiru Kamau", "0712401233", "3000", "KES"},
		{"EMP01234", "Mutua Kioko", "0712401234", "4000", "KES"},
	}
}

const editTarget = 1 // index of the target row

// correctedPhone is the target's phone after "phone corrected".
const correctedPhone = "0712409998"

// editCase is one edit of the sheet.
type editCase struct {
	name   string
	header []string // nil: the usual header
	edit   func([]row) []row
}

func editCases() []editCase {
	recase := func(s string) string { return strings.ToLower(s[:3]) + "-" + s[3:] } // EMP01234 → emp-01234
	return []editCase{
		{"refs re-cased", nil, func(rs []row) []row {
			for i := range rs {
				rs[i].ref = recase(rs[i].ref)
			}
			return rs
		}},
		{"ref header renamed", []string{"Employee Code", "name", "phone", "amount", "currency"}, func(rs []row) []row { return rs }},
		{"ref column emptied", nil, func(rs []row) []row {
			for i := range rs {
				rs[i].ref = ""
			}
			return rs
		}},
		{"row copied", nil, func(rs []row) []row {
			c := rs[editTarget]
			c.ref = "EMP09999"
			return append(rs, c)
		}},
		{"amounts swapped", nil, func(rs []row) []row {
			rs[editTarget].amount, rs[editTarget+1].amount = rs[editTarget+1].amount, rs[editTarget].amount
			return rs
		}},
		{"phone corrected", nil, func(rs []row) []row { rs[editTarget].phone = correctedPhone; return rs }},
		{"amount corrected", nil, func(rs []row) []row { rs[editTarget].amount = "2500"; return rs }},
		{"row deleted", nil, func(rs []row) []row { return slices.Delete(rs, editTarget, editTarget+1) }},
		{"rows reordered", nil, func(rs []row) []row { slices.Reverse(rs); return rs }},
	}
}

// editWant is what a cell must show after the re-run.
type editWant struct {
	code    int    // exit code of the re-run
	newPaid int    // payouts the sandbox paid that were created by the re-run
	target  string // the target row's report status ("" if the row left the sheet), with "+flag" for a flag it must carry
	advice  string // a phrase the re-run must print
}

const (
	adviceHeld     = "like payments already made"
	adviceUnknown  = "unknown outcome"
	adviceConflict = "changed after being sent"
	adviceFailed   = "failed"
	advicePaid     = "Every line is paid"
)

// editWants is the expected outcome of every cell, by edit then state.
var editWants = map[string]map[editState]editWant{
	"refs re-cased": {
		stPending:  {exitOK, 4, "paid", advicePaid},
		stUnknown:  {exitInvalid, 0, "", adviceHeld},
		stAccepted: {exitInvalid, 0, "", adviceHeld},
		stPaid:     {exitInvalid, 0, "", adviceHeld},
		stFailed:   {exitInvalid, 0, "", adviceHeld},
	},
	"ref header renamed": {
		stPending:  {exitOK, 4, "paid", advicePaid},
		stUnknown:  {exitInvalid, 0, "", adviceHeld},
		stAccepted: {exitInvalid, 0, "", adviceHeld},
		stPaid:     {exitInvalid, 0, "", adviceHeld},
		stFailed:   {exitInvalid, 0, "", adviceHeld},
	},
	"ref column emptied": {
		stPending:  {exitOK, 4, "paid", advicePaid},
		stUnknown:  {exitInvalid, 0, "", adviceHeld},
		stAccepted: {exitInvalid, 0, "", adviceHeld},
		stPaid:     {exitInvalid, 0, "", adviceHeld},
		stFailed:   {exitInvalid, 0, "", adviceHeld},
	},
	"row copied": {
		// Nothing was sent yet: the sheet asks for both (distinct
		// references), as a first import may; a warning says so.
		stPending:  {exitOK, 5, "paid", "each is paid (distinct references)"},
		stUnknown:  {exitInvalid, 0, "unknown", adviceHeld},
		stAccepted: {exitInvalid, 0, "pending", adviceHeld},
		stPaid:     {exitInvalid, 0, "paid", adviceHeld},
		// The target failed, so its copy pays nobody twice: sent, and it
		// fails like the target did.
		stFailed: {exitUnsettled, 0, "failed", adviceFailed},
	},
	"amounts swapped": {
		stPending:  {exitOK, 4, "paid", advicePaid},
		stUnknown:  {exitUnsettled, 0, "unknown+sheet-changed", adviceConflict},
		stAccepted: {exitUnsettled, 0, "paid+sheet-changed", adviceConflict},
		stPaid:     {exitUnsettled, 0, "paid+sheet-changed", adviceConflict},
		// The failed target's amount changed: corrected, sent again and
		// paid; the paid row whose amount changed is a conflict.
		stFailed: {exitUnsettled, 1, "paid+corrected", adviceConflict},
	},
	"phone corrected": {
		stPending:  {exitOK, 4, "paid", advicePaid},
		stUnknown:  {exitUnsettled, 0, "unknown+sheet-changed", adviceConflict},
		stAccepted: {exitUnsettled, 0, "paid+sheet-changed", adviceConflict},
		stPaid:     {exitUnsettled, 0, "paid+sheet-changed", adviceConflict},
		stFailed:   {exitOK, 1, "paid+corrected", advicePaid},
	},
	"amount corrected": {
		stPending:  {exitOK, 4, "paid", advicePaid},
		stUnknown:  {exitUnsettled, 0, "unknown+sheet-changed", adviceConflict},
		stAccepted: {exitUnsettled, 0, "paid+sheet-changed", adviceConflict},
		stPaid:     {exitUnsettled, 0, "paid+sheet-changed", adviceConflict},
		stFailed:   {exitOK, 1, "paid+corrected", advicePaid},
	},
	"row deleted": {
		// The report keeps a row for every line the ledger has; a line
		// sent and then deleted from the sheet keeps its state.
		stPending:  {exitOK, 3, "cancelled", advicePaid},
		stUnknown:  {exitUnsettled, 0, "unknown", adviceUnknown},
		stAccepted: {exitOK, 0, "paid", advicePaid},
		stPaid:     {exitOK, 0, "paid", advicePaid},
		stFailed:   {exitOK, 0, "cancelled", advicePaid},
	},
	"rows reordered": {
		stPending:  {exitOK, 4, "paid", advicePaid},
		stUnknown:  {exitUnsettled, 0, "unknown", adviceUnknown},
		stAccepted: {exitOK, 0, "paid", advicePaid},
		stPaid:     {exitOK, 0, "paid", advicePaid},
		stFailed:   {exitUnsettled, 0, "failed", adviceFailed},
	},
}

// writeSheetHeader writes rows under a given header.
func (h *harness) writeSheetHeader(name string, header []string, rows []row) string {
	h.t.Helper()
	path := h.writeSheet(name, rows)
	if header == nil {
		return path
	}
	b, err := os.ReadFile(path)
	if err != nil {
		h.t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "\n")
	if err := os.WriteFile(path, []byte(strings.Join(header, ",")+"\n"+rest), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return path
}

// importOnly imports the sheet as the run would and sends nothing: the
// state a SIGTERM before the first request leaves.
func (h *harness) importOnly(path string) {
	h.t.Helper()
	cfg, err := (&globalOptions{configPath: h.cfg}).loadConfig()
	if err != nil {
		h.t.Fatal(err)
	}
	v, err := batch.ValidateFile(context.Background(), path, cfg, "")
	if err != nil || !v.OK() {
		h.t.Fatalf("validate: %v %v", err, v.Errors)
	}
	h.withDB(func(db *ledger.DB) {
		id := batch.BatchIDFromFile(path)
		if _, err := db.Import(context.Background(), ledger.ImportSpec{BatchID: id, File: filepath.Base(path)}, v.Lines, v.Invalid); err != nil {
			h.t.Fatal(err)
		}
	})
}

// paidBy counts the sandbox's paid payouts per identity and amount.
func paidBy(sb *sandbox.Sandbox) map[string]int {
	out := map[string]int{}
	for _, p := range sb.Truth() {
		if p.Status == sandbox.StatusPaid {
			amt, _ := batch.ParseMoney(p.Amount)
			out[strings.ToLower(p.Identity)+" "+amt.String()]++
		}
	}
	return out
}

func TestEditMatrix(t *testing.T) {
	cases := editCases()
	for _, ec := range cases {
		for _, st := range editStates {
			want, ok := editWants[ec.name][st]
			if !ok {
				t.Fatalf("no expectation for %s × %s", ec.name, st)
			}
			t.Run(strings.ReplaceAll(ec.name, " ", "-")+"/"+string(st), func(t *testing.T) {
				runEditCell(t, ec, st, want)
			})
		}
	}
}

func runEditCell(t *testing.T, ec editCase, st editState, want editWant) {
	opts := sandbox.Options{}
	base := editSheet()
	targetPhone := "254" + base[editTarget].phone[1:]
	switch st {
	case stAccepted:
		opts.ProcessingDelay = 1500 * time.Millisecond
	case stFailed:
		// The target fails for its phone and amount together, so that
		// correcting either one gets it paid.
		opts.FailRule = func(identity, amount string) bool {
			return identity == "mobile_wallet:"+targetPhone && amount == "2000"
		}
	}
	if opts.FailRule == nil {
		opts.FailRule = func(string, string) bool { return false }
	}
	h := newHarness(t, opts, knobs{})
	path := h.writeSheet("nov-staff.csv", base)

	// Bring the batch to the state.
	switch st {
	case stPending:
		h.importOnly(path)
	case stUnknown:
		h.sb.SetFaults(sandbox.KopoKopo, sandbox.Faults{ErrorAfter: sandbox.Always})
		h.mustCode(exitUnsettled, "run", "--wait", "2s", path)
		h.sb.SetFaults(sandbox.KopoKopo, sandbox.Faults{})
	case stAccepted:
		h.mustCode(exitPending, "run", "--wait", "0", path)
	case stPaid:
		h.mustCode(exitOK, "run", "--wait", "20s", path)
	case stFailed:
		h.mustCode(exitUnsettled, "run", "--wait", "20s", path)
	}
	before := h.sb.Stats().Payouts
	paidBefore := paidBy(h.sb)

	// Edit and run again.
	edited := ec.edit(editSheet())
	path = h.writeSheetHeader("nov-staff.csv", ec.header, edited)
	out, errOut, code := h.cli("run", "--wait", "20s", path)
	all := out + errOut
	if code != want.code {
		t.Errorf("re-run: exit %d, want %d\n%s", code, want.code, all)
	}
	if !strings.Contains(all, want.advice) {
		t.Errorf("re-run does not say %q:\n%s", want.advice, all)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	h.sb.Flush(ctx)
	cancel()

	// Nobody paid twice: per destination and amount, the sandbox paid no
	// more than the most rows any version of the sheet had for it.
	rowsFor := map[string]int{}
	for _, sheet := range [][]row{base, edited} {
		n := map[string]int{}
		for _, r := range sheet {
			amt := batch.MustMoney(r.amount)
			n["mobile_wallet:254"+r.phone[1:]+" "+amt.String()]++
		}
		for k, v := range n {
			rowsFor[k] = max(rowsFor[k], v)
		}
	}
	paid := paidBy(h.sb)
	for k, n := range paid {
		if n > rowsFor[k] {
			t.Errorf("DOUBLE PAYMENT: %s paid %d times, the sheet asked %d", k, n, rowsFor[k])
		}
	}
	// What the re-run created and the sandbox paid.
	newPaid := 0
	for _, p := range h.sb.Truth()[before:] {
		if p.Status == sandbox.StatusPaid {
			newPaid++
		}
	}
	if newPaid != want.newPaid {
		t.Errorf("re-run: %d new payouts paid, want %d (before %v, after %v)", newPaid, want.newPaid, paidBefore, paid)
	}
	for _, v := range h.sb.Violations() {
		// A second payout to one destination and amount is what the sheet
		// asked for when it has two such rows (distinct references).
		if v.Kind == sandbox.ViolationDuplicatePayout && intended(rowsFor, v.Detail) {
			continue
		}
		t.Errorf("sandbox violation: %+v", v)
	}

	// Nobody stranded: with nothing held and nothing unknown, every row of
	// the edited sheet is paid, unless the cell expects its target to
	// fail or conflict.
	if code == exitInvalid {
		// A held run writes no report; write it from the ledger as it is.
		h.mustCode(exitOK, "report", "nov-staff")
	}
	rows := h.reportRows("nov-staff")
	var target map[string]string
	for _, r := range rows {
		// What was paid keeps its destination; a corrected line has the new one.
		if r["destination"] != targetPhone && (ec.name != "phone corrected" || r["destination"] != "254"+correctedPhone[1:]) {
			continue
		}
		// The line the sheet now has for the target: not one the edit
		// cancelled, and the original rather than a copy.
		if target == nil || target["status"] == "cancelled" && r["status"] != "cancelled" ||
			r["status"] == target["status"] && r["reference"] == base[editTarget].ref {
			target = r
		}
	}
	status, flag, _ := strings.Cut(want.target, "+")
	switch {
	case status == "" && code != exitInvalid:
		t.Errorf("cell expects no target row but the run was not held")
	case status != "" && target == nil:
		t.Errorf("no report row for the target:\n%v", rows)
	case status != "" && (target["status"] != status || flag != "" && !strings.Contains(target["flags"], flag)):
		t.Errorf("target row: status %q flags %q, want %q", target["status"], target["flags"], want.target)
	}
	if want.code == exitOK {
		for _, r := range edited {
			k := "mobile_wallet:254" + r.phone[1:] + " " + batch.MustMoney(r.amount).String()
			if paid[k] == 0 {
				t.Errorf("STRANDED: row %s (%s) is not paid", r.ref, k)
			}
		}
	}
	// A held run names every pair: row, reference, the earlier batch and row.
	if code == exitInvalid && !strings.Contains(errOut, "same destination, amount and currency as batch nov-staff row") {
		t.Errorf("held run does not list the pairs:\n%s", errOut)
	}
}

// TestEditMatrixTable keeps the README's table in step with editWants.
func TestEditMatrixTable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ec := range editCases() {
		line := "| " + ec.name + " |"
		for _, st := range editStates {
			w := editWants[ec.name][st]
			line += " " + editCell(w) + " |"
		}
		if !strings.Contains(string(readme), line) {
			t.Errorf("README.md lacks the edit-matrix line\n%s", line)
		}
	}
}

// editCell is a cell of the README's table: exit code, new payouts, the
// target's status.
func editCell(w editWant) string {
	s := fmt.Sprintf("%d · %d new", w.code, w.newPaid)
	if w.target != "" {
		s += " · " + w.target
	} else {
		s += " · held"
	}
	return s
}

// intended reports whether a sandbox violation's detail ("<identity> KES
// <amount> accepted as ...") names a destination and amount that the sheet
// asks for more than once.
func intended(rowsFor map[string]int, detail string) bool {
	f := strings.Fields(detail)
	if len(f) < 3 {
		return false
	}
	amt, err := batch.ParseMoney(f[2])
	return err == nil && rowsFor[strings.ToLower(f[0])+" "+amt.String()] > 1
}
