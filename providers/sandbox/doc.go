// Package sandbox emulates the Kopo Kopo K2 Connect (v2 send_money) and
// KiotaPay (send-money) payout APIs on loopback, with fault injection and a
// record of what was really paid.
//
// No machine here can reach the real providers, so the emulators are how the
// payroll tool is tested and how users rehearse a run. They are strict (a
// client that passes here should pass against the real service: every
// documented rule is enforced, and where a provider is silent the emulator
// takes the stricter reading) and hostile (faults make every ambiguous
// outcome happen, and the sandbox counts what it paid so a test can prove
// that nothing was paid twice).
//
// # Basics
//
// Use it in-process from tests:
//
//	s := sandbox.New(sandbox.Options{Seed: 42})
//	srv := httptest.NewServer(s.Handler())
//	defer srv.Close()
//	defer s.Close()
//	creds := s.Credentials() // random unless given in Options.Credentials
//
// or let it listen on 127.0.0.1 with Start (payroll run --sandbox), or run
// it as a program with Serve (payroll sandbox), which prints the base URL
// and "export KOPOKOPO_CLIENT_ID=..." lines and logs each request.
//
// Both providers are served by one handler: their paths do not overlap, so
// one base URL serves as both providers' base_url. Inspection endpoints:
//
//	GET  /_sandbox/truth                    {"payouts":[Payout...]}
//	GET  /_sandbox/stats                    Stats, "violation_list", "callbacks"
//	GET  /_sandbox/faults/{provider}        the provider's Faults as JSON
//	PUT  /_sandbox/faults/{provider}        replace them (durations in ns)
//	POST /_sandbox/expire-tokens/{provider} invalidate the provider's tokens
//
// Payouts are accepted as pending and settled after Options.ProcessingDelay
// (default 50 ms; negative means at once): each destination is paid or failed
// by the fail rule (default: its number or account ends in 999), then the
// callback is sent. A status query made after the delay settles the request
// itself, so polling never sees a stale state. Flush waits until everything
// accepted is settled and every due callback was delivered; Close cancels
// what is not yet due and waits for the callback goroutines.
//
// # Kopo Kopo
//
// POST /oauth/token takes client_id, client_secret and
// grant_type=client_credentials, form-encoded or as JSON, and returns
// {access_token, token_type:"Bearer", expires_in, created_at}. created_at is
// a Unix time (Doorkeeper's form; the SDK fixtures also show an ISO string).
// Bad credentials get 401 {error:"invalid_client", error_description}; a
// missing grant_type 400 invalid_request; another grant 400
// unsupported_grant_type. There are no refresh tokens.
//
// Every Kopo Kopo path requires a User-Agent: without one the answer is a
// bodyless 403, as reported of the production edge, and the request counts
// as ViolationMissingUserAgent.
//
// POST /api/v2/send_money and GET /api/v2/send_money/{id} need a Bearer
// token. Without a valid one the answer is 401 with WWW-Authenticate and
// {"error_code":401,"error_message":"InvalidAccessToken: ..."} or
// "ExpiredAccessToken: ..." (the error names are documented, the body shape
// is not; this is the API's error shape).
//
// A send_money body is {destinations[], source_identifier, currency,
// metadata, _links{callback_url}}. Refused with 400
// {"error_code":400,"error_message":"..."} (or {"errors":["..."]} with
// KopoKopoOptions.ErrorsArray), changing nothing:
//   - a body that is not a JSON object;
//   - missing, null or empty destinations (the real API sweeps the balance to
//     the merchant's own accounts): also ViolationEmptyDestinations;
//   - more than MaxDestinations (default 50) destinations;
//   - currency other than "KES" (exactly), or missing;
//   - _links.callback_url missing or not an absolute http(s) URL;
//   - metadata that is not an object or has more than 5 keys;
//   - source_identifier that is not a string or null, or (with
//     KopoKopoOptions.SourceIdentifiers) not a known till: "Source
//     identifier is invalid";
//   - any destination that is not valid, with its index in the message:
//     mobile_wallet needs phone_number "254" + 9 digits (no "+") and network
//     "Safaricom" (any case); bank_account needs bank_branch_ref (a UUID),
//     account_name and account_number; till needs till_number (digits);
//     paybill needs paybill_number (digits) and paybill_account_number;
//     every type needs amount and a non-blank description; nickname must be
//     a string and favourite a boolean if present;
//   - an amount that is not a whole number of shillings (a JSON number or a
//     numeric string; "1000" and 1000.0 are whole, 1000.5, 1e3, "1,000" and
//     negatives are not) or outside MinAmount..MaxAmount (default
//     10..250,000, the limits reported live);
//   - the same destination identity twice in one request:
//     also ViolationDuplicateInRequest.
//
// Accepted: 201 Created, an empty body and Location:
// {base}/api/v2/send_money/{uuid}. GET on it returns the document shaped as
// the SDK fixtures: status "Scheduled" with source_identifier, destinations,
// transfer_batches and errors null until processed, then "Processed" with
// destinations echoed as sent and one transfer batch per destination, in a
// seeded order that is never the destination order. Batch and disbursement
// amounts are strings such as "1000.0"; each disbursement carries the
// destination's fields (phone_number, bank_branch_ref/account_name/
// account_number, till_number, paybill_number/paybill_account_number),
// nickname, favourite, destination_type, origination_time, a
// destination_reference that is stable per destination identity, and an
// M-PESA style transaction_reference ("QCL160124A7"; null for bank
// accounts). The same document is POSTed to callback_url with
// X-KopoKopo-Signature: the lower-case hex HMAC-SHA256 of the exact body
// bytes keyed with the API key (see Sign).
//
// # KiotaPay
//
// POST /api/v1/get-token takes {apiKey, apiSecret} and returns
// {"status":"200 OK","data":{access_token, refresh_token, expires_in:300,
// refresh_expires_in:1800}}; status is a string here only. The tokens are
// opaque but shaped like Keycloak JWTs. No refresh endpoint exists.
//
// send-money and its queries are served under both /api/sandbox/v1 (the
// documented sandbox path) and /api/v1 (the live path by analogy with
// get-token, unconfirmed), so a client configured for either works. They need
// a Bearer token: 401 {"error":{"code":"AUTH_MISSING_TOKEN"|
// "AUTH_INVALID_TOKEN","message","details"}} otherwise.
//
// POST .../send-money is refused with 400 {"error":{code, message,
// details}}, details naming the field, and changes nothing, when:
// the body is not a JSON object (REQ_BAD_REQUEST); phoneNumber, amount or
// callbackUrl is missing (REQ_MISSING_FIELD); phoneNumber is not 254/255 + 9
// digits without "+"; amount is not a JSON number holding a whole value
// above 0; callbackUrl is not an absolute http(s) URL; currencyCode (default
// KSH) is neither KSH nor TZS (REQ_INVALID_FIELD, so "KES" is refused). KSH
// needs a Kenyan mobile number (2547/2541...) and non-blank remarks and
// occasion; TZS needs a Tanzanian mobile number (2556/2557...), narration,
// firstName, lastName, a serviceCode among TZ-TIGO-B2C, TZ-AIRTEL-B2C and
// TZ-HALOTEL-B2C, and amount >= 1000. Accepted: HTTP 201 with
// {"status":201,"message":"Success","data":{requestId, amount:1000.0,
// phoneNumber, status:"PENDING"}}.
//
// GET .../send-money/status?requestId= returns {requestId, phoneNumber,
// status (PENDING|SUCCESS|FAILED), amount}; an unknown id gets 404
// RESOURCE_NOT_FOUND, a missing one 400 REQ_MISSING_FIELD. .../single
// returns the full record with exactly the documented fields (id, uuid,
// organisation, phoneNumber, remarks, occasion, originatorConversationId,
// conversationId, callbackUrl, createdAt and updatedAt without zone, status,
// responseCode, receiverName, transactionReceipt); .../all lists them all.
// When a payout settles, {requestId, phoneNumber, status, amount} is POSTed,
// unsigned, to its callbackUrl.
//
// # Truth and violations
//
// Every accepted payout is a Payout in the record of truth (Truth, Payouts,
// PaidCount, GET /_sandbox/truth), with its provider reference, destination
// identity, exact amount, ISO currency (KiotaPay's KSH is KES), status and
// receipt. Stats (GET /_sandbox/stats) adds request counts per route, and per
// provider the number of sends, the achieved send rate, the most sends in any
// one second and the smallest gap between two accepted payouts to one phone.
//
// Violations count client behaviour that would hurt in production. The
// emulator cannot see payroll line references, so a duplicate payout
// (ViolationDuplicatePayout) is defined as a payout accepted for the same
// identity, amount and currency as an earlier payout, of either provider,
// that is pending or paid, during the sandbox's lifetime. A retry after a
// conclusive failure is not a duplicate. Tests that legitimately pay one
// person the same amount twice need two sandboxes. The duplicate is still
// accepted and paid, as the real services would.
//
// # Faults
//
// Faults are set per provider, at start (KopoKopoOptions.Faults,
// KiotaPayOptions.Faults) or at run time (SetFaults, ExpireTokens, PUT
// /_sandbox/faults/{provider}). Each fires by a Trigger: a probability drawn
// from the seeded generator, every Nth event, or the next N events; the same
// seed and the same sequence of requests give the same faults. On sends
// they are checked after authentication and validation, in this order: 429
// with Retry-After, 503, 500 before accepting (nothing recorded), then,
// once the payout is recorded, 500 after accepting or a dropped connection
// (no response at all). Latency (plus jitter) delays every request;
// ExpireTokens invalidates every token before the request is authorised.
//
// Callback faults act on each settlement: lost (never sent), duplicate (sent
// twice), delayed (sent CallbackDelay late, so it arrives after later
// requests' callbacks), forged (an extra callback claiming success, for Kopo
// Kopo signed with a wrong key, for KiotaPay with SUCCESS/FAILED swapped),
// and wrong amount (replaces the genuine callback; amounts 100 higher). A
// wrong-amount Kopo Kopo callback is correctly signed: a valid signature
// proves the sender, not that the document agrees with the ledger, so the
// client must still compare amounts (docs/design.md §3, invariant 5). Callbacks
// are sent once by a pool of CallbackWorkers goroutines with a
// CallbackTimeout; there are no retries.
//
// The configured rate limit (Traffic.RateLimit) is not a fault: a send beyond
// it gets 429 with Retry-After and counts as ViolationRateLimit. A payout to
// a phone closer than Traffic.MinPhoneInterval after the previous one is
// accepted and counts as ViolationPhoneInterval.
//
// # Decisions
//
// Where the providers are silent the emulator decides, conservatively:
//   - Kopo Kopo's per-request destination cap is undocumented: 50 by default.
//   - A send_money request is all-or-nothing at validation: one bad
//     destination refuses the whole request (the real behaviour is
//     undocumented; refusing is the stricter reading).
//   - A failed Kopo Kopo destination (no real example exists) has batch and
//     disbursement status "Failed", errors ["The transfer to this destination
//     failed"] and transaction_reference null; the request is still
//     "Processed" with top-level errors null. Clients must treat anything
//     but "Transferred" as not paid.
//   - merchant_wallet and merchant_bank_account destinations (the merchant's
//     own accounts) are refused: payroll never pays them and no result
//     document for them exists to copy.
//   - Amounts must be whole shillings; bank_branch_ref must be a UUID.
//   - KiotaPay bad credentials get 403 AUTH_FORBIDDEN (a documented code;
//     the status for this case is not documented), so that a client does not
//     mistake them for an expired token.
//   - KiotaPay 429, 503 and 500 bodies use the documented error shape with
//     the undocumented codes RATE_LIMIT_EXCEEDED, SERVICE_UNAVAILABLE and
//     INTERNAL_SERVER_ERROR.
//   - KiotaPay remarks, occasion and narration are limited to 100 characters
//     (the limit of similar fields on KiotaPay's other pages).
//   - A reused KiotaPay referenceId is accepted and paid (nothing says it
//     deduplicates) and counts as ViolationReferenceReused.
//   - KiotaPay's companyId query parameter is not required.
//   - Phone spacing is measured between accepted payouts, not attempts: a
//     retry after a 503 does not pay anyone.
//   - Callbacks are not retried when the receiver fails; the client must poll.
package sandbox
