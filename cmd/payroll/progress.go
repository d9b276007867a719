package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
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
func newRunProgress(w io.Writer, log *slog.Logger, total int, quiet bool, guard *barGuard) (*batch.Counter, func()) {
	c := &batch.Counter{Total: total, Log: log}
	switch {
	case quiet || total == 0:
		c.Log = slog.New(slog.DiscardHandler)
	case isTerminal(w):
		bar := progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("sending"),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		start := time.Now()
		c.Show = func(sent int, outcomes string) {
			bar.Set(sent)
			// The rate over the whole run so far: a bar's own rate jumps
			// when a 50-line request is answered at once.
			if d := time.Since(start); d >= time.Second {
				outcomes += fmt.Sprintf(" · %.0f lines/s", float64(sent)/d.Seconds())
			}
			bar.Describe(outcomes)
		}
		if guard != nil {
			guard.active.Store(true)
		}
		c.Start()
		return c, func() {
			bar.Finish()
			if guard != nil {
				guard.active.Store(false)
			}
			c.Finish()
		}
	default:
		c.Every = 5 * time.Second
	}
	c.Start()
	return c, c.Finish
}

// barGuard sits between the text logger and a terminal: while a progress
// bar is drawn, each log line first clears the bar's line, so that logs do
// not break into it (the bar redraws itself below).
type barGuard struct {
	w      io.Writer
	active atomic.Bool
}

func (b *barGuard) Write(p []byte) (int, error) {
	if b.active.Load() {
		if _, err := io.WriteString(b.w, "\r\x1b[K"); err != nil {
			return 0, err
		}
	}
	return b.w.Write(p)
}
