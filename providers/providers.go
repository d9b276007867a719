// Package providers holds what the payout provider clients share: the
// classified *Error, the one function that classifies an HTTP exchange
// (Classify), the HTTP client they are built on (NewHTTPClient, Do), a
// single-flight token cache and lenient JSON types for provider amounts and
// identifiers.
//
// # Classification (docs/design.md §3, invariant 3)
//
// Every provider failure wraps exactly one of batch.ErrTransient (nothing
// ran; the request may be sent again), batch.ErrRejected (the provider
// refused it; nothing ran) or batch.ErrOutcomeUnknown (the provider may have
// acted; never resent automatically):
//
//	no response, nothing written (refused, DNS, dial/TLS failure,
//	  timeout before the request was written)      Transient
//	no response after the request was written
//	  (timeout, reset, closed without an answer)   OutcomeUnknown
//	429 (Retry-After honoured), 503               Transient
//	401 (after the client refreshed its token once) Transient
//	400, 403, 404, 422                            Rejected (provider message)
//	other 5xx, other statuses                     OutcomeUnknown
//
// # One attempt per call
//
// The clients never resend a payout request. NewHTTPClient builds its own
// HTTP/1.1 transports, and sends every POST on a fresh connection (so a
// server closing an idle kept-alive connection cannot make a payout
// unknown). Go's http.Transport resends a request on its own in
// exactly two situations: (1) nothing at all was written on a reused
// keep-alive connection (nothingWrittenError) and the body can be rewound
// (GetBody is set), which is safe because the server cannot have seen a
// byte; (2) the request is "replayable" (GET/HEAD/OPTIONS/TRACE, or any
// method carrying an Idempotency-Key or X-Idempotency-Key header) and the
// reused connection failed before the first response byte. A POST without
// those headers is therefore never resent once any byte of it was
// written: the clients never set an Idempotency-Key (neither provider
// documents one). HTTP/2 is disabled so that its own retry rules (GOAWAY,
// REFUSED_STREAM) need not be reasoned about. The tests of both clients
// count the POSTs a server receives while it closes kept-alive connections
// and drops some requests unanswered.
package providers

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"payroll/batch"

	"github.com/shopspring/decimal"
)

// Error is a classified provider failure. Kind is exactly one of
// batch.ErrTransient, batch.ErrRejected and batch.ErrOutcomeUnknown;
// errors.Is matches it (through Unwrap) and also the underlying transport
// error Err (through Is), so errors.Is(err, context.Canceled) works.
type Error struct {
	Kind       error              // batch.ErrTransient, batch.ErrRejected or batch.ErrOutcomeUnknown
	Provider   batch.ProviderName // kopokopo or kiotapay
	Op         string             // "token", "send", "poll", "status", ...
	StatusCode int                // HTTP status; 0 when there was no response
	Code       string             // provider error code, e.g. "400", "AUTH_INVALID_TOKEN"
	Message    string             // provider message or local reason
	Err        error              // underlying transport or decoding error, if any

	retryAfter time.Duration
}

// Error describes the failure: provider, operation, status, message, class.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Provider != "" {
		b.WriteString(string(e.Provider))
		b.WriteString(": ")
	}
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
		if e.Code != "" && e.Code != strconv.Itoa(e.StatusCode) {
			fmt.Fprintf(&b, " (%s)", e.Code)
		}
		if e.Message != "" || e.Err != nil {
			b.WriteString(": ")
		}
	} else if e.Code != "" {
		b.WriteString(e.Code)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Err != nil {
		if e.Message != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	if e.retryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.retryAfter)
	}
	if e.Kind != nil {
		b.WriteString(" [")
		b.WriteString(e.Kind.Error())
		b.WriteString("]")
	}
	return b.String()
}

// Unwrap returns Kind, the outcome class.
func (e *Error) Unwrap() error { return e.Kind }

// Is reports whether the underlying error Err matches target, so that
// errors.Is finds context.Canceled or a *net.OpError cause as well as Kind.
// The outcome classes are matched only through Kind, so an *Error never
// reports two of them.
func (e *Error) Is(target error) bool {
	if isClass(target) {
		return false
	}
	return e.Err != nil && errors.Is(e.Err, target)
}

func isClass(err error) bool {
	return err == batch.ErrTransient || err == batch.ErrRejected || err == batch.ErrOutcomeUnknown
}

// RetryAfter is how long the provider asked us to wait (429 or 503 with a
// Retry-After header); zero if it did not. batch.RetryAfter reads it.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

// WithRetryAfter returns e with its Retry-After set (for tests and
// callers building errors by hand).
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	e.retryAfter = d
	return e
}

// ErrNotSent marks a transport error that happened before any byte of the
// request was written (see Do). Classify maps it to batch.ErrTransient.
var ErrNotSent = errors.New("request not sent")

type notSent struct{ err error }

func (n notSent) Error() string        { return n.err.Error() }
func (n notSent) Unwrap() []error      { return []error{ErrNotSent, n.err} }
func (n notSent) Is(target error) bool { return target == ErrNotSent }

