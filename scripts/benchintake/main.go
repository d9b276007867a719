// Command benchintake generates large payroll sheets and measures how fast
// and in how much memory `payroll validate` reads them, next to a bare
// encoding/csv read of the same CSV as the yardstick. It is driven by
// scripts/bench-intake (make bench).
//
//	benchintake gen-csv ROWS FILE     write a valid ROWS-row CSV
//	benchintake gen-xlsx ROWS FILE    write a valid ROWS-row XLSX (StreamWriter)
//	benchintake csvread FILE          read every record with encoding/csv, discard it
//	benchintake all [-payroll BIN] [-dir DIR] [-csv-rows N] [-xlsx-rows N] [-n RUNS]
//	                                  generate (cached in DIR, keyed by size) and measure
//	                                  everything, then print the table and the targets
//
// Each command is a child process whose wall time is the best of RUNS and
// whose peak RSS comes from getrusage (Maxrss), so no /usr/bin/time is
// needed. The yardstick is this program's csvread, in its own process.
package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/xuri/excelize/v2"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchintake:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) >= 1 && args[0] == "all" {
		return all(args[1:])
	}
	if len(args) < 2 {
		return errors.New("usage: benchintake gen-csv|gen-xlsx ROWS FILE | csvread FILE | all [flags]")
	}
	switch args[0] {
	case "gen-csv", "gen-xlsx":
		if len(args) != 3 {
			return fmt.Errorf("%s ROWS FILE", args[0])
		}
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		if args[0] == "gen-csv" {
			return genCSV(n, args[2])
		}
		return genXLSX(n, args[2])
	case "csvread":
		return csvRead(args[1])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

var header = []string{
	"reference", "name", "type", "phone", "bank_branch_ref", "account_name", "account_number",
	"till_number", "paybill_number", "paybill_account_number", "amount", "currency", "description",
}

// Safaricom (KES, paid by Kopo Kopo) and Yas/Airtel/Halotel (TZS, paid by
// KiotaPay) prefixes after the trunk 0; each gives a million numbers.
var (
	kePrefixes = []string{"710", "711", "712", "713", "720", "721", "722", "729", "740", "741", "742", "745", "746", "748", "757", "758", "759", "768", "769", "790", "791", "792", "793", "794", "110", "111", "112", "113", "114", "115"}
	tzPrefixes = []string{"654", "655", "657", "658", "671", "672", "673", "684", "685", "689", "614", "621", "715", "716", "773", "774", "784", "785"}
	firstNames = []string{"Amina", "Brian", "Cynthia", "David", "Esther", "Felix", "Grace", "Hassan", "Irene", "Joseph", "Khadija", "Lucy", "Mwangi", "Neema", "Otieno", "Peter"}
	lastNames  = []string{"Achieng", "Baraka", "Chebet", "Juma", "Kamau", "Kariuki", "Mushi", "Mwakyusa", "Njoroge", "Odhiambo", "Wanjiku", "Swai"}
)

// row returns data row i (0-based). About 70% KES wallets, 10% TZS wallets,
// 8% bank accounts, 6% tills and 6% paybills; every reference, phone,
// account, till and paybill account is distinct; phones are written in the
// usual ways (07…, +254 7…, 2547…, 7…).
func row(i int) []string {
	r := make([]string, len(header))
	r[0] = fmt.Sprintf("EMP%07d", i)
	first, last := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]
	r[1] = first + " " + last
	r[12] = "Salary November 2026"
	units := amountUnits(i)
	switch k := i % 50; {
	case k < 35: // KES wallet: the j-th one, spread over the prefixes
		j := i/50*35 + k
		p := kePrefixes[j%len(kePrefixes)]
		sub := fmt.Sprintf("%06d", j/len(kePrefixes)*7919%1_000_000) // a bijection: 7919 is prime
		switch i % 4 {
		case 0:
			r[3] = "0" + p + sub
		case 1:
			r[3] = "+254 " + p + " " + sub[:3] + " " + sub[3:]
		case 2:
			r[3] = "254" + p + sub
		default:
			r[3] = p + sub
		}
		if i%3 == 0 {
			r[2] = "mobile_wallet"
		}
		r[11] = "KES"
	case k < 40: // TZS wallet
		j := i/50*5 + k - 35
		p := tzPrefixes[j%len(tzPrefixes)]
		r[3] = "0" + p + fmt.Sprintf("%06d", j/len(tzPrefixes)*7919%1_000_000)
		r[11] = "TZS"
	case k < 44: // bank account
		r[2] = "bank_account"
		r[4] = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", 0x3f1c0000+k, i%65536, i%4096, (i/7)%4096, i)
		r[5] = r[1]
		r[6] = fmt.Sprintf("01%010d", i)
		r[11] = "KES"
	case k < 47: // till
		r[2] = "till"
		r[7] = strconv.Itoa(100000 + i)
		r[11] = "KES"
	default: // paybill
		r[2] = "paybill"
		r[8] = strconv.Itoa(888000 + k)
		r[9] = fmt.Sprintf("ACC-%d", i)
		r[11] = "KES"
	}
	if i%5 == 0 {
		r[10] = grouped(units) + ".00"
	} else {
		r[10] = strconv.Itoa(units)
	}
	return r
}

