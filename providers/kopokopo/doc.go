// Package kopokopo is the Kopo Kopo K2 Connect send_money client: OAuth
// client credentials, POST /api/v2/send_money for a chunk of destinations,
// status polling on the returned Location, callback decoding and webhook
// signature verification. Facts and their sources are in docs/providers.md; this
// comment records what the package decided where Kopo Kopo is silent.
//
// # Sending
//
// [Client.Send] makes exactly one POST per call, plus one resend after a
// 401 with a freshly fetched token (a 401 proves nothing ran). It never
// sets an Idempotency-Key (Kopo Kopo documents none), so Go's transport
// never resends the POST once a byte of it was written (see package
// providers). Errors are classified by [providers.Classify].
//
// A chunk is refused with batch.ErrRejected, before any HTTP call, when it
// is empty (an empty destination list sweeps the whole balance to the
// merchant's own accounts), is not KES, holds a fractional or non-positive
// amount (amounts go out as JSON integers of whole shillings), repeats a
// destination identity (results could not be matched), or lacks a field
// Kopo Kopo requires. Defaults: network "Safaricom" for a mobile wallet
// without one, description "Payment" when a line has none, account_name
// from the line's name, nickname from the line's name (omitted if empty),
// favourite never sent, source_identifier null when not configured.
// Metadata holds Config.Metadata (at most 3 keys) plus "lines" and
// "total" (Kopo Kopo accepts 5 keys).
//
// Success is 201 (or 200, as the PHP SDK mock answers) with a Location
// header in any case; the body is ignored. A 2xx without Location is
// batch.ErrOutcomeUnknown: the request ran but cannot be tracked.
//
// # Tokens
//
// Tokens are cached and replaced at 90% of expires_in (1 h when the
// response omits it), measured on the client's clock from the moment the
// token request was sent; created_at (an ISO string or an integer) is
// ignored, so a skewed provider clock cannot extend a token's life.
// token_type may be missing. One refresh runs at a time; concurrent
// senders wait for it (or for their context). A failure of the token
// endpoint is batch.ErrTransient whatever its status: no payout was
// requested. Wrong credentials therefore retry until the runner's budget
// runs out; the error message says "credentials refused".
//
// # Results
//
// [Client.Poll] and [ParseResult] decode the result document leniently:
// amounts as "1000.0", "236" or numbers (exactly, through decimal, never a
// float); transaction_reference as a string or an integer; null
// destinations, transfer_batches and errors. Each disbursement becomes one
// batch.Result whose Identity is built like batch.Destination.Identity():
//
//	mobile_wallet:<phone digits, + stripped>
//	bank_account:<bank_branch_ref lower-cased>:<account_number>
//	till:<till_number>
//	paybill:<paybill_number>:<PAYBILL_ACCOUNT_NUMBER upper-cased>
//
// Disbursements are matched by identity and amount, never by position
// (Kopo Kopo reorders transfer batches). A disbursement that lacks its
// key fields (a bank disbursement without bank_branch_ref; v1 documents)
// takes them from the echoed request destinations when exactly one
// unclaimed destination of the same type and amount (and account number or
// phone, when present) fits; otherwise its identity is "<type>:?[:<destination_reference>]",
// which matches no line, so the ledger flags it instead of guessing.
//
// Status mapping: "Transferred" is paid (receipt = transaction_reference);
// "Failed", "Cancelled" and "Reversed" are failed (a reversal returns the
// money: the line was not paid); every other value (Scheduled, Pending,
// Processing, anything undocumented, and "Transferred" with a non-empty
// errors field) leaves the line accepted, i.e. still pending. A Scheduled
// document with null transfer_batches gives no results, and so does a
// document whose only failure is at the top level (undocumented: the lines
// stay pending for an operator or a later poll).
//
// # References
//
// Send returns the Location (".../api/v2/send_money/<id>") as the
// reference, and Poll results carry the reference they were asked for, so
// the ledger indexes the Location. A callback names its request by
// _links.self, which is the Location; ParseResult returns it (or data.id
// when the self link does not end with the id). [ReferenceFromLocation]
// gives the id from either, and [Client.Location] rebuilds a Location from
// an id; Poll accepts a bare id too.
//
// # Callbacks
//
// [Verify] checks X-KopoKopo-Signature: hex HMAC-SHA256 over the raw body
// bytes, keyed with the API key, compared in constant time. Verify before
// decoding; an unverified callback must never change a line (docs/design.md §3,
// invariant 5).
package kopokopo