// Classify turns one HTTP exchange into nil (a 2xx response: the caller
// decides what the body means) or an *Error wrapping exactly one outcome
// class. resp and body are the response and its (possibly partial) body;
// err is the transport error, if any. When resp is nil, err decides:
// a dial error, a refused connection or an error marked ErrNotSent by Do
// means nothing was written (Transient); anything else means the request
// may have reached the provider (OutcomeUnknown). When resp is set, its
// status decides (see the package comment); a 401 is Transient because
// the clients only classify a 401 after they refreshed their token and
// retried once. op names the operation for the message.
func Classify(provider batch.ProviderName, op string, resp *http.Response, body []byte, err error) error {
	e := &Error{Provider: provider, Op: op}
	if resp == nil {
		if err == nil {
			return nil
		}
		if pe, ok := errors.AsType[*Error](err); ok {
			return pe // already classified (a token or pacing failure)
		}
		e.Err = err
		if NothingSent(err) {
			e.Kind = batch.ErrTransient
			e.Message = "not sent"
		} else {
			e.Kind = batch.ErrOutcomeUnknown
			e.Message = "no response after the request was written"
		}
		return e
	}
	e.StatusCode = resp.StatusCode
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e.Code, e.Message = ParseErrorBody(body)
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		e.Kind = batch.ErrTransient
		e.retryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case http.StatusUnauthorized:
		e.Kind = batch.ErrTransient
	case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity:
		e.Kind = batch.ErrRejected
	default:
		e.Kind = batch.ErrOutcomeUnknown
	}
	return e
}

// NothingSent reports whether a transport error proves that no byte of the
// request reached the provider: Do marked it ErrNotSent, or the connection
// could not be made (refused, unreachable, DNS failure, dial timeout).
func NothingSent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotSent) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) {
		return true
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return true
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return true
	}
	return false
}

// ParseRetryAfter reads a Retry-After value: delay seconds ("120") or an
// HTTP-date, relative to now, at most maxRetryAfter either way. Anything
// else, or a date in the past, is 0.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		const maxSecs = int64(maxRetryAfter / time.Second)
		return time.Duration(min(n, maxSecs)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			// A date years ahead must not park the run for years.
			return min(d.Round(time.Second), maxRetryAfter)
		}
	}
	return 0
}

// maxRetryAfter caps a provider's Retry-After.
const maxRetryAfter = 24 * time.Hour

// errorBody holds every error field seen in Kopo Kopo and KiotaPay bodies:
//
//	{"error_code": 400, "error_message": "..."}           Kopo Kopo API
//	{"errors": ["..."]}                                   Kopo Kopo (live)
//	{"error": "invalid_client", "error_description": ...} OAuth
//	{"error": {"code", "message", "details"}}             KiotaPay sample
//	{"errorCode", "message", "details", "statusCode"}     KiotaPay field table
type errorBody struct {
	ErrorCode        FlexString      `json:"error_code"`
	ErrorMessage     FlexString      `json:"error_message"`
	Errors           json.RawMessage `json:"errors"`
	Error            json.RawMessage `json:"error"`
	ErrorDescription FlexString      `json:"error_description"`
	ErrorCodeCamel   FlexString      `json:"errorCode"`
	Message          FlexString      `json:"message"`
	Details          json.RawMessage `json:"details"`
}

// ParseErrorBody extracts the provider's error code and message from an
// error response body in any of the known shapes. A body that is not JSON
// gives its first line (trimmed, at most 200 bytes) as the message.
func ParseErrorBody(body []byte) (code, message string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "", ""
	}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		line, _, _ := bytes.Cut(body, []byte("\n"))
		return "", truncate(string(bytes.TrimSpace(line)), 200)
	}
	var nested struct {
		Code    FlexString      `json:"code"`
		Message FlexString      `json:"message"`
		Details json.RawMessage `json:"details"`
	}
	var errStr string
	if len(eb.Error) > 0 {
		if json.Unmarshal(eb.Error, &nested) != nil {
			_ = json.Unmarshal(eb.Error, &errStr)
		}
	}
	code = firstNonEmpty(string(eb.ErrorCode), string(nested.Code), string(eb.ErrorCodeCamel), errStr)
	message = firstNonEmpty(string(eb.ErrorMessage), Text(eb.Errors), string(nested.Message),
		string(eb.ErrorDescription), string(eb.Message))
	if d := firstNonEmpty(Text(nested.Details), Text(eb.Details)); d != "" && d != message {
		if message == "" {
			message = d
		} else {
			message += " (" + d + ")"
		}
	}
	if message == "" && code == "" {
		message = truncate(string(body), 200)
	}
	return code, message
}

// Text flattens a provider's error value into one line of text: a
// string as is; a list joined with "; "; an object by its message,
// error_message, description or detail; anything else as compact JSON
// (at most 200 bytes). Empty values (null, "", [], {}) are "". Both
// clients read error bodies and disbursement errors with it.
func Text(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte("[]")) ||
		bytes.Equal(raw, []byte("{}")) || bytes.Equal(raw, []byte(`""`)) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, item := range list {
			if t := Text(item); t != "" {
				parts = append(parts, t)
			}
		}
		return strings.Join(parts, "; ")
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil {
		for _, k := range []string{"message", "error_message", "description", "detail"} {
			if t := Text(m[k]); t != "" {
				return t
			}
		}
	}
	var c bytes.Buffer
	if json.Compact(&c, raw) == nil {
		raw = c.Bytes()
	}
	return truncate(string(raw), 200)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// DefaultTimeout bounds one HTTP exchange (connect, write, response,
