package batch

import (
	"context"
	"log/slog"
	"time"
)

// Deliver sends a batch's pending lines (lines of them, read from feeds as
// they go) with the runner, then waits with the settler until every
// accepted line has its result or wait runs out (0: do not wait). sent,
// if not nil, runs once the sending is over (a progress bar closes). An
// error of the sending (shutdown, the ledger) returns before any wait;
// the settler's error is returned after it.
func Deliver(ctx context.Context, r *Runner, s *Settler, batchID string, feeds []Feed, lines int, wait time.Duration, log *slog.Logger, sent func()) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if lines > 0 && len(feeds) > 0 {
		log.Info("sending", "batch", batchID, "lines", lines)
		stats, err := r.RunFeeds(ctx, batchID, feeds)
		if sent != nil {
			sent()
		}
		log.Info("sent", "batch", batchID, "accepted", stats.Accepted, "failed", stats.Failed, "unknown", stats.Unknown,
			"not_sent", stats.NotSent, "requests", stats.Requests)
		if err != nil {
			return err
		}
	} else if sent != nil {
		sent()
	}
	if wait <= 0 {
		return nil
	}
	log.Info("waiting for results", "batch", batchID, "wait", wait.String())
	start := time.Now()
	left, err := s.Settle(ctx, batchID, start.Add(wait))
	switch {
	case err != nil:
		return err
	case left > 0:
		log.Info("still waiting for results when --wait ran out", "batch", batchID, "requests", left)
	default:
		log.Info("every accepted line has its result", "batch", batchID, "after", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}
