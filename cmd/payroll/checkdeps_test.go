package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckDepsFailsClosed runs scripts/check-deps on planted violations
// in a scratch module: each must fail the check, and a clean module pass.
func TestCheckDepsFailsClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "check-deps"))
	if err != nil {
		t.Fatal(err)
	}
	clean := map[string]string{
		"go.mod":              "module payroll\n\ngo 1.26\n",
		"batch/b.go":          "package batch\n",
		"ledger/l.go":         "package ledger\n\nimport _ \"payroll/batch\"\n",
		"reports/r.go":        "package reports\n\nimport _ \"payroll/batch\"\n",
		"providers/p.go":      "package providers\n\nimport _ \"net/http\"\n",
		"cmd/payroll/main.go": "package main\n\nimport _ \"payroll/ledger\"\n\nfunc main() {}\n",
	}
	cases := []struct {
		name  string
		plant map[string]string
		say   string
	}{
		{"clean", nil, ""},
		{"ledger imports reports", map[string]string{"ledger/l.go": "package ledger\n\nimport _ \"payroll/reports\"\n"}, "ledger imports reports"},
		{"transitive", map[string]string{"reports/r.go": "package reports\n\nimport _ \"payroll/ledger\"\n"}, "reports imports ledger"},
		{"batch uses the network", map[string]string{"batch/b.go": "package batch\n\nimport _ \"net/http\"\n"}, "batch imports net/http"},
		{"ledger through a dependency", map[string]string{"ledger/l.go": "package ledger\n\nimport _ \"net/http/httptest\"\n"}, "ledger imports net/http"},
		{"package without a rule", map[string]string{"util/u.go": "package util\n"}, "no rule for package util"},
		{"go list fails", map[string]string{"batch/b.go": "package batch\n\nimport _ \"payroll/nosuch\"\n"}, ""},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "-"), func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range clean {
				if b, ok := tc.plant[name]; ok {
					body = b
				}
				write(t, filepath.Join(dir, name), body)
			}
			for name, body := range tc.plant {
				if _, ok := clean[name]; !ok {
					write(t, filepath.Join(dir, name), body)
				}
			}
			cmd := exec.Command("bash", script)
			cmd.Env = append(os.Environ(), "CHECK_DEPS_ROOT="+dir, "GOFLAGS=-mod=mod")
			out, err := cmd.CombinedOutput()
			if tc.name == "clean" {
				if err != nil {
					t.Fatalf("clean module fails: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("planted violation passes:\n%s", out)
			}
			if tc.say != "" && !strings.Contains(string(out), tc.say) {
				t.Errorf("output does not say %q:\n%s", tc.say, out)
			}
		})
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
