package ledger

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"payroll/batch"
)

// equalLines compares two decoded journal lines as replay sees them.
func equalLines(a, b *jline) bool {
	if a.Seq != b.Seq || a.Prev != b.Prev || a.Commit != b.Commit || a.Op != b.Op || a.At != b.At || a.End != b.End || len(a.Ops) != len(b.Ops) {
		return false
	}
	for i := range a.Ops {
		x, y := a.Ops[i], b.Ops[i]
		if x.O != y.O || !slices.Equal(x.B, y.B) || !bytes.Equal(x.K, y.K) || !bytes.Equal(x.V, y.V) || !bytes.Equal(x.Event, y.Event) || x.N != y.N {
			return false
		}
	}
	return true
}

// TestParseLineAgreesWithJSON: every line of a real journal decodes the
// same by the fast parser and by encoding/json.
func TestParseLineAgreesWithJSON(t *testing.T) {
	path, _ := journalWorkload(t)
	for i, raw := range readJournal(t, path) {
		body := bytes.TrimSuffix(raw, []byte("\n"))
		var fast, std jline
		if !parseLine(body, &fast) {
			t.Fatalf("line %d: the fast parser refused a line this package wrote:\n%s", i+1, body)
		}
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatal(err)
		}
		if !equalLines(&fast, &std) {
			t.Fatalf("line %d decodes differently:\n%+v\n%+v", i+1, fast, std)
		}
	}
}

// TestLineViewIsJSON: the hand-written line view is valid JSON and reads
// back as the record, whatever the text in it.
func TestLineViewIsJSON(t *testing.T) {
	for _, ref := range []string{"EMP1", `quote"d`, `back\slash`, "ünï", "<tag>&", "tab\tx", "\u2028"} {
		r := &LineRecord{Ref: ref, State: batch.StatePaid, Receipt: ref, Flags: []string{ref, "corrected"}, Line: testLine(1)}
		b := appendLineView(nil, r)
		var v lineView
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%q: %v\n%s", ref, err, b)
		}
		if v.Ref != ref || v.Receipt != ref || v.Flags[0] != ref || v.State != "paid" || v.Amount != r.Line.Amount.String() || v.Destination != r.Line.Dest.Display() {
			t.Errorf("%q read back as %+v", ref, v)
		}
	}
}

// FuzzJournalLine: whatever the fast parser accepts, encoding/json
// decodes to the same journal line (when the input is valid JSON at all;
// the parser does not validate event and line values, which the chain
// and the replay comparison guard).
func FuzzJournalLine(f *testing.F) {
	if b, err := os.ReadFile("testdata/journal-seed.jsonl"); err == nil {
		for _, l := range bytes.Split(b, []byte("\n")) {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"seq":1,"prev":"","commit":1,"op":"base","at":"2026-11-30T00:00:00Z","ops":[{"o":"mk","b":["meta"]},{"o":"put","b":["meta"],"k":"c2NoZW1h","v":"eA=="}],"end":true}`))
	f.Add([]byte(`{"seq":2,"prev":"ab","commit":2,"op":"x","at":"t","ops":[{"o":"put","b":["batch","b","events"],"k":"AA==","event":{"t":"x","ref":"a\"b"},"line":{"ref":"[}"}},{"o":"seq","b":["a"],"n":5}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast jline
		if !parseLine(b, &fast) || !json.Valid(b) {
			return
		}
		var std jline
		if err := json.Unmarshal(b, &std); err != nil {
			t.Fatalf("fast parser accepted what encoding/json refuses (%v): %q", err, b)
		}
		if !equalLines(&fast, &std) {
			t.Fatalf("decodes differently: %q\n%+v\n%+v", b, fast, std)
		}
	})
}