// amountUnits is row i's amount: KES 1,000 to 200,000, TZS 20 times that.
func amountUnits(i int) int {
	u := 1000 + (i*7919)%199000
	if k := i % 50; k >= 35 && k < 40 {
		u *= 20
	}
	return u
}

func genCSV(n int, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(bufio.NewWriterSize(f, 1<<20))
	w.Write(header)
	for i := range n {
		w.Write(row(i))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func genXLSX(n int, path string) error {
	wb := excelize.NewFile()
	defer wb.Close()
	sw, err := wb.NewStreamWriter("Sheet1")
	if err != nil {
		return err
	}
	vals := make([]any, len(header))
	for i, h := range header {
		vals[i] = h
	}
	if err := sw.SetRow("A1", vals); err != nil {
		return err
	}
	for i := range n {
		r := row(i)
		for j, c := range r {
			vals[j] = c
			if c == "" {
				vals[j] = nil // no cell, as Excel writes an empty one
			}
		}
		// Amounts are numbers in a workbook, as payroll systems export them.
		vals[10] = amountUnits(i)
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, vals); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return wb.SaveAs(path)
}

// grouped writes n with thousands separators: 1234567 is "1,234,567".
func grouped(n int) string {
	s := strconv.Itoa(n)
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// csvRead is the yardstick: encoding/csv with its defaults, every record
// read and discarded.
func csvRead(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 64<<10))
	n := 0
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		n++
	}
	fmt.Fprintf(os.Stderr, "%d records\n", n)
	return nil
}

// result is one measured command.
type result struct {
	name      string
	rows      int
	wall, cpu time.Duration // best wall time of the runs, and its CPU time
	rssKiB    int64         // largest peak RSS of the runs
}

// measure runs each command n times, in turns (the first, the second,
// …, then the first again), so that each sees the machine as the others
// do, and keeps each one's best wall time and largest peak resident set
// size. Only the yardstick and what is compared with it must be measured
// together; the ratio of two best times from different minutes of a
// shared machine swung by a third.
func measure(n int, cmds ...command) ([]result, error) {
	rs := make([]result, len(cmds))
	for i, c := range cmds {
		rs[i] = result{name: c.name, rows: c.rows}
	}
	for range n {
		for i, c := range cmds {
			if err := rs[i].run(c.argv); err != nil {
				return nil, err
			}
		}
	}
	return rs, nil
}

// command is a measured command line.
type command struct {
	name string
	rows int
	argv []string
}

