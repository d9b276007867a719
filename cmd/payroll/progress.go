package main

import (
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"payroll/batch"
)

// runProgress shows a run's progress: a bar on a terminal, plain log lines
// every few seconds otherwise. It implements batch.Progress.
type runProgress struct {
	total                          int
	sent, accepted, failed, unsure atomic.Int64
	start                          time.Time
	bar                            *progressbar.ProgressBar
	log                            *slog.Logger
	stop                           chan struct{}
	done                           sync.WaitGroup
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newRunProgress starts reporting on w (stderr). quiet disables both the
// bar and the log lines.
func newRunProgress(w io.Writer, log *slog.Logger, total int, quiet bool) *runProgress {
	p := &runProgress{total: total, start: time.Now(), log: log, stop: make(chan struct{})}
	switch {
	case quiet || total == 0:
	case isTerminal(w):
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("sending"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("lines"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	default:
		p.done.Add(1)
		go p.logLoop(5 * time.Second)
	}
	return p
}

func (p *runProgress) logLoop(every time.Duration) {
	defer p.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.logLine("progress")
		case <-p.stop:
			return
		}
	}
}

func (p *runProgress) logLine(msg string) {
	el := time.Since(p.start).Seconds()
	r := 0.0
	if el > 0 {
		r = float64(p.sent.Load()) / el
	}
	p.log.Info(msg, "sent", p.sent.Load(), "of", p.total, "accepted", p.accepted.Load(),
		"failed", p.failed.Load(), "unknown", p.unsure.Load(), "lines_per_s", int(r*10)/10)
}

// Sent implements batch.Progress.
func (p *runProgress) Sent(n int) {
	p.sent.Add(int64(n))
	if p.bar != nil {
		p.bar.Add(n)
	}
}

// Outcome implements batch.Progress.
func (p *runProgress) Outcome(k batch.OutcomeKind, n int) {
	switch k {
	case batch.OutcomeAccepted:
		p.accepted.Add(int64(n))
	case batch.OutcomeFailed:
		p.failed.Add(int64(n))
	case batch.OutcomeUnknown:
		p.unsure.Add(int64(n))
	}
	if p.bar != nil {
		p.bar.Describe(describe(p.accepted.Load(), p.failed.Load(), p.unsure.Load()))
	}
}

func describe(acc, failed, unknown int64) string {
	s := "accepted " + itoa(acc)
	if failed > 0 {
		s += ", failed " + itoa(failed)
	}
	if unknown > 0 {
		s += ", unknown " + itoa(unknown)
	}
	return s
}

func itoa(n int64) string {
	return slog.Int64Value(n).String()
}

// finish stops the bar or the log loop and logs the final counts.
func (p *runProgress) finish() {
	close(p.stop)
	p.done.Wait()
	if p.bar != nil {
		p.bar.Finish()
	}
	if p.total > 0 {
		p.logLine("sending finished")
	}
}
