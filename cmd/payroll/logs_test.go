package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"payroll/providers/sandbox"
)

// jsonRecords parses every line of a JSON-mode stderr, failing on any line
// that is not a JSON object.
func jsonRecords(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("a stderr line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// TestSettleFromCronJSON: settle as cron runs it, --log-format json: every
// stderr line is JSON with the batch, a "poll round" line per round, and
// errors are JSON too.
func TestSettleFromCronJSON(t *testing.T) {
	h := newHarness(t, sandbox.Options{ProcessingDelay: 2 * time.Second}, knobs{poll: "300ms"})
	path := h.writeSheet("cron.csv", append(kes(1, 3), tzs(1, 2)...))
	h.sb.SetFaults(sandbox.KopoKopo, sandbox.Faults{CallbackLost: sandbox.Always})
	h.sb.SetFaults(sandbox.KiotaPay, sandbox.Faults{CallbackLost: sandbox.Always})
	_, errOut, code := h.cli("run", "--wait", "0s", "--log-format", "json", path)
	if code != exitPending {
		t.Fatalf("run --wait 0s: exit %d\n%s", code, errOut)
	}
	for _, r := range jsonRecords(t, errOut) {
		if r["batch"] != "cron" {
			t.Errorf("a run log line without the batch: %v", r)
		}
	}
	out, errOut, code := h.cli("settle", "--wait", "20s", "--log-format", "json")
	if code != exitOK {
		t.Fatalf("settle: exit %d\n%s%s", code, out, errOut)
	}
	rounds := 0
	for _, r := range jsonRecords(t, errOut) {
		if r["batch"] != "cron" {
			t.Errorf("a settle log line without the batch: %v", r)
		}
		if r["msg"] == "poll round" {
			rounds++
			if _, ok := r["paid"]; !ok || r["next_poll_in"] == nil {
				t.Errorf("a poll round without the counts or the next poll: %v", r)
			}
		}
	}
	if rounds == 0 {
		t.Errorf("no poll round logged:\n%s", errOut)
	}
	// An error is one JSON record with the exit code.
	_, errOut, code = h.cli("report", "nosuch", "--log-format", "json")
	recs := jsonRecords(t, errOut)
	if code != exitUsage || len(recs) != 1 || recs[0]["level"] != "ERROR" || recs[0]["exit"] != float64(exitUsage) {
		t.Errorf("error in JSON mode: exit %d %v", code, recs)
	}
	// Validation errors on stderr are JSON too.
	bad := h.writeSheet("bad.csv", []row{{"X1", "Bad", "0712345678", "12.345", "KES"}})
	_, errOut, _ = h.cli("run", "--log-format", "json", bad)
	if len(jsonRecords(t, errOut)) == 0 {
		t.Error("no JSON for an invalid sheet")
	}
}

// TestQuietPrintsOnlyAttention: --quiet prints nothing for a batch that is
// all paid, and only the advice otherwise.
func TestQuietPrintsOnlyAttention(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	out, errOut := h.mustCode(exitOK, "run", "--quiet", "--wait", "10s", h.writeSheet("ok.csv", kes(1, 3)))
	if strings.TrimSpace(out+errOut) != "" {
		t.Errorf("--quiet, all paid, printed:\n%s%s", out, errOut)
	}
	out, _ = h.mustCode(exitUnsettled, "run", "--quiet", "--wait", "10s", h.writeSheet("fail.csv", []row{{"F1", "Fails", "0712300999", "1500", "KES"}}))
	if !strings.HasPrefix(out, "Next:") || strings.Contains(out, "Report:") || strings.Contains(out, "imported") {
		t.Errorf("--quiet, a failed line, printed:\n%s", out)
	}
}
