package batch

import (
	"context"
	"errors"
	"time"
)

// Outcome classes of a provider call (docs/design.md §3, invariant 3). Provider
// clients wrap every failure in exactly one of these; the runner decides
// with errors.Is and never looks at HTTP.
var (
	// ErrTransient: nothing ran and the same request may be sent again
	// (refused connection, 429, 503, 401 after a token refresh).
	ErrTransient = errors.New("transient provider error; nothing ran")
	// ErrRejected: the provider refused the request and nothing ran (a 4xx
	// that proves it, e.g. a validation error). The lines are not paid; a
	// multi-line request may be split to find the bad line.
	ErrRejected = errors.New("provider rejected the request; nothing ran")
	// ErrOutcomeUnknown: the provider may have acted (timeout, reset after
	// the request was written, a 5xx other than 503). The lines become
	// unknown and are never resent automatically.
	ErrOutcomeUnknown = errors.New("provider outcome unknown; not resent")
)

// RetryAfter returns how long the provider asked us to wait, if it did
// (a 429 or 503 with Retry-After).
func RetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) && ra.RetryAfter() > 0 {
		return ra.RetryAfter(), true
	}
	return 0, false
}

// Accepted is a provider's acceptance of a request: its reference (the
// Kopo Kopo Location, the KiotaPay requestId), shared by all the chunk's
// lines.
type Accepted struct {
	Reference string
}

// Sender sends one chunk to a provider: a Kopo Kopo send_money with the
// chunk's destinations, or a KiotaPay send-money for its one line. It makes
// exactly one attempt per call and never resends a request on its own.
// Errors wrap ErrTransient, ErrRejected or ErrOutcomeUnknown; any other
// error is treated as ErrOutcomeUnknown.
type Sender interface {
	Send(ctx context.Context, c Chunk) (Accepted, error)
}

// Result is what a provider says about one line after acceptance, from a
// callback or a status query.
type Result struct {
	Reference string       // provider reference the result belongs to
	Identity  string       // destination identity (Kopo Kopo: matches the line in the chunk)
	Amount    Money        // the amount the provider says it paid
	Status    State        // StatePaid, StateFailed, or StateAccepted (still pending)
	Receipt   string       // e.g. the M-PESA transaction reference
	Reason    string       // failure reason, when failed
	Source    string       // "callback", "poll" or "operator"
	Provider  ProviderName //
	// LineRef names the line when the provider's result is about one line
	// (KiotaPay); empty for a Kopo Kopo chunk, whose line is found by
	// Identity and Amount.
	LineRef string
	// Undocumented is the provider's status when it is none the provider
	// documents; the line stays pending (an unknown status never means
	// paid or failed) and the status is logged once.
	Undocumented string
}

// Poller asks a provider for the results of an accepted request.
type Poller interface {
	Poll(ctx context.Context, reference string) ([]Result, error)
}

// Stamp fills in what a provider's parser leaves to its caller: where
// the results came from, and the request's reference and provider where
// the document does not repeat them.
func Stamp(results []Result, p ProviderName, reference, source string) {
	for i := range results {
		r := &results[i]
		r.Source = source
		if r.Reference == "" {
			r.Reference = reference
		}
		if r.Provider == "" {
			r.Provider = p
		}
	}
}
