package batch

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// OutcomeKind is what happened to a claimed attempt.
type OutcomeKind int

// Outcome kinds.
const (
	// OutcomeAccepted: the provider took the request; Reference is set.
	OutcomeAccepted OutcomeKind = iota + 1
	// OutcomeNotSent: nothing ran (transient errors exhausted, a chunk
	// rejected as a whole before bisection, or shutdown before sending);
	// the lines go back to pending for a later run.
	OutcomeNotSent
	// OutcomeFailed: the provider refused this line conclusively; Reason
	// says why. Only payroll retry sends it again.
	OutcomeFailed
	// OutcomeUnknown: the provider may have acted. Never resent
	// automatically.
	OutcomeUnknown
)

func (k OutcomeKind) String() string {
	switch k {
	case OutcomeAccepted:
		return "accepted"
	case OutcomeNotSent:
		return "not-sent"
	case OutcomeFailed:
		return "failed"
	case OutcomeUnknown:
		return "unknown"
	}
	return fmt.Sprintf("OutcomeKind(%d)", int(k))
}

// Outcome is the recorded result of one attempt on some lines.
type Outcome struct {
	BatchID   string
	Attempt   string   // the attempt ID returned by Claim
	Refs      []string // line references
	Kind      OutcomeKind
	Provider  ProviderName
	Reference string // provider reference, when accepted
	Reason    string // why, when not accepted
}

// Ledger is what the runner needs of the ledger: claim lines (commit the
// intent, durably, before any byte is sent) and record outcomes.
type Ledger interface {
	// Claim marks the pending lines among refs as sending under a new
	// attempt and commits. It returns the attempt ID and the lines it
	// claimed (lines no longer pending are left out).
	Claim(ctx context.Context, batchID string, refs []string) (attempt string, claimed []Line, err error)
	// RecordOutcomes records outcomes in one commit.
	RecordOutcomes(ctx context.Context, outcomes []Outcome) error
}

// Progress receives counts as a run goes. Implementations must be safe for
// concurrent use.
type Progress interface {
	Sent(lines int)
	Outcome(kind OutcomeKind, lines int)
}

type noProgress struct{}

func (noProgress) Sent(int)                 {}
func (noProgress) Outcome(OutcomeKind, int) {}

// Pacing paces one provider's requests. A zero Rate means unlimited.
type Pacing struct {
	Rate             rate.Limit    // requests per second
	Burst            int           // at least 1 when Rate > 0
	PerPhoneInterval time.Duration // minimum spacing of two payouts to one phone
	InFlight         int           // concurrent requests (default 4)
}

// Runner sends chunks: for each, wait for the provider's rate budget, claim
// the lines in the ledger (intent committed), send, record the outcome.
type Runner struct {
	Ledger  Ledger
	Senders map[ProviderName]Sender
	Pacing  map[ProviderName]Pacing
	// Pacers, when set for a provider, pace its sends instead of a pacer
	// made from Pacing: share one with the provider's client (Pacer.Again
	// paces the resend after a 401), so that one pacer owns the budget.
	Pacers map[ProviderName]*Pacer
	// TransientRetries is how often a transient error is retried in place
	// before the lines are left pending (default 5).
	TransientRetries int
	// Backoff returns the wait before retry n (1-based); default
	// exponential from 500 ms with jitter, capped at 30 s.
	Backoff  func(n int) time.Duration
	Logger   *slog.Logger
	Progress Progress
	// SendTimeout bounds one request after shutdown began (in-flight
	// requests are allowed to finish). Default 2 minutes.
	SendTimeout time.Duration
}

// RunStats counts lines by outcome.
type RunStats struct {
	Accepted, NotSent, Failed, Unknown, Skipped int
	Requests                                    int
}

func (s *RunStats) merge(o RunStats) {
	s.Accepted += o.Accepted
	s.NotSent += o.NotSent
	s.Failed += o.Failed
	s.Unknown += o.Unknown
	s.Skipped += o.Skipped
	s.Requests += o.Requests
}

func (s *RunStats) add(k OutcomeKind, n int) {
	switch k {
	case OutcomeAccepted:
		s.Accepted += n
	case OutcomeNotSent:
		s.NotSent += n
	case OutcomeFailed:
		s.Failed += n
	case OutcomeUnknown:
		s.Unknown += n
	}
}

// Feed is one provider's chunks, as a run reads them (ChunkFeed).
type Feed struct {
	Provider ProviderName
	Chunks   iter.Seq2[Chunk, error]
}

