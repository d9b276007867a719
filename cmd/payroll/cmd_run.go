package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"payroll/batch"
	"payroll/ledger"
	"payroll/reports"
)

type runOptions struct {
	sheet           string
	headerRow       int
	batchID         string
	sandbox         bool
	wait            time.Duration
	skipInvalid     bool
	allowDuplicates bool
	yes             bool
}

func newRunCommand(g *globalOptions) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run SHEET",
		Short: "Import a sheet, pay every line once, wait until settled, write reports",
		Long: `run validates the sheet, imports it into the ledger as a batch (the file name
without extension, or --batch), stops if a line looks like a payment already
made in another batch (--allow-duplicates to go on), sends every pending line
through its provider (the intent is committed to the ledger before any request
leaves), waits for callbacks and polls until every line is paid or failed or
--wait runs out, and writes the reconciliation report.

Running it again is the way to resume: lines already sent are never sent again.
With --sandbox the provider emulators run in-process (no credentials needed, no
money moves) and a separate ledger (payroll-sandbox.db) and report directory
(reports/sandbox) are used unless --ledger or --report-dir say otherwise.

Exit: 0 every line paid · 3 invalid sheet or possible duplicates, nothing sent ·
4 settled with failed, unknown, conflict or skipped lines · 5 still pending when
--wait ran out · 11 ledger busy · 130 interrupted, or not confirmed (safe; run
again to resume).

On a terminal it shows what it is about to pay (lines and totals per provider
and currency) and asks first; --yes skips the question, and without a terminal
(cron, a pipe) nothing asks. --sandbox never asks: no money moves.`,
		Example: `  payroll run --sandbox samples/payroll-2026-11.xlsx
  payroll run --wait 30m november.csv
  payroll run --batch nov-2026-suppliers --skip-invalid suppliers.xlsx`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), o, g, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.sheet, "sheet", "", "XLSX worksheet to read (default the first)")
	f.IntVar(&o.headerRow, "header-row", 0, "the header's row number (default: the first of the top 10 rows that maps; title rows above it are skipped)")
	f.StringVar(&o.batchID, "batch", "", "batch ID (default the sheet's file name without extension)")
	f.BoolVar(&o.sandbox, "sandbox", false, "pay through in-process provider emulators (no credentials, no money moves)")
	f.DurationVar(&o.wait, "wait", 15*time.Minute, "how long to wait for results before writing the report (0: do not wait)")
	f.BoolVar(&o.skipInvalid, "skip-invalid", false, "pay the valid rows even if some are invalid (they are reported as invalid)")
	f.BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation on a terminal (without a terminal nothing asks)")
	f.BoolVar(&o.allowDuplicates, "allow-duplicates", false, "pay lines that look like payments already made (in another batch, or in this one under another reference)")
	return cmd
}

// sandboxPaths keeps sandbox runs away from the real ledger and reports.
func (g *globalOptions) sandboxPaths() {
	if g.ledgerPath == "" {
		g.ledgerPath = "payroll-sandbox.db"
	}
	if g.reportDir == "" {
		g.reportDir = filepath.Join("reports", "sandbox")
	}
}

