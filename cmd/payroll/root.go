package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers"
	"payroll/providers/kiotapay"
	"payroll/providers/kopokopo"
)

// version is stamped by the Makefile with -ldflags "-X main.version=…".
var version = "dev"

// globalOptions are the flags every command shares.
type globalOptions struct {
	configPath string
	ledgerPath string
	reportDir  string
	logFormat  string
	quiet      bool

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	log *slog.Logger // made once, on first use
	set settings     // the config's non-domain settings (loadConfig)

	// live is set by the read-only commands (status, report, check): a busy
	// ledger is then asked through the writer's socket (live.go).
	live bool
	// borrowed is the writer's ledger when this command runs for a reader
	// on the writer's socket: every open returns it.
	borrowed *ledger.DB
	// stops are run when the command ends (the live socket).
	stops []func()
	args  []string // the command line, for askLive

	rawStderr io.Writer // the real stderr when stderr is turned into JSON lines
	batchMu   sync.Mutex
	batchID   string    // the batch, once known: every log line carries it
	bar       *barGuard // text logs on a terminal go through it (progress.go)
}

// settings are the parts of payroll.toml that the domain does not own:
// the providers' wire settings and the callback listener.
type settings struct {
	k2 kopokopo.Settings
	kp kiotapay.Settings
	cb providers.CallbackSettings
}

func defaultSettings() settings {
	return settings{k2: kopokopo.DefaultSettings(), kp: kiotapay.DefaultSettings(), cb: providers.DefaultCallbackSettings()}
}

// loadConfig reads --config, or ./payroll.toml if it exists, or the
// defaults: the domain's config, returned, and the other settings, kept
// in g.set.
func (g *globalOptions) loadConfig() (*batch.Config, error) {
	path := g.configFile()
	g.set = defaultSettings()
	if path == "" {
		cfg := batch.DefaultConfig()
		return &cfg, nil
	}
	cfg, err := batch.LoadConfig(path, &g.set.k2, &g.set.kp, &g.set.cb)
	if err != nil {
		return nil, err
	}
	return &cfg, nil
}

// configFile is --config, or ./payroll.toml if it exists, or "".
func (g *globalOptions) configFile() string {
	if g.configPath != "" {
		return g.configPath
	}
	if _, err := os.Stat("payroll.toml"); err == nil {
		return "payroll.toml"
	}
	return ""
}

// ledger is the ledger path: --ledger, or the config's ledger.path.
func (g *globalOptions) ledger(cfg *batch.Config) string {
	if g.ledgerPath != "" {
		return g.ledgerPath
	}
	return cfg.Ledger.Path
}

// reports is the report directory: --report-dir or ./reports.
func (g *globalOptions) reports() string {
	if g.reportDir != "" {
		return g.reportDir
	}
	return "reports"
}

// logger writes to stderr as text or JSON. Phone and account numbers are
// masked by their types' LogValue methods.
func (g *globalOptions) logger() *slog.Logger {
	if g.log != nil {
		return g.log
	}
	level := slog.LevelInfo
	if g.quiet {
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level}
	w := g.stderr
	if g.rawStderr != nil {
		w = g.rawStderr
	}
	var h slog.Handler
	if g.logFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		if isTerminal(w) {
			g.bar = &barGuard{w: w}
			w = g.bar
		}
		h = slog.NewTextHandler(w, opts)
	}
	g.log = slog.New(batchHandler{h, g})
	return g.log
}

func newRootCommand(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "payroll",
		Short: "Validate, pay and reconcile payroll sheets through Kopo Kopo and KiotaPay",
		Long: `payroll reads a CSV or XLSX payroll sheet, validates every row with exact
decimal money, and plans the provider requests that would pay it.

Exit codes: 0 ok · 1 operational error · 2 usage · 3 invalid sheet, nothing sent ·
4 settled with failed, unknown, conflict or skipped lines · 5 still pending when
--wait ran out · 11 ledger locked by another process · 130 interrupted.`,
		Example: `  payroll validate samples/payroll-2026-11.csv
  payroll plan samples/payroll-2026-11.xlsx
  payroll validate --config samples/payroll.toml samples/hr-export-2026-11.csv`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Version:           version,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.logFormat != "text" && g.logFormat != "json" {
				return usageErrorf("--log-format must be text or json")
			}
			if g.logFormat == "json" && g.rawStderr == nil {
				g.rawStderr = g.stderr
				g.stderr = &jsonLines{log: g.logger}
			}
			return nil
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&g.configPath, "config", "", "config file (default ./payroll.toml if present)")
	f.StringVar(&g.ledgerPath, "ledger", "", "ledger file (default ledger.path of the config, payroll.db)")
	f.StringVar(&g.reportDir, "report-dir", "", "where reports are written (default ./reports)")
	f.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVarP(&g.quiet, "quiet", "q", false, "print only warnings, errors and results")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return withCode(exitUsage, err)
	})
	root.AddCommand(
		newValidateCommand(g),
		newPlanCommand(g),
		newRunCommand(g),
		newSettleCommand(g),
		newStatusCommand(g),
		newReportCommand(g),
		newRetryCommand(g),
		newResolveCommand(g),
		newCheckCommand(g),
		newRecoverCommand(g),
		newSandboxCommand(g),
		newVersionCommand(g),
	)
	usageEverywhere(root)
	return root
}

// execute runs the CLI and returns the exit code.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return executeWith(ctx, &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr}, args)
}

func executeWith(ctx context.Context, g *globalOptions, args []string) int {
	root := newRootCommand(g)
	root.SetArgs(args)
	root.SetIn(g.stdin)
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	g.args = args
	var err error
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	if _, _, ferr := root.Find(args); ferr != nil && !(len(args) > 0 && strings.HasPrefix(args[0], "__")) {
		err = withCode(exitUsage, ferr) // an unknown command (cobra's __complete is added later)
	} else {
		err = root.ExecuteContext(ctx)
	}
	for _, stop := range slices.Backward(g.stops) {
		stop()
	}
	var ask *errAskWriter
	if errors.As(err, &ask) {
		return askLive(ctx, ask, g.absArgs(args, ask.path), g.stdout, g.stderr)
	}
	j, isJSON := g.stderr.(*jsonLines)
	if isJSON {
		j.Flush()
	}
	if err != nil && !quiet(err) {
		if isJSON {
			g.logger().Error(err.Error(), "exit", exitCode(err)) // one record, however many lines
		} else {
			fmt.Fprintf(g.stderr, "payroll: %s\n", err)
		}
	}
	return exitCode(err)
}

// usageEverywhere makes every command's argument errors usage errors.
func usageEverywhere(c *cobra.Command) {
	c.Args = usageArgs(c.Args)
	for _, sub := range c.Commands() {
		usageEverywhere(sub)
	}
}

func newVersionCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Example: "  payroll version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(g.stdout, "payroll %s\n", version)
			return nil
		},
	}
}

// stdinIsTerminal reports whether r is a terminal (tests replace it).
var stdinIsTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// interactive reports whether someone at a terminal can answer a question.
func (g *globalOptions) interactive() bool { return stdinIsTerminal(g.stdin) }

// confirm asks a yes/no question on stdin; only "y" or "yes" is yes.
func (g *globalOptions) confirm(question string) bool {
	fmt.Fprint(g.stdout, question+" [y/N] ")
	answer, _ := bufio.NewReader(g.stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes"
}