// RunFeeds sends the chunks of a batch, each provider's feed read as it
// goes by its own workers, so that a slow provider never holds up a fast
// one and no more chunks are held than are in flight. When ctx is
// cancelled (SIGINT), no new chunk is claimed; requests already in flight
// finish and are recorded, and RunFeeds returns ctx's error. Chunks whose
// lines are no longer pending are skipped, so a re-run resumes. An error
// reading a feed stops every feed, after what is in flight is recorded.
func (r *Runner) RunFeeds(ctx context.Context, batchID string, feeds []Feed) (RunStats, error) {
	r.defaults()
	var (
		mu    sync.Mutex
		stats RunStats
	)
	for _, f := range feeds {
		if r.Senders[f.Provider] == nil {
			return stats, fmt.Errorf("runner: no sender for provider %s", f.Provider)
		}
	}
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	for _, f := range feeds {
		pl := r.Pacers[f.Provider]
		if pl == nil {
			pl = NewPacer(r.Pacing[f.Provider])
		}
		work := make(chan Chunk)
		inFlight := max(pl.inFlight, 1)
		for range inFlight {
			g.Go(func() error {
				for c := range work {
					st, err := r.chunk(ctx, batchID, c, pl)
					mu.Lock()
					stats.merge(st)
					mu.Unlock()
					if err != nil {
						return err
					}
				}
				return nil
			})
		}
		g.Go(func() error {
			defer close(work)
			for c, err := range f.Chunks {
				if err != nil {
					if ctx.Err() != nil {
						return nil // shutting down: the lines stay pending
					}
					return fmt.Errorf("read the %s lines to send: %w", f.Provider, err)
				}
				if c.Provider != f.Provider {
					return fmt.Errorf("runner: a %s chunk in the %s feed", c.Provider, f.Provider)
				}
				select {
				case work <- c:
				case <-ctx.Done():
					return nil
				case <-gctx.Done():
					return nil
				}
			}
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return stats, err
}

func (r *Runner) defaults() {
	if r.TransientRetries <= 0 {
		r.TransientRetries = 5
	}
	if r.Backoff == nil {
		r.Backoff = func(n int) time.Duration {
			d := 500 * time.Millisecond << min(n-1, 6)
			d = min(d, 30*time.Second)
			return d/2 + rand.N(d/2+1)
		}
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.Progress == nil {
		r.Progress = noProgress{}
	}
	if r.SendTimeout <= 0 {
		r.SendTimeout = 2 * time.Minute
	}
}

// chunk claims, sends and records one chunk, bisecting it if the provider
// rejects it as a whole.
func (r *Runner) chunk(ctx context.Context, batchID string, c Chunk, pl *Pacer) (RunStats, error) {
	var st RunStats
	if len(c.Lines) == 0 {
		return st, nil // never send an empty destination list
	}
	// Wait for the rate budget before the intent is committed, so that a
	// crash while waiting leaves the lines pending, not unknown.
	if err := pl.Wait(ctx, c); err != nil {
		return st, nil // shutting down: the lines stay pending
	}
	paced := c
	attempt, claimed, err := r.Ledger.Claim(context.WithoutCancel(ctx), batchID, refsOf(c.Lines))
	if err != nil {
		pl.Done(paced, false)
		return st, fmt.Errorf("claim: %w", err)
	}
	st.Skipped += len(c.Lines) - len(claimed)
	if len(claimed) == 0 {
		pl.Done(paced, false)
		return st, nil
	}
	c.Lines = claimed
	r.Progress.Sent(len(claimed))
	st.Requests++
	acc, err := r.send(ctx, c)
	Failpoint("after-send-before-record")
	pl.Done(paced, true)
	out := Outcome{BatchID: batchID, Attempt: attempt, Refs: refsOf(claimed), Provider: c.Provider}
	switch {
	case err == nil:
		out.Kind, out.Reference = OutcomeAccepted, acc.Reference
	case errors.Is(err, ErrRejected) && len(claimed) > 1:
		// Nothing ran: put the lines back and send each half on its own
		// claim, so the good lines still go and the bad one is named.
		out.Kind, out.Reason = OutcomeNotSent, "chunk rejected; split: "+err.Error()
	case errors.Is(err, ErrRejected):
		out.Kind, out.Reason = OutcomeFailed, err.Error()
	case errors.Is(err, ErrTransient), errors.Is(err, errNotSent):
		out.Kind, out.Reason = OutcomeNotSent, err.Error()
	default:
		out.Kind, out.Reason = OutcomeUnknown, err.Error()
	}
	if rerr := r.Ledger.RecordOutcomes(context.WithoutCancel(ctx), []Outcome{out}); rerr != nil {
		return st, fmt.Errorf("record outcome of attempt %s: %w", attempt, rerr)
	}
	r.Progress.Outcome(out.Kind, len(claimed))
	if out.Kind != OutcomeAccepted {
		r.Logger.Warn("request not accepted", "provider", c.Provider, "lines", len(claimed), "outcome", out.Kind.String(), "reason", out.Reason)
	}
	if out.Kind == OutcomeNotSent && errors.Is(err, ErrRejected) {
		mid := len(claimed) / 2
		for _, half := range [][]Line{claimed[:mid], claimed[mid:]} {
			if ctx.Err() != nil {
				st.add(OutcomeNotSent, len(half))
				continue
			}
			hs, herr := r.chunk(ctx, batchID, Chunk{Provider: c.Provider, Currency: c.Currency, Lines: half}, pl)
			st.merge(hs)
			if herr != nil {
				return st, herr
			}
		}
		return st, nil
	}
	st.add(out.Kind, len(claimed))
	return st, nil
}

var errNotSent = errors.New("not sent: shutting down")

// send makes the request, retrying in place only what is proven not to
// have run (ErrTransient), honouring Retry-After. After shutdown begins,
// the request in flight is allowed to finish (bounded by SendTimeout), but
// no retry starts.
func (r *Runner) send(ctx context.Context, c Chunk) (Accepted, error) {
	sender := r.Senders[c.Provider]
	for n := 1; ; n++ {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.SendTimeout)
		acc, err := sender.Send(sctx, c)
		cancel()
		if err == nil || !errors.Is(err, ErrTransient) || n > r.TransientRetries {
			return acc, err
		}
		wait := r.Backoff(n)
		if ra, ok := RetryAfter(err); ok {
			wait = max(wait, ra)
		}
		r.Logger.Info("provider busy; retrying", "provider", c.Provider, "retry", n, "wait", wait.Round(time.Millisecond).String(), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Accepted{}, fmt.Errorf("%w (%v)", errNotSent, err)
		}
	}
}

func refsOf(lines []Line) []string {
	refs := make([]string, len(lines))
	for i := range lines {
		refs[i] = lines[i].Reference
	}
	return refs
}
