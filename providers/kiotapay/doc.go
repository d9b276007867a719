// Package kiotapay is the KiotaPay send-money client: tokens from
// get-token, one POST send-money per line through a global rate limit and
// a per-phone minimum interval, status queries (status, single, all),
// polling and callback decoding. Facts are in docs/providers.md; this comment
// records what the package decided where KiotaPay is silent.
//
// # Paths and tokens
//
// The token endpoint is {base}/api/v1/get-token in every environment.
// Other calls use /api/sandbox/v1 ("sandbox", the default) or /api/v1
// ("live"; undocumented, assumed by analogy with get-token). Tokens live
// 300 s; they are replaced at 80% of expires_in, measured on the client's
// clock from the token request, one refresh at a time (concurrent senders
// wait). The response's status is a string there ("200 OK") and an integer
// elsewhere: [Code] decodes both. On a 401 the client fetches a new token
// and resends that request once (a 401 proves nothing ran); a second 401
// is batch.ErrTransient. A failure of get-token is batch.ErrTransient.
//
// # Sending
//
// [Client.Send] takes a chunk of exactly one line (else batch.ErrRejected
// without any HTTP call) and makes one POST: it never resends, and never
// sets an Idempotency-Key. Refused before sending, with batch.ErrRejected:
// a type other than mobile_wallet, a phone that is not 12 digits or not of
// the currency's country, a fractional or zero amount, TZS under 1000, a
// TZS payee without first and last name (Name is split at its last space
// when only it is given), a TZS network KiotaPay cannot pay. The TZS
// serviceCode is the line's, else derived from the phone's carrier (Yas/
// Tigo, Airtel, Halotel); Vodacom and TTCL have none. KES sends remarks
// from the line's description ("Payment" when empty) and occasion ("Payroll"
// when empty); TZS sends narration ("MOBILE PAYOUT" when empty). Texts are
// cut to 100 characters. referenceId is the attempt's reference
// (batch.AttemptRef, set by the ledger's claim), never the bare employee
// reference, which repeats every month: no two payouts of any month or
// retry share one. A line without one is refused before any request.
// KiotaPay documents no lookup or deduplication by it, so it never makes
// a resend safe; it lets the provider's records be matched to an attempt.
//
// Success is HTTP 200/201 with body status 200/201 (or absent) and
// data.requestId, which becomes the reference. A 2xx without a requestId
// or with another body status is batch.ErrOutcomeUnknown. Errors are
// classified by providers.Classify; both error shapes
// ({"error":{code,message,details}} and {errorCode,message,details,statusCode})
// are parsed.
//
// # Pacing
//
// Before each send the client waits for the phone's turn (no two requests
// to one phone closer than PerPhoneInterval, measured between the moments
// they left; sends to one phone are serialised) and then for the global
// rate.Limiter (Rate, Burst). The per-phone wait comes first so that the
// global rate holds at the moment each request leaves. Any wait error
// (context ended, or its deadline would pass first) means nothing was
// sent: batch.ErrTransient. The token is fetched before the wait, so a
// request leaves right after its turn; the resend after a 401 waits for
// the global rate again (not for the phone interval: the refused request
// paid nothing). The phone map is bounded by the batch and never evicted.
//
// # Results
//
// [Client.Poll] asks send-money/status: SUCCESS is paid (with the receipt
// from send-money/single when that call succeeds), FAILED is failed, and
// PENDING or any other value is still accepted; an undocumented status
// never means paid. Amounts are decoded exactly (1000.0, "1000", 1500.75),
// never through a float. [ParseCallback] decodes the unsigned callback;
// callers must confirm it with Status before trusting it (docs/design.md §3,
// invariant 5).
package kiotapay