// body) of a client built by NewHTTPClient with a zero timeout.
const DefaultTimeout = 30 * time.Second

// NewHTTPClient returns the HTTP client both providers use: HTTP/1.1
// transports built here (proxy from the environment, bounded dial, TLS and
// header waits) and an overall Timeout. It has no retry layer: see the
// package comment for the only resends Go's transport makes.
//
// GET and HEAD requests reuse kept-alive connections. Every other request
// (every POST: tokens and payouts) goes out on a new connection that is
// closed afterwards: a server may close an idle kept-alive connection at
// the moment a POST is written on it, and the client cannot tell that
// from a request that reached the provider, so it would have to call the
// payout unknown. A fresh connection costs one handshake per request.
func NewHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	mk := func(keepAlive bool) *http.Transport {
		dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		return &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     false,
			TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: timeout,
			DisableKeepAlives:     !keepAlive,
			MaxIdleConns:          16,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       30 * time.Second,
		}
	}
	return &http.Client{Transport: &splitTransport{reads: mk(true), writes: mk(false)}, Timeout: timeout}
}

// splitTransport sends GET and HEAD through a pooled transport and every
// other method through one without keep-alive.
type splitTransport struct{ reads, writes *http.Transport }

// RoundTrip implements http.RoundTripper.
func (s *splitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == "" || req.Method == http.MethodGet || req.Method == http.MethodHead {
		return s.reads.RoundTrip(req)
	}
	return s.writes.RoundTrip(req)
}

// CloseIdleConnections closes the pooled connections (http.Client calls it).
func (s *splitTransport) CloseIdleConnections() {
	s.reads.CloseIdleConnections()
	s.writes.CloseIdleConnections()
}

// MaxBody is the most Do reads of a response body.
const MaxBody = 8 << 20

// Do sends req once with c and reads the response body (at most MaxBody
// bytes), closing it. A ClientTrace watches the attempt: if the exchange
// fails before any byte of the request was written (for the last
// connection the transport used), the error is marked ErrNotSent, which
// Classify maps to batch.ErrTransient; otherwise the provider may have
// received the request. A body read error is returned with the response.
func Do(c *http.Client, req *http.Request) (*http.Response, []byte, error) {
	// wrote: some request bytes may have left on the current connection.
	// Socket writes only happen after WroteHeaders (the headers go to a
	// buffer first), and a cancelled round trip closes the connection
	// before c.Do returns, so no byte can leave after a false is read.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn:      func(httptrace.GotConnInfo) { wrote.Store(false) },
		WroteHeaders: func() { wrote.Store(true) },
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := c.Do(req)
	if err != nil {
		if !wrote.Load() {
			err = notSent{err}
		}
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	return resp, body, err
}

// FlexString decodes a JSON string, number or boolean into its text, and
// null into "". Providers send identifiers (transaction_reference, phone
// numbers) sometimes as strings and sometimes as numbers.
type FlexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9') || b[0] == 't' || b[0] == 'f'):
		*f = FlexString(b)
	default:
		return fmt.Errorf("providers: want a string or number, got %.40s", b)
	}
	return nil
}

// amountRE is a plain non-negative decimal: no sign, exponent or spaces.
var amountRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// Amount decodes a provider amount given as a JSON number (1000, 1000.0,
// 1500.75) or a string ("1000.0", "236") exactly, never through a float.
// null or "" decode as zero with Present false.
type Amount struct {
	Money   batch.Money
	Present bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (a *Amount) UnmarshalJSON(b []byte) error {
	var s FlexString
	if err := s.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("providers: amount: %w", err)
	}
	m, ok, err := ParseAmount(string(s))
	if err != nil {
		return err
	}
	*a = Amount{Money: m, Present: ok}
	return nil
}

// ParseAmount parses a provider amount text ("1000.0", "236", "1500.75")
// into Money exactly. "" gives ok false; signs, exponents, more than two
// significant decimals and non-numbers are errors.
func ParseAmount(s string) (m batch.Money, ok bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return batch.Money{}, false, nil
	}
	if !amountRE.MatchString(s) {
		return batch.Money{}, false, fmt.Errorf("providers: amount %q is not a plain decimal", s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return batch.Money{}, false, fmt.Errorf("providers: amount %q: %w", s, err)
	}
	if !d.Equal(d.Truncate(2)) {
		return batch.Money{}, false, fmt.Errorf("providers: amount %q has more than two decimals", s)
	}
	if err := m.UnmarshalText([]byte(d.StringFixed(2))); err != nil {
		return batch.Money{}, false, fmt.Errorf("providers: amount %q: %w", s, err)
	}
	return m, true, nil
}
