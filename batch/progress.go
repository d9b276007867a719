package batch

import (
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Counter is a Progress that counts a run's lines and logs them: every
// Every as a "progress" line while the run goes (when Every > 0), and once
// with Finish. Show, if set, is told the counts on every change (a
// terminal bar). It never prints.
type Counter struct {
	Total int
	Log   *slog.Logger
	Every time.Duration
	// Show receives the lines sent so far and a description of the
	// outcomes ("accepted 50, failed 1").
	Show func(sent int, outcomes string)

	sent, accepted, failed, unknown atomic.Int64
	start                           time.Time
	stop                            chan struct{}
	done                            sync.WaitGroup
}

// Start begins the periodic log lines.
func (c *Counter) Start() *Counter {
	c.start, c.stop = time.Now(), make(chan struct{})
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Every > 0 && c.Total > 0 {
		c.done.Go(func() {
			t := time.NewTicker(c.Every)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					c.logLine("progress")
				case <-c.stop:
					return
				}
			}
		})
	}
	return c
}

// Sent implements Progress.
func (c *Counter) Sent(n int) {
	s := c.sent.Add(int64(n))
	if c.Show != nil {
		c.Show(int(s), c.describe())
	}
}

// Outcome implements Progress.
func (c *Counter) Outcome(k OutcomeKind, n int) {
	switch k {
	case OutcomeAccepted:
		c.accepted.Add(int64(n))
	case OutcomeFailed:
		c.failed.Add(int64(n))
	case OutcomeUnknown:
		c.unknown.Add(int64(n))
	}
	if c.Show != nil {
		c.Show(int(c.sent.Load()), c.describe())
	}
}

func (c *Counter) describe() string {
	s := "accepted " + strconv.FormatInt(c.accepted.Load(), 10)
	if f := c.failed.Load(); f > 0 {
		s += ", failed " + strconv.FormatInt(f, 10)
	}
	if u := c.unknown.Load(); u > 0 {
		s += ", unknown " + strconv.FormatInt(u, 10)
	}
	return s
}

func (c *Counter) logLine(msg string) {
	el := time.Since(c.start).Seconds()
	r := 0.0
	if el > 0 {
		r = float64(c.sent.Load()) / el
	}
	c.Log.Info(msg, "sent", c.sent.Load(), "of", c.Total, "accepted", c.accepted.Load(),
		"failed", c.failed.Load(), "unknown", c.unknown.Load(), "lines_per_s", int(r*10)/10)
}

// Finish stops the log lines and logs the final counts.
func (c *Counter) Finish() {
	if c == nil || c.stop == nil {
		return
	}
	close(c.stop)
	c.done.Wait()
	if c.Total > 0 {
		c.logLine("sending finished")
	}
}
