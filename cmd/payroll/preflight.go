package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"payroll/batch"
	"payroll/providers"
	"payroll/reports"
)

// preflight checks, before the sheet touches the ledger, everything a
// run needs (docs/design.md §3): the providers' credentials and the callback
// URL (not with --sandbox), that the report directory is writable, and
// that no report would overwrite an input file (the sheet, the config,
// the ledger); checkListener follows once the ledger is locked. A failure
// leaves no batch behind.
func preflight(ctx context.Context, g *globalOptions, cfg *batch.Config, sandbox bool, used map[batch.ProviderName]bool, batchID string, inputs []string) error {
	if !sandbox && len(used) > 0 {
		if _, err := providerSecrets(g.set.cb, used); err != nil {
			return err
		}
	}
	return checkReportDir(g.reports(), batchID, inputs)
}

// checkListener is the last pre-flight check, made once the ledger's lock
// is held (so that an overlapping run says "ledger busy", not that the
// port is taken): the callback listener can bind.
func checkListener(ctx context.Context, cb providers.CallbackSettings, sandbox bool, used map[batch.ProviderName]bool) error {
	if sandbox || len(used) == 0 {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cb.Callbacks.Listen)
	if err != nil {
		return fmt.Errorf("pre-flight: callbacks: cannot listen on %s (callbacks.listen): %w; nothing was imported or sent", cb.Callbacks.Listen, err)
	}
	return ln.Close()
}

// providerSecrets reads the credentials of the providers in use and
// checks that callbacks.public_url is set.
func providerSecrets(cb providers.CallbackSettings, used map[batch.ProviderName]bool) (providers.Credentials, error) {
	c, err := providers.LoadCredentials()
	if err != nil {
		return c, withCode(exitUsage, err)
	}
	if m := c.Missing(used); len(m) > 0 {
		return c, usageErrorf("missing credentials in the environment: %s (or NAME_FILE naming a 0600 file; --sandbox needs none)", strings.Join(m, ", "))
	}
	if cb.Callbacks.PublicURL == "" {
		return c, usageErrorf("callbacks.public_url is required: both providers POST results to it (see README)")
	}
	return c, nil
}

// errReportPath means a report would overwrite an input file.
var errReportPath = errors.New("a report would overwrite an input file")

// checkReportDir makes sure the reports can be written: the directory
// exists or can be made, a file can be created in it, and none of the
// batch's report paths is one of the inputs.
func checkReportDir(dir, batchID string, inputs []string) error {
	for _, p := range reports.Paths(dir, batchID, reports.Formats) {
		for _, in := range inputs {
			if in != "" && samePath(p, in) {
				return usageErrorf("pre-flight: report %s would overwrite %s: %w; pass --report-dir or --batch", p, in, errReportPath)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pre-flight: report directory: %w; nothing was imported or sent", err)
	}
	f, err := os.CreateTemp(dir, ".payroll-preflight-*")
	if err != nil {
		return fmt.Errorf("pre-flight: report directory %s is not writable: %w; nothing was imported or sent", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// samePath reports whether two paths name the same file: the same clean
// absolute path, or (when both exist) the same file through a link.
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == bb {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