func runRun(ctx context.Context, o runOptions, g *globalOptions, path string) error {
	if o.batchID != "" {
		if err := batch.CheckBatchID(o.batchID); err != nil {
			return withCode(exitUsage, fmt.Errorf("--batch %w", err))
		}
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	if err := setHeaderRow(cfg, o.headerRow); err != nil {
		return err
	}
	if o.sandbox {
		g.sandboxPaths()
	}
	log := g.logger()
	// A large sheet's lines are not held: the sheet is read again as it
	// is imported (importSheet), and must then be the sheet read now.
	before, _ := batch.HashFile(path)
	v, err := batch.ValidateFileWith(ctx, path, cfg, batch.ValidateOptions{SheetName: o.sheet, MaxLines: heldLines})
	if err != nil {
		return err
	}
	if !v.OK() {
		reports.WriteErrors(g.stderr, v)
		if !o.skipInvalid || v.Valid == 0 && v.Rows == 0 {
			reports.WriteValidation(g.stderr, v)
			return errInvalidSheet
		}
		fmt.Fprintf(g.stderr, "%d invalid %s will be skipped and reported as invalid (--skip-invalid)\n\n",
			len(v.Invalid), plural(len(v.Invalid), "row", "rows"))
	}
	batchID, derived := o.batchID, o.batchID == ""
	if derived {
		if batchID = batch.BatchIDFromFile(path); batchID == "" {
			return usageErrorf("cannot make a batch ID from the file name %q; pass --batch ID", filepath.Base(path))
		}
	}
	g.setBatch(batchID)
	hash, err := batch.HashFile(path)
	if err != nil {
		return err
	}
	providers := map[batch.ProviderName]bool{}
	for _, t := range v.Totals() {
		providers[t.Provider] = true
	}
	ledgerPath := g.ledger(cfg)
	if err := preflight(ctx, g, cfg, o.sandbox, providers, batchID, []string{path, g.configPath, ledgerPath}); err != nil {
		return err
	}
	db, err := g.openLedgerAt(ledgerPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkListener(ctx, g.set.cb, o.sandbox, providers); err != nil {
		return err
	}
	spec := ledger.ImportSpec{BatchID: batchID, File: filepath.Base(path), SheetHash: hash,
		ConfigFingerprint: cfg.Fingerprint(), Derived: derived, ExtraColumns: v.ExtraColumns}
	twins := v.Lines
	var rep batch.ImportReport
	switch {
	case v.LinesDropped && before != hash:
		return fmt.Errorf("%s changed while it was read; nothing was imported or sent: run again", filepath.Base(path))
	case v.LinesDropped:
		rep, twins, err = importSheet(ctx, db, spec, path, cfg, o.sheet, v)
	default:
		rep, err = db.Import(ctx, spec, v.Lines, v.Invalid)
	}
	if errors.Is(err, ledger.ErrOtherFile) {
		return usageErrorf("%v; nothing was imported or sent (--batch %s adds this sheet to that batch)", err, batchID)
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if !g.quiet {
		reports.WriteImport(g.stdout, rep)
	}
	dups, err := db.Duplicates(ctx, batchID, cfg.Ledger.DuplicateWindow.Duration)
	if err != nil {
		return err
	}
	if len(dups) > 0 {
		reports.WriteDuplicates(g.stderr, dups)
		if !o.allowDuplicates {
			return withCode(exitInvalid, fmt.Errorf("%d %s like payments already made in the last %s; nothing was sent. If the sheet's references were re-typed, put them back; run with --allow-duplicates only if every one of these payments is intended",
				len(dups), plural(len(dups), "line looks", "lines look"), reports.Days(cfg.Ledger.DuplicateWindow.Duration)))
		}
		if err := db.AllowDuplicates(ctx, batchID, dups); err != nil {
			return err
		}
		fmt.Fprintf(g.stderr, "--allow-duplicates: %d %s paid although %s like payments already made (flagged duplicate-allowed in the report)\n",
			len(dups), plural(len(dups), "line will be", "lines will be"), plural(len(dups), "it looks", "they look"))
	}
	reports.WriteTwins(g.stderr, twins)
	if !o.yes && !o.sandbox && g.interactive() {
		toPay, err := pendingToPay(ctx, db, batchID)
		if err != nil {
			return err
		}
		if toPay.Lines() > 0 {
			toPay.Write(g.stdout)
			if !g.confirm("Pay them now?") {
				fmt.Fprintf(g.stdout, "Nothing was sent. The batch is imported; run the same command again to pay it.\n")
				return quietExit(exitInterrupted)
			}
		}
	}
	return sendAndSettle(ctx, g, cfg, db, log, batchID, o.sandbox, o.wait)
}

// heldLines is how many valid lines run keeps from validating a sheet to
// importing it; a larger sheet is read a second time as it is imported,
// a page of lines to a transaction (importSheet), so that neither holds
// every line.
var heldLines = 20000

// importSheet imports a sheet too large to hold: it is read and validated
// again, each valid line handed to the ledger as it is found, the invalid
// rows of the first reading merged in by row. The second reading must
// find the sheet the first one validated (its hash, its count of valid
// lines); otherwise the import fails, and since an import that did not
// finish leaves the batch marked as importing, nothing of it is sent
// until a run finishes it. It returns the lines that are twins (Twins),
// for the warning.
func importSheet(ctx context.Context, db *ledger.DB, spec ledger.ImportSpec, path string, cfg *batch.Config, sheetName string, v *batch.Validation) (batch.ImportReport, []batch.Line, error) {
	twinRow := map[int]bool{}
	for _, r := range v.TwinRows {
		twinRow[r] = true
	}
	var twins []batch.Line
	errStopped := errors.New("import stopped")
	rows := func(yield func(ledger.ImportRow, error) bool) {
		inv, i, valid := v.Invalid, 0, 0
		_, err := batch.ValidateFileWith(ctx, path, cfg, batch.ValidateOptions{SheetName: sheetName, OnLine: func(l *batch.Line) error {
			for ; i < len(inv) && inv[i].Row < l.Row; i++ {
				if !yield(ledger.ImportRow{Invalid: &inv[i]}, nil) {
					return errStopped
				}
			}
			valid++
			c := *l // the validator reuses its rows
			c.Extra = slices.Clone(l.Extra)
			if twinRow[c.Row] {
				twins = append(twins, c)
			}
			if !yield(ledger.ImportRow{Line: &c}, nil) {
				return errStopped
			}
			return nil
		}})
		switch {
		case errors.Is(err, errStopped):
			return
		case err != nil:
			yield(ledger.ImportRow{}, err)
			return
		}
		for ; i < len(inv); i++ {
			if !yield(ledger.ImportRow{Invalid: &inv[i]}, nil) {
				return
			}
		}
		hash, err := batch.HashFile(path)
		if err == nil && (hash != spec.SheetHash || valid != v.Valid) {
			err = fmt.Errorf("%s changed while it was read (%d valid lines, then %d); run again", filepath.Base(path), v.Valid, valid)
		}
		if err != nil {
			yield(ledger.ImportRow{}, err)
		}
	}
	rep, err := db.ImportStream(ctx, spec, rows)
	return rep, twins, err
}

// sendAndSettle sends the batch's pending lines, waits for results until
// wait runs out, writes the reports and prints the summary. run and retry
// share it.
func sendAndSettle(ctx context.Context, g *globalOptions, cfg *batch.Config, db *ledger.DB, log *slog.Logger, batchID string, useSandbox bool, wait time.Duration) error {
	if b, err := db.Batch(ctx, batchID); err != nil {
		return err
	} else if b.Importing != 0 {
		return fmt.Errorf("batch %s: %w", batchID, ledger.ErrImporting)
	}
	toPay, err := pendingToPay(ctx, db, batchID)
	if err != nil {
		return err
	}
	providers := map[batch.ProviderName]bool{}
	var feeds []batch.Feed
	for _, p := range toPay.Providers() {
		providers[p] = true
		// Each provider's lines are read from the ledger as its requests
		// go: only the chunks in flight or still filling are held.
		feeds = append(feeds, batch.Feed{Provider: p,
			Chunks: batch.ChunkFeed(db.PendingLines(ctx, batchID, p), batch.ChunkSize(p, cfg))})
	}
	unsettled, err := db.Unsettled(ctx, batchID)
	if err != nil {
		return err
	}
	for _, u := range unsettled {
		providers[u.Provider] = true
	}
	var runErr error
	if len(providers) > 0 {
		e, err := startEngine(ctx, g, cfg, db, providers, useSandbox)
		if err != nil {
			return err
		}
		defer e.close()
		progress, finish := newRunProgress(g.stderr, g.logger(), toPay.Lines(), g.quiet, g.bar)
		runErr = batch.Deliver(ctx, e.runner(progress), e.settler, batchID, feeds, toPay.Lines(),
			wait, log, finish)
		if useSandbox {
			// Let the emulator finish delivering callbacks so that the
			// receiver stops on a quiet line.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			e.sb.Flush(fctx)
			cancel()
		}
	}
	r, err := reconcile(context.WithoutCancel(ctx), g, db, batchID, reports.Formats, false)
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		// The run's own error (a full disk under the ledger, say) is the
		// one that matters; a report that could not be written after it is
		// said, not returned in its place.
		if err != nil {
			fmt.Fprintf(g.stderr, "the report was not written either: %v\n", err)
		}
		if errors.Is(runErr, syscall.ENOSPC) {
			fmt.Fprintln(g.stderr, "the disk under the ledger is full: free space, then run the same command again. Lines whose request was in flight become unknown (check them with the provider, then payroll resolve); nothing is sent twice")
		}
		return runErr
	}
	if err != nil {
		return err
	}
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) {
			fmt.Fprintln(g.stderr, "interrupted: every request sent was recorded; run the same command again to resume")
			return withCode(exitInterrupted, runErr)
		}
		return runErr
	}
	if code := exitFor[r.verdict]; code != exitOK {
		return quietExit(code)
	}
	return nil
}

