package batch

import (
	"errors"
	"strings"
	"testing"
)

func TestReadDecisions(t *testing.T) {
	good := "reference,outcome,receipt,note\nEMP1,paid,QCL1,K2 dashboard\nEMP2, Failed ,,not in send-money/all\n"
	ds, err := ReadDecisions(strings.NewReader(good), "d.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || !ds[0].Paid() || ds[0].Receipt != "QCL1" || ds[1].Paid() || ds[1].Row != 3 || ds[1].Outcome != "failed" {
		t.Errorf("decisions %+v", ds)
	}
	bad := "reference,outcome,note\nEMP1,maybe,x\nEMP1,paid,\n,failed,y\n"
	_, err = ReadDecisions(strings.NewReader(bad), "d.csv")
	for _, want := range []string{"row 2, column outcome", "row 3, column reference: reference is decided twice (row 2)", "row 3, column note", "row 4, column reference"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	if _, err := ReadDecisions(strings.NewReader("reference,receipt\nEMP1,x\n"), "d.csv"); !errors.Is(err, ErrMissingColumn) {
		t.Errorf("missing columns: %v", err)
	}
}

func FuzzReadDecisions(f *testing.F) {
	f.Add("reference,outcome,receipt,note\nEMP1,paid,QCL1,K2\n")
	f.Add("reference,outcome,note\n\"a\nb\",failed,x\n")
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := ReadDecisions(strings.NewReader(s), "f.csv")
		if err == nil {
			for _, d := range ds {
				if d.Reference == "" || d.Note == "" || (d.Outcome != "paid" && d.Outcome != "failed") {
					t.Fatalf("accepted a bad decision %+v", d)
				}
			}
		}
	})
}

// TestReadDecisionsBrokenQuote: a stray quote is a row error naming its
// line, not a panic (found by FuzzReadDecisions: FieldPos of a record
// that was never read).
func TestReadDecisionsBrokenQuote(t *testing.T) {
	_, err := ReadDecisions(strings.NewReader("reference,outcome,note\nEMP1,paid,checked\n\"EMP2,paid"), "d.csv")
	var re *RowError
	if !errors.As(err, &re) || re.Row != 3 {
		t.Fatalf("ReadDecisions = %v, want a row error on line 3", err)
	}
}
