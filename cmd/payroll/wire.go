package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"payroll/batch"
	"payroll/ledger"
	"payroll/providers"
	"payroll/providers/kiotapay"
	"payroll/providers/kopokopo"
	"payroll/providers/sandbox"
)

// openLedger opens the ledger, creating it if needed (run), mapping a held
// lock to exit 11.
// openLedger opens (creating) the ledger for writing: run.
func (g *globalOptions) openLedgerAt(path string) (*ledger.DB, error) {
	return g.openWith(path, ledger.Options{})
}

// openWith opens the ledger. A writing open also answers readers on the
// live socket until the command ends; a read-only command that finds the
// ledger busy asks the writer instead (live.go).
func (g *globalOptions) openWith(path string, o ledger.Options) (*ledger.DB, error) {
	if g.borrowed != nil {
		return g.borrowed, nil
	}
	db, err := ledger.Open(path, o)
	if errors.Is(err, ledger.ErrBusy) {
		if g.live {
			return nil, &errAskWriter{path: path, busy: err}
		}
		return nil, withCode(exitLocked, err)
	}
	if err == nil && !o.ReadOnly {
		g.stops = append(g.stops, g.serveLive(db))
	}
	return db, err
}

// openLedger loads the config and opens its existing ledger, for the
// commands that work on batches already run.
func (g *globalOptions) openLedger() (*batch.Config, *ledger.DB, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	db, err := g.openExisting(g.ledger(cfg), ledger.Options{})
	return cfg, db, err
}

// openBatch is openLedger for a command about one batch, which must exist.
func (g *globalOptions) openBatch(ctx context.Context, id string) (*batch.Config, *ledger.DB, error) {
	g.setBatch(id)
	cfg, db, err := g.openLedger()
	if err != nil {
		return nil, nil, err
	}
	if _, err := db.Batch(ctx, id); err != nil {
		db.Close()
		if errors.Is(err, ledger.ErrNotFound) {
			return nil, nil, usageErrorf("no batch %q in the ledger %s (payroll status lists them)", id, db.Path())
		}
		return nil, nil, err
	}
	return cfg, db, nil
}

// openExisting opens a ledger that must already exist (status, report,
// resolve, check): a missing file is a usage error, not a new ledger.
func (g *globalOptions) openExisting(path string, o ledger.Options) (*ledger.DB, error) {
	if g.borrowed != nil {
		return g.borrowed, nil
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := ledger.Lost(path); err != nil {
			return nil, err
		}
		return nil, usageErrorf("no ledger at %s (payroll run creates it; --ledger names another)", path)
	}
	return g.openWith(path, o)
}

// engine holds what run, settle and retry need once the ledger is open.
type engine struct {
	cfg     *batch.Config
	db      *ledger.DB
	log     *slog.Logger
	secrets providers.Credentials
	k2      *kopokopo.Client
	kp      *kiotapay.Client
	sb      *sandbox.Sandbox
	cb      *callbackServer
	// status paces KiotaPay status queries (callback confirmations and
	// polls together) at twice the send rate: reads need headroom over the
	// sends they confirm, or confirmations fall ever further behind.
	status  *rate.Limiter
	settler *batch.Settler
	// kpPacer is the one pacer of KiotaPay sends: the runner waits on it,
	// the client takes a token from it for a resend after a 401.
	kpPacer *batch.Pacer
}