// run runs argv once and keeps its figures if they are the best so far.
func (r *result) run(argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = io.Discard
	var stderr limited
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return fmt.Errorf("%s: %v: %s", r.name, err, stderr.b)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if r.wall == 0 || wall < r.wall {
		r.wall = wall
		r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	r.rssKiB = max(r.rssKiB, ru.Maxrss) // Linux reports KiB
	return nil
}

func (r result) print() {
	fmt.Printf("%-24s %9d %8.2f %8.2f %11.0f %10.1f\n", r.name, r.rows, r.wall.Seconds(), r.cpu.Seconds(),
		float64(r.rows)/r.wall.Seconds(), float64(r.rssKiB)/1024)
}

func all(args []string) error {
	fs := flag.NewFlagSet("all", flag.ContinueOnError)
	payroll := fs.String("payroll", "bin/payroll", "the payroll binary")
	dir := fs.String("dir", filepath.Join(os.TempDir(), "payroll-bench-intake"), "cache for the generated sheets")
	csvRows := fs.Int("csv-rows", 1_000_000, "rows of the CSV")
	xlsxRows := fs.Int("xlsx-rows", 100_000, "rows of the XLSX")
	runs := fs.Int("n", 3, "runs of each command; the best wall time is kept")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	csvPath := filepath.Join(*dir, fmt.Sprintf("payroll-%d.csv", *csvRows))
	xlsxPath := filepath.Join(*dir, fmt.Sprintf("payroll-%d.xlsx", *xlsxRows))
	// The sheets are generated by child processes: a child's peak RSS
	// starts from this process's RSS at the fork (Linux records the old
	// memory's high-water mark at exec), so this process must stay small.
	for _, g := range []struct {
		path, verb string
		rows       int
	}{{csvPath, "gen-csv", *csvRows}, {xlsxPath, "gen-xlsx", *xlsxRows}} {
		if _, err := os.Stat(g.path); err == nil {
			continue
		}
		fmt.Fprintf(os.Stderr, "generating %s\n", g.path)
		tmp := g.path + ".tmp" + filepath.Ext(g.path)
		cmd := exec.Command(self, g.verb, strconv.Itoa(g.rows), tmp)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", g.verb, err)
		}
		if err := os.Rename(tmp, g.path); err != nil {
			return err
		}
	}
	rs, err := measure(*runs,
		command{"encoding/csv (bare)", *csvRows, []string{self, "csvread", csvPath}},
		command{"payroll validate CSV", *csvRows, []string{*payroll, "validate", csvPath}})
	if err != nil {
		return err
	}
	bare, vcsv := rs[0], rs[1]
	rs, err = measure(*runs, command{"payroll validate XLSX", *xlsxRows, []string{*payroll, "validate", xlsxPath}})
	if err != nil {
		return err
	}
	vxlsx := rs[0]
	fi, _ := os.Stat(csvPath)
	xi, _ := os.Stat(xlsxPath)
	fmt.Printf("CSV %s (%d MB), XLSX %s (%d MB); best of %d runs (the CSV's two in turns), %d CPUs\n\n", csvPath, fi.Size()>>20, xlsxPath, xi.Size()>>20, *runs, runtime.NumCPU())
	fmt.Printf("%-24s %9s %8s %8s %11s %10s\n", "", "rows", "wall s", "cpu s", "rows/s", "peak MiB")
	for _, r := range []result{bare, vcsv, vxlsx} {
		r.print()
	}
	ratio := vcsv.wall.Seconds() / bare.wall.Seconds()
	fmt.Println()
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	fmt.Printf("CSV validate / bare read: %.2fx (target <= 3x) %s\n", ratio, verdict(ratio <= 3))
	for _, r := range []result{vcsv, vxlsx} {
		// Issue 14 asks 64 MiB of the million-row CSV; the XLSX keeps
		// issue 2's 100 MiB.
		limit := 100.0
		if r.name == vcsv.name && vcsv.rows >= 1000000 {
			limit = 64
		}
		mib := float64(r.rssKiB) / 1024
		fmt.Printf("%s peak RSS: %.1f MiB = %.2fx of the %g MiB target %s\n", r.name, mib, mib/limit, limit, verdict(mib <= limit))
	}
	return nil
}

// limited keeps the first 4 KiB written to it.
type limited struct{ b []byte }

func (l *limited) Write(p []byte) (int, error) {
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
