package main

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"payroll/batch"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newRunProgress reports a run's progress on w (stderr): a bar on a
// terminal, plain log lines every few seconds otherwise; quiet disables
// both. Finish closes it.
func newRunProgress(w io.Writer, log *slog.Logger, total int, quiet bool) (*batch.Counter, func()) {
	c := &batch.Counter{Total: total, Log: log}
	switch {
	case quiet || total == 0:
		c.Log = slog.New(slog.DiscardHandler)
	case isTerminal(w):
		bar := progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("sending"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("lines"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		c.Show = func(sent int, outcomes string) {
			bar.Set(sent)
			bar.Describe(outcomes)
		}
		c.Start()
		return c, func() { bar.Finish(); c.Finish() }
	default:
		c.Every = 5 * time.Second
	}
	c.Start()
	return c, c.Finish
}
