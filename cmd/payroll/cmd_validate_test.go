package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func sample(name string) string { return filepath.Join(samplesDir, name) }

func TestValidateAndPlanGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"validate_sample_csv", []string{"validate", sample("payroll-2026-11.csv")}, exitOK},
		{"validate_sample_xlsx", []string{"validate", sample("payroll-2026-11.xlsx")}, exitOK},
		{"validate_hr_export", []string{"validate", "--config", sample("payroll.toml"), sample("hr-export-2026-11.csv")}, exitOK},
		{"validate_invalid", []string{"validate", "testdata/invalid.csv"}, exitInvalid},
		{"plan_sample_csv", []string{"plan", sample("payroll-2026-11.csv")}, exitOK},
		{"plan_sample_small_chunks", []string{"plan", "--config", "testdata/small-chunks.toml", sample("payroll-2026-11.xlsx")}, exitOK},
		{"plan_sample_lines", []string{"plan", "--lines", sample("payroll-2026-11.csv")}, exitOK},
		{"plan_sample_requests", []string{"plan", "--requests", "--config", "testdata/small-chunks.toml", sample("payroll-2026-11.xlsx")}, exitOK},
		{"plan_sample_json", []string{"plan", "--json", "--config", "testdata/small-chunks.toml", sample("payroll-2026-11.csv")}, exitOK},
		{"plan_invalid", []string{"plan", "testdata/invalid.csv"}, exitInvalid},
		{"plan_invalid_skip", []string{"plan", "--skip-invalid", "testdata/invalid.csv"}, exitOK},
		{"plan_rounding_down", []string{"plan", "--config", "testdata/rounding-down.toml", "testdata/cents.csv"}, exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.code, errOut)
			}
			golden(t, tt.name, out)
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no sheet", []string{"validate"}, exitUsage},
		{"unknown command", []string{"frobnicate"}, exitUsage},
		{"unknown flag", []string{"validate", "--nope", "x.csv"}, exitUsage},
		{"bad log format", []string{"--log-format", "xml", "version"}, exitUsage},
		{"unknown config key", []string{"validate", "--config", "testdata/unknown-key.toml", sample("payroll-2026-11.csv")}, exitUsage},
		{"missing sheet file", []string{"validate", "testdata/nope.csv"}, exitError},
		{"unsupported extension", []string{"validate", "testdata/small-chunks.toml"}, exitInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := run(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.code, errOut)
			}
		})
	}
}

func TestUnknownConfigKeyIsNamed(t *testing.T) {
	_, errOut, _ := run(t, "validate", "--config", "testdata/unknown-key.toml", sample("payroll-2026-11.csv"))
	for _, want := range []string{"unknown key", "kopokopo.max_destination"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not name %q", errOut, want)
		}
	}
}

func TestHelpShowsExamples(t *testing.T) {
	for _, c := range []string{"validate", "plan", "run", "settle", "status", "report", "retry", "resolve", "sandbox", "check", "version"} {
		out, _, code := run(t, c, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "payroll "+c) {
			t.Errorf("%s --help: exit %d, no example:\n%s", c, code, out)
		}
	}
}

func TestCompletion(t *testing.T) {
	out, _, code := run(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_payroll") {
		t.Errorf("completion bash: exit %d, output does not look like a bash completion script", code)
	}
}