// startEngine builds the clients for the providers in use and starts the
// callback receiver. With useSandbox the emulators run in-process with
// generated credentials, and the config's URLs are replaced by theirs.
func startEngine(ctx context.Context, g *globalOptions, cfg *batch.Config, db *ledger.DB, used map[batch.ProviderName]bool, useSandbox bool) (*engine, error) {
	e := &engine{cfg: cfg, db: db, log: g.logger()}
	k2Base, kpBase := g.set.k2.KopoKopo.BaseURL, g.set.kp.KiotaPay.BaseURL
	kpEnv := g.set.kp.KiotaPay.Environment
	listen, public := g.set.cb.Callbacks.Listen, g.set.cb.Callbacks.PublicURL
	if useSandbox {
		opts := sandbox.Options{Seed: uint64(time.Now().UnixNano()), ProcessingDelay: 300 * time.Millisecond}
		e.sb = sandbox.New(opts)
		base, err := e.sb.Start()
		if err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		c := e.sb.Credentials()
		e.secrets = providers.Credentials{KopoKopoClientID: c.KopoKopoClientID, KopoKopoClientSecret: c.KopoKopoClientSecret,
			KopoKopoAPIKey: c.KopoKopoAPIKey, KiotaPayAPIKey: c.KiotaPayAPIKey, KiotaPayAPISecret: c.KiotaPayAPISecret}
		k2Base, kpBase, kpEnv = base, base, "sandbox"
		listen, public = "127.0.0.1:0", ""
		e.log.Info("sandbox started: no real provider is called", "url", base)
	} else {
		s, err := providerSecrets(g.set.cb, used)
		if err != nil {
			return nil, err
		}
		e.secrets = s
	}
	e.status = rate.NewLimiter(rate.Limit(2*cfg.KiotaPay.Rate), max(2*cfg.KiotaPay.Burst, 2))
	e.settler = &batch.Settler{
		Ledger:   db,
		Pollers:  map[batch.ProviderName]batch.Poller{},
		Interval: cfg.Settle.PollInterval.Duration,
		Limiters: map[batch.ProviderName]*rate.Limiter{batch.KiotaPay: e.status},
		// Enough queries in flight that provider latency does not stretch
		// a sweep: a KiotaPay poll is two round trips.
		Concurrency: 32,
		Logger:      e.log,
	}
	if useSandbox {
		e.settler.Interval = time.Second
		e.settler.MaxInterval = 5 * time.Second
	}
	cb, err := listenCallbacks(ctx, listen, public, e.secrets.KiotaPayAPISecret)
	if err != nil {
		e.close()
		return nil, err
	}
	e.cb = cb
	if used[batch.KopoKopo] {
		e.k2, err = kopokopo.New(kopokopo.Config{
			BaseURL: k2Base, ClientID: e.secrets.KopoKopoClientID, ClientSecret: e.secrets.KopoKopoClientSecret,
			APIKey: e.secrets.KopoKopoAPIKey, SourceIdentifier: g.set.k2.KopoKopo.SourceIdentifier,
			CallbackURL: cb.kopokopoURL(), UserAgent: "payroll/" + version, Logger: e.log,
		})
		if err != nil {
			e.close()
			return nil, err
		}
		e.settler.Pollers[batch.KopoKopo] = e.k2
	}
	if used[batch.KiotaPay] {
		kp := cfg.KiotaPay
		// Enough requests in flight that provider latency does not waste
		// the rate budget: rate × a generous latency allowance.
		e.kpPacer = batch.NewPacer(batch.Pacing{Rate: rate.Limit(kp.Rate), Burst: kp.Burst,
			PerPhoneInterval: kp.PerPhoneInterval.Duration, InFlight: max(4, int(kp.Rate*2)+kp.Burst)})
		e.kp, err = kiotapay.New(kiotapay.Config{
			BaseURL: kpBase, Environment: kpEnv, APIKey: e.secrets.KiotaPayAPIKey, APISecret: e.secrets.KiotaPayAPISecret,
			CallbackURL: cb.kiotapayURL(), Pacer: e.kpPacer, Logger: e.log,
		})
		if err != nil {
			e.close()
			return nil, err
		}
		e.settler.Pollers[batch.KiotaPay] = e.kp
	}
	// Serve only now: handlers read the clients and the settler.
	cb.serve(e)
	return e, nil
}

// runner returns the dispatcher for this engine.
func (e *engine) runner(progress batch.Progress) *batch.Runner {
	r := &batch.Runner{
		Ledger:   e.db,
		Senders:  map[batch.ProviderName]batch.Sender{},
		Pacing:   map[batch.ProviderName]batch.Pacing{},
		Logger:   e.log,
		Progress: progress,
	}
	if e.k2 != nil {
		r.Senders[batch.KopoKopo] = e.k2
		r.Pacing[batch.KopoKopo] = batch.Pacing{InFlight: 4}
	}
	if e.kp != nil {
		r.Senders[batch.KiotaPay] = e.kp
		r.Pacers = map[batch.ProviderName]*batch.Pacer{batch.KiotaPay: e.kpPacer}
	}
	return r
}

func (e *engine) close() {
	if e.cb != nil {
		e.cb.close()
	}
	if e.sb != nil {
		e.sb.Close()
	}
}

// setHeaderRow applies --header-row (0: the config's sheet.header_row).
func setHeaderRow(cfg *batch.Config, row int) error {
	switch {
	case row == 0:
		return nil
	case row < 0 || row > batch.HeaderScanRows:
		return usageErrorf("--header-row %d: want 1 to %d", row, batch.HeaderScanRows)
	}
	cfg.Sheet.HeaderRow = row
	return nil
}

// accounts names what each provider pays from, as the config says, for
// the plan's funding table.
func (g *globalOptions) accounts() map[batch.ProviderName]string {
	k2 := "the available balance"
	if id := g.set.k2.KopoKopo.SourceIdentifier; id != "" {
		k2 = "till " + id
	}
	return map[batch.ProviderName]string{
		batch.KopoKopo: "Kopo Kopo: " + k2,
		batch.KiotaPay: "KiotaPay " + g.set.kp.KiotaPay.Environment + " account",
	}
}

// completeBatch completes a command's BATCH argument with the ledger's
// batch IDs (shell completion: `payroll completion bash`).
func (g *globalOptions) completeBatch(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	path := g.ledger(cfg)
	if _, err := os.Stat(path); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	db, err := ledger.Open(path, ledger.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer db.Close()
	bs, err := db.Batches(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, b := range bs {
		if strings.HasPrefix(b.ID, toComplete) {
			out = append(out, cobra.CompletionWithDesc(b.ID, b.File))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
