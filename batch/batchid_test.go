package batch

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckBatchID(t *testing.T) {
	ok := []string{"a", "nov-2026", "payroll_2026.11", "A.b-C_d", strings.Repeat("x", 64)}
	bad := []string{"", ".hidden", "..", "../escape", "a/b", `a\b`, "a b", strings.Repeat("x", 65),
		"line\nbreak", "rtl\u202eexe", "nul\x00", "ümlaut", "tab\t"}
	for _, id := range ok {
		if err := CheckBatchID(id); err != nil {
			t.Errorf("CheckBatchID(%q) = %v, want nil", id, err)
		}
	}
	for _, id := range bad {
		if err := CheckBatchID(id); !errors.Is(err, ErrBatchID) {
			t.Errorf("CheckBatchID(%q) = %v, want ErrBatchID", id, err)
		}
	}
}

func TestBatchIDFromFile(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/srv/sheets/nov-staff.csv", "nov-staff"},
		{"payroll 2026-11 (final).xlsx", "payroll_2026-11__final_"},
		{".hidden.csv", "hidden"},
		{"Lön\u202e.csv", "L_n_"},
		{strings.Repeat("n", 100) + ".csv", strings.Repeat("n", 64)},
		{"___.csv", ""},
		{"ü.csv", ""},
	} {
		got := BatchIDFromFile(tc.path)
		if got != tc.want {
			t.Errorf("BatchIDFromFile(%q) = %q, want %q", tc.path, got, tc.want)
		}
		if got != "" && CheckBatchID(got) != nil {
			t.Errorf("BatchIDFromFile(%q) = %q, which CheckBatchID refuses", tc.path, got)
		}
	}
}

func FuzzBatchIDFromFile(f *testing.F) {
	for _, s := range []string{"nov.csv", "../a/b.xlsx", "\u202e.csv", ".x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if id := BatchIDFromFile(name); id != "" && CheckBatchID(id) != nil {
			t.Fatalf("BatchIDFromFile(%q) = %q, not a valid batch ID", name, id)
		}
	})
}