// pendingToPay sums the batch's pending lines per provider and currency,
// reading them once and holding none; with no pending line (the ledger's
// per-state counts say so) it reads nothing.
func pendingToPay(ctx context.Context, db *ledger.DB, batchID string) (*reports.ToPay, error) {
	var t reports.ToPay
	counts, err := db.Counts(ctx, batchID)
	if err != nil || counts[batch.StatePending] == 0 {
		return &t, err
	}
	for l, err := range db.PendingLines(ctx, batchID, "") {
		if err != nil {
			return nil, err
		}
		t.Add(&l)
	}
	return &t, nil
}

// buildReport makes the batch's report (docs/design.md §6) from the
// ledger, streamed: the rows are read once for the sums and again for each
// file written, never all held.
func buildReport(ctx context.Context, db *ledger.DB, b ledger.Batch) (*reports.Report, error) {
	r, err := reports.BuildStream(b.ID, b.File, time.Now(), func() iter.Seq2[batch.LineView, error] { return db.Views(ctx, b.ID) })
	if r != nil {
		r.ExtraColumns = b.ExtraColumns
	}
	return r, err
}

// reconciled is what the callers of reconcile need of the report.
type reconciled struct {
	verdict   reports.Verdict
	neverSent int
	sheet     string
}

// reconcile builds the batch's report from the ledger, writes it in the
// formats asked, and prints where it went and the terminal summary. The
// summary is printed even when the files cannot be written (a full disk):
// the error is returned after it. When the ledger's content of the batch
// has not changed since the report was last written and its files are as
// they were written (reports.Stamp), nothing is rebuilt: the summary of
// that report is printed, and that it is unchanged.
func reconcile(ctx context.Context, g *globalOptions, db *ledger.DB, batchID string, formats []string, force bool) (reconciled, error) {
	b, err := db.Batch(ctx, batchID)
	if err != nil {
		return reconciled{}, err
	}
	dir := g.reports()
	if st := reports.ReadStamp(dir, batchID); !force && st.Fresh(b.Version, formats, nil) {
		switch {
		case g.quiet:
			if st.Verdict != reports.AllPaid {
				io.WriteString(g.stdout, st.Advice)
			}
		default:
			paths := make([]string, len(st.Files))
			for i, f := range st.Files {
				paths[i] = f.Path
			}
			fmt.Fprintf(g.stdout, "Report unchanged since %s (nothing changed in the ledger): %s\n",
				st.Written.Format("2006-01-02 15:04"), strings.Join(paths, ", "))
			io.WriteString(g.stdout, st.Summary)
		}
		return reconciled{st.Verdict, st.NeverSent, st.Sheet}, nil
	}
	r, err := buildReport(ctx, db, b)
	if err != nil {
		return reconciled{}, err
	}
	paths, werr := reports.WriteFiles(dir, r, formats)
	switch {
	case g.quiet:
		// Only what needs attention: nothing when every line is paid.
		if r.Verdict() != reports.AllPaid {
			reports.WriteAdvice(g.stdout, r)
		}
	default:
		if werr == nil {
			fmt.Fprintf(g.stdout, "Report: %s\n", strings.Join(paths, ", "))
		}
		reports.WriteSummary(g.stdout, r)
	}
	out := reconciled{r.Verdict(), r.NeverSent(), r.Sheet}
	if werr != nil {
		return out, werr
	}
	// The version read before building: a commit made meanwhile (a
	// callback) gives a newer version, and the next reconcile rebuilds.
	if st, err := reports.NewStamp(r, b.Version, formats, paths); err == nil {
		if err := st.Write(dir); err != nil {
			g.logger().Warn("report stamp not written; the next run rebuilds the report", "err", err)
		}
	}
	return out, nil
}
