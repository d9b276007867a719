package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"payroll/providers/sandbox"
)

// benchSandbox starts a sandbox, exports its credentials and writes a
// config pointing at it; kiotapay is added to the [kiotapay] table.
func benchSandbox(b *testing.B, opts sandbox.Options, kiotapay string) (sb *sandbox.Sandbox, cfgPath string) {
	b.Helper()
	sb = sandbox.New(opts)
	base, err := sb.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sb.Close() })
	c := sb.Credentials()
	for k, v := range map[string]string{
		"KOPOKOPO_CLIENT_ID": c.KopoKopoClientID, "KOPOKOPO_CLIENT_SECRET": c.KopoKopoClientSecret,
		"KOPOKOPO_API_KEY": c.KopoKopoAPIKey, "KIOTAPAY_API_KEY": c.KiotaPayAPIKey, "KIOTAPAY_API_SECRET": c.KiotaPayAPISecret,
	} {
		b.Setenv(k, v)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfgPath = filepath.Join(b.TempDir(), "payroll.toml")
	cfg := fmt.Sprintf(`[kopokopo]
base_url = %q
[kiotapay]
base_url = %q
environment = "sandbox"
%s
[callbacks]
listen = %q
public_url = "http://%s"
[settle]
poll_interval = "1s"
`, base, base, kiotapay, addr, addr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	return sb, cfgPath
}

// writeSheet writes n rows made by row(i) under the header.
func writeSheet(b *testing.B, n int, header string, row func(i int) string) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, header)
	for i := range n {
		fmt.Fprintln(w, row(i))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path
}

// BenchmarkRunKopoKopo100k pays 100,000 KES lines (2,000 requests of 50)
// end to end through the CLI against the in-process sandbox with no
// latency: validate, import, send, settle by callbacks, report.
func BenchmarkRunKopoKopo100k(b *testing.B) {
	const n = 100_000
	for range b.N {
		b.StopTimer()
		sb, cfg := benchSandbox(b, sandbox.Options{Seed: 1, ProcessingDelay: 20 * time.Millisecond, FailRule: func(string, string) bool { return false }}, "")
		sheet := writeSheet(b, n, "reference,name,phone,amount", func(i int) string {
			return fmt.Sprintf("E%06d,Payee %d,07%08d,%d", i, i, 10000000+i, 1000+i%5000)
		})
		dir := b.TempDir()
		b.StartTimer()
		start := time.Now()
		_, errOut, code := runB(b, "run", "--quiet", "--config", cfg, "--ledger", filepath.Join(dir, "l.db"), "--report-dir", dir, "--wait", "10m", sheet)
		took := time.Since(start)
		b.StopTimer()
		if code != exitOK {
			b.Fatalf("exit %d: %s", code, errOut)
		}
		st := sb.Stats()
		if st.Paid != n || len(sb.Violations()) != 0 {
			b.Fatalf("sandbox paid %d of %d, violations %v", st.Paid, n, sb.Violations())
		}
		b.ReportMetric(took.Seconds(), "s/run")
		b.ReportMetric(float64(n)/took.Seconds(), "lines/s")
		b.ReportMetric(float64(st.Requests["POST /api/v2/send_money"]), "requests")
	}
}

// BenchmarkRunKiotaPayRate50 pays 3,000 TZS lines through KiotaPay at
// rate = 50 with 200 ms of emulated latency. It reports the achieved send
// rate as a fraction of the configured rate, and the run's wall time as a
// multiple of the theoretical minimum (lines ÷ rate). The sandbox enforces
// the same rate server-side, so any overshoot shows as violations.
func BenchmarkRunKiotaPayRate50(b *testing.B) {
	const rate = 50
	n := 3000
	if v, err := strconv.Atoi(os.Getenv("BENCH_KIOTAPAY_LINES")); err == nil && v > 0 {
		n = v
	}
	for range b.N {
		b.StopTimer()
		opts := sandbox.Options{Seed: 1, ProcessingDelay: 20 * time.Millisecond, FailRule: func(string, string) bool { return false }}
		opts.KiotaPay.Faults.Latency = 200 * time.Millisecond
		opts.KiotaPay.RateLimit = rate
		opts.KiotaPay.Burst = 5 // tolerates scheduling jitter; a systematically fast client still exhausts it at once
		sb, cfg := benchSandbox(b, opts, fmt.Sprintf("rate = %d\nburst = 1\nper_phone_interval = \"2m\"", rate))
		prefixes := []string{"065", "067", "071", "068", "069", "078", "061", "062"}
		sheet := writeSheet(b, n, "reference,first_name,last_name,phone,amount,currency", func(i int) string {
			return fmt.Sprintf("T%05d,Neema,Mushi%d,%s%07d,%d,TZS", i, i, prefixes[i%len(prefixes)], 1000000+i, 5000+i)
		})
		dir := b.TempDir()
		b.StartTimer()
		start := time.Now()
		_, errOut, code := runB(b, "run", "--config", cfg, "--ledger", filepath.Join(dir, "l.db"), "--report-dir", dir, "--wait", "5m", sheet)
		took := time.Since(start)
		b.StopTimer()
		if testing.Verbose() {
			b.Log(errOut)
		}
		if code != exitOK {
			b.Fatalf("exit %d: %s", code, errOut)
		}
		st := sb.Stats()
		if testing.Verbose() {
			delivered, failed := sb.CallbackCounts()
			b.Logf("sandbox requests %v; callbacks delivered %d, failed %d", st.Requests, delivered, failed)
		}
		if st.Paid != n {
			b.Fatalf("sandbox paid %d of %d", st.Paid, n)
		}
		b.ReportMetric(st.KiotaPay.Rate/rate, "rate_fraction")
		b.ReportMetric(took.Seconds()/(float64(n)/rate), "wall_multiple")
		b.ReportMetric(took.Seconds(), "s/run")
		b.ReportMetric(float64(len(sb.Violations())), "violations")
	}
}

// runB is run for benchmarks.
func runB(b *testing.B, args ...string) (string, string, int) {
	b.Helper()
	var out, errOut syncWriter
	code := execute(context.Background(), args, nil, &out, &errOut)
	return out.String(), errOut.String(), code
}
