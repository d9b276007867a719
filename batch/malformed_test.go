package batch

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata: generated XLSX and CSV fixtures and the golden .want files")

const malformedDir = "testdata/malformed"

// TestMalformed reads every sheet in testdata/malformed through the same path
// as `payroll validate` (ValidateFile) and compares the outcome with the
// golden NAME.want next to it: every error, one per line, in the order
// validation reports them, then one "ok" line per valid row. A NAME.toml next
// to the sheet is the config for that case (limits such as sheet.max_rows,
// rounding, routing, [sheet.columns]).
//
// go test ./batch -run TestMalformed -update regenerates the XLSX and large
// CSV fixtures (see fixtures_test.go) and rewrites the .want files, which
// must then be read by eye before committing.
func TestMalformed(t *testing.T) {
	if *update {
		writeFixtures(t, malformedDir)
	}
	var sheets []string
	for _, pat := range []string{"*.csv", "*.xlsx"} {
		m, err := filepath.Glob(filepath.Join(malformedDir, pat))
		if err != nil {
			t.Fatal(err)
		}
		sheets = append(sheets, m...)
	}
	slices.Sort(sheets)
	if len(sheets) < 30 {
		t.Fatalf("found %d sheets in %s; want at least 30", len(sheets), malformedDir)
	}
	for _, path := range sheets {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			base := strings.TrimSuffix(path, filepath.Ext(path))
			cfg := DefaultConfig()
			if b, err := os.ReadFile(base + ".toml"); err == nil {
				if cfg, err = ParseConfig(base+".toml", b); err != nil {
					t.Fatal(err)
				}
			}
			v, err := ValidateFile(t.Context(), path, &cfg, "")
			if err != nil {
				t.Fatalf("ValidateFile: %v (want problems reported in Validation.Errors)", err)
			}
			for _, e := range v.Errors {
				re, ok := errors.AsType[*RowError](e)
				if !ok {
					t.Errorf("error %q is a %T, want *RowError", e, e)
					continue
				}
				if re.File != name || re.Row < 0 {
					t.Errorf("error %q: File %q Row %d, want File %q and Row >= 0", e, re.File, re.Row, name)
				}
			}
			got := renderValidation(v)
			wantFile := base + ".want"
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test ./batch -run TestMalformed -update, then review the file)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", wantFile, diff)
			}
		})
	}
}

// renderValidation writes a Validation as the golden files hold it.
func renderValidation(v *Validation) string {
	var b bytes.Buffer
	for _, e := range v.Errors {
		fmt.Fprintln(&b, e.Error())
	}
	for _, l := range v.Lines {
		fmt.Fprintf(&b, "ok row %d: %s %s %s %s %s %s", l.Row, l.Reference, l.Provider, l.Currency, l.Dest.Type, l.Dest.Masked(), l.Amount)
		if !l.Requested.Equal(l.Amount) {
			fmt.Fprintf(&b, " (requested %s)", l.Requested)
		}
		if l.ServiceCode != "" {
			fmt.Fprintf(&b, " %s", l.ServiceCode)
		}
		if l.FirstName != "" || l.LastName != "" {
			fmt.Fprintf(&b, " [%s|%s]", l.FirstName, l.LastName)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "rows %d, valid %d, invalid %d\n", v.Rows, len(v.Lines), len(v.Invalid))
	return b.String()
}
