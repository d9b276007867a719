package kiotapay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"payroll/batch"
	"payroll/providers"
)

// Defaults for zero Config fields.
const (
	DefaultBaseURL = "https://api.kiotapay.co"
	// DefaultRemarks and DefaultOccasion fill the fields KiotaPay requires
	// for KSH when a line has no description or occasion.
	DefaultRemarks  = "Payment"
	DefaultOccasion = "Payroll"
	// DefaultNarration fills the TZS narration (the value of KiotaPay's sample).
	DefaultNarration = "MOBILE PAYOUT"
	// MinTZS is the least TZS amount KiotaPay pays.
	MinTZS = 1000
	// maxText bounds remarks, occasion and narration (KiotaPay's limit for
	// similar fields on its STK and till pages).
	maxText = 100
)

// Path prefixes per environment. The live prefix is not documented; it is
// the token endpoint's prefix (docs/providers.md, KiotaPay §2).
const (
	SandboxPrefix = "/api/sandbox/v1"
	LivePrefix    = "/api/v1"
)

// tokenRefreshFraction: tokens (300 s) are replaced at 80% of their life.
const tokenRefreshFraction = 0.8

const defaultTokenLife = 300 * time.Second

// Config configures a Client.
type Config struct {
	// BaseURL is the API host. Empty means DefaultBaseURL.
	BaseURL string
	// Environment is "sandbox" (paths under /api/sandbox/v1, the default)
	// or "live" (/api/v1). The token endpoint is /api/v1/get-token in both.
	Environment string
	// APIKey and APISecret obtain tokens.
	APIKey    string
	APISecret string
	// CallbackURL receives the (unsigned) result of every payout. Required.
	CallbackURL string
	// Pacer paces sends: the caller (batch.Runner) waits on it before it
	// claims the line, and the client passes its departure gate right
	// before each request and before the resend after a 401. It is the one
	// owner of KiotaPay's rate and per-phone interval (batch.Pacer). Nil:
	// the client paces nothing itself.
	Pacer *batch.Pacer
	// HTTPClient sends the requests. Nil means providers.NewHTTPClient(0).
	HTTPClient *http.Client
	// Now is the clock for token expiry. Nil means time.Now. (The rate
	// limiters use the time package's clock.)
	Now func() time.Time
	// Logger receives debug lines; phones are logged masked. Nil discards.
	Logger *slog.Logger
}

// Client is a KiotaPay send-money client. It implements batch.Sender and
// batch.Poller and is safe for concurrent use.
type Client struct {
	conn   *providers.Conn
	base   string
	prefix string
	cfg    Config
}

// New returns a client for cfg. It makes no request.
func New(cfg Config) (*Client, error) {
	c := &Client{cfg: cfg}
	conn, err := providers.NewConn("kiotapay", cfg.BaseURL, DefaultBaseURL, cfg.HTTPClient, cfg.Now, cfg.Logger, c.fetchToken)
	if err != nil {
		return nil, err
	}
	c.conn, c.base = conn, conn.Base.String()
	switch strings.ToLower(cfg.Environment) {
	case "", "sandbox":
		c.prefix = SandboxPrefix
	case "live", "production":
		c.prefix = LivePrefix
	default:
		return nil, fmt.Errorf("kiotapay: environment %q is not sandbox or live", cfg.Environment)
	}
	if cfg.APIKey == "" || cfg.APISecret == "" {
		return nil, errors.New("kiotapay: API key and secret are required")
	}
	if cfg.CallbackURL == "" {
		return nil, errors.New("kiotapay: callback URL is required")
	}
	return c, nil
}

func (c *Client) fail(kind error, op, msg string, err error) *providers.Error {
	return &providers.Error{Kind: kind, Provider: batch.KiotaPay, Op: op, Message: msg, Err: err}
}

// Code is a status code KiotaPay writes as an integer (201) or as a string
// ("200 OK"); it decodes the leading number of either, and 0 for null.
type Code int

// UnmarshalJSON implements json.Unmarshaler.
func (c *Code) UnmarshalJSON(b []byte) error {
	var s providers.FlexString
	if err := s.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("kiotapay: status code: %w", err)
	}
	text := strings.TrimSpace(string(s))
	end := strings.IndexFunc(text, func(r rune) bool { return !unicode.IsDigit(r) })
	if end >= 0 {
		text = text[:end]
	}
	if text == "" {
		*c = 0
		return nil
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		return fmt.Errorf("kiotapay: status code %q: %w", string(s), err)
	}
	*c = Code(n)
	return nil
}

// envelope is KiotaPay's response wrapper.
type envelope struct {
	Status  Code            `json:"status"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

type tokenData struct {
	AccessToken string               `json:"access_token"`
	ExpiresIn   providers.FlexString `json:"expires_in"`
}

func parseToken(body []byte, start time.Time) (providers.Token, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return providers.Token{}, fmt.Errorf("token response: %w", err)
	}
	var d tokenData
	if len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return providers.Token{}, fmt.Errorf("token response data: %w", err)
		}
	}
	if d.AccessToken == "" {
		return providers.Token{}, errors.New("token response has no access_token")
	}
	life, err := providers.TokenLife(string(d.ExpiresIn), defaultTokenLife)
	if err != nil {
		return providers.Token{}, err
	}
	return providers.Token{Value: d.AccessToken, RefreshAt: providers.RefreshAt(start, life, tokenRefreshFraction)}, nil
}

// fetchToken calls get-token. Any failure is batch.ErrTransient: no payout
// was requested.
func (c *Client) fetchToken(ctx context.Context) (providers.Token, error) {
	body, _ := json.Marshal(map[string]string{"apiKey": c.cfg.APIKey, "apiSecret": c.cfg.APISecret})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+LivePrefix+"/get-token", bytes.NewReader(body))
	if err != nil {
		return providers.Token{}, c.fail(batch.ErrTransient, "token", "build request", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	start := c.conn.Now()
	resp, rbody, err := providers.Do(c.conn.HTTP, req)
	if cerr := providers.Classify(batch.KiotaPay, "token", resp, rbody, err); cerr != nil {
		pe := cerr.(*providers.Error)
		pe.Kind = batch.ErrTransient
		if pe.StatusCode == http.StatusUnauthorized || pe.StatusCode == http.StatusForbidden {
			pe.Message = "credentials refused: " + pe.Message
		}
		return providers.Token{}, pe
	}
	if err != nil {
		return providers.Token{}, c.fail(batch.ErrTransient, "token", "read response", err)
	}
	tok, err := parseToken(rbody, start)
	if err != nil {
		return providers.Token{}, c.fail(batch.ErrTransient, "token", "", err)
	}
	return tok, nil
}

// sendMoneyRequest is the send-money body, keys in the order of the docs.
type sendMoneyRequest struct {
	PhoneNumber  string      `json:"phoneNumber"`
	Amount       json.Number `json:"amount"`
	Remarks      string      `json:"remarks,omitempty"`
	Occasion     string      `json:"occasion,omitempty"`
	CallbackURL  string      `json:"callbackUrl"`
	CurrencyCode string      `json:"currencyCode"`
	FirstName    string      `json:"firstName,omitempty"`
	LastName     string      `json:"lastName,omitempty"`
	ServiceCode  string      `json:"serviceCode,omitempty"`
	Narration    string      `json:"narration,omitempty"`
	ReferenceID  string      `json:"referenceId,omitempty"`
}

// ServiceCodes are the TZS serviceCode values KiotaPay accepts.
var ServiceCodes = []string{"TZ-TIGO-B2C", "TZ-AIRTEL-B2C", "TZ-HALOTEL-B2C"}

// ServiceCode returns the TZS serviceCode for a Tanzanian phone from its
// carrier (Yas/Tigo, Airtel, Halotel/Viettel), or "" when KiotaPay cannot
// pay that network (Vodacom, TTCL) or the carrier is unknown.
func ServiceCode(p batch.Phone) string {
	code, _ := batch.TZServiceCode(p.Carrier())
	return code
}

// buildRequest maps a one-line chunk to a send-money body, or refuses it
// with batch.ErrRejected before any HTTP call.
func (c *Client) buildRequest(chunk batch.Chunk) (*sendMoneyRequest, *batch.Line, error) {
	reject := func(format string, args ...any) error {
		return c.fail(batch.ErrRejected, "send", fmt.Sprintf(format, args...), nil)
	}
	if chunk.Provider != "" && chunk.Provider != batch.KiotaPay {
		return nil, nil, reject("chunk is for provider %q", chunk.Provider)
	}
	if len(chunk.Lines) != 1 {
		return nil, nil, reject("a KiotaPay request pays exactly one line, the chunk has %d", len(chunk.Lines))
	}
	l := &chunk.Lines[0]
	cur := l.Currency
	if cur == "" {
		cur = chunk.Currency
	}
	if l.Dest.Type != batch.MobileWallet {
		return nil, nil, reject("line %q: KiotaPay pays mobile wallets only, not %s", l.Reference, l.Dest.Type)
	}
	phone := l.Dest.Phone.Digits()
	if len(phone) != 12 || strings.Trim(phone, "0123456789") != "" {
		return nil, nil, reject("line %q: phone %s is not 12 digits", l.Reference, l.Dest.Phone)
	}
	if l.Amount.IsZero() || !l.Amount.IsWhole() {
		return nil, nil, reject("line %q: amount %s is not a positive whole number", l.Reference, l.Amount)
	}
	req := &sendMoneyRequest{
		PhoneNumber: phone,
		Amount:      json.Number(l.Amount.Units()),
		CallbackURL: c.cfg.CallbackURL,
		ReferenceID: l.AttemptRef,
	}
	if l.AttemptRef == "" {
		// Never the bare employee reference: it repeats every month.
		return nil, nil, reject("line %q: no attempt reference (lines are sent only as claimed by the ledger)", l.Reference)
	}
	switch cur {
	case batch.KES:
		if !strings.HasPrefix(phone, "254") {
			return nil, nil, reject("line %q: KES payouts go to Kenyan numbers", l.Reference)
		}
		req.CurrencyCode = "KSH"
		req.Remarks = text(l.Description, DefaultRemarks)
		req.Occasion = text(l.Occasion, DefaultOccasion)
	case batch.TZS:
		if !strings.HasPrefix(phone, "255") {
			return nil, nil, reject("line %q: TZS payouts go to Tanzanian numbers", l.Reference)
		}
		if l.Amount.Cmp(batch.MoneyFromUnits(MinTZS)) < 0 {
			return nil, nil, reject("line %q: the least TZS amount is %d", l.Reference, MinTZS)
		}
		req.CurrencyCode = "TZS"
		req.Narration = text(l.Narration, DefaultNarration)
		req.FirstName, req.LastName = names(l)
		if req.FirstName == "" || req.LastName == "" {
			return nil, nil, reject("line %q: TZS payouts need the payee's first and last name", l.Reference)
		}
		req.ServiceCode = strings.ToUpper(strings.TrimSpace(l.ServiceCode))
		if req.ServiceCode == "" {
			req.ServiceCode = ServiceCode(l.Dest.Phone)
		}
		ok := false
		for _, sc := range ServiceCodes {
			ok = ok || sc == req.ServiceCode
		}
		if !ok {
			return nil, nil, reject("line %q: no KiotaPay service code for %s (network %q); set service_code to one of %s",
				l.Reference, l.Dest.Phone, l.Dest.Phone.Carrier(), strings.Join(ServiceCodes, ", "))
		}
	default:
		return nil, nil, reject("line %q: currency %q is not supported (KES, TZS)", l.Reference, cur)
	}
	return req, l, nil
}

// text trims s, falls back to def, and cuts it to maxText characters.
func text(s, def string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		s = def
	}
	if r := []rune(s); len(r) > maxText {
		s = string(r[:maxText])
	}
	return s
}

// names returns the payee's first and last name, splitting Name at its
// last space when the sheet gave only that.
func names(l *batch.Line) (first, last string) {
	first, last = strings.TrimSpace(l.FirstName), strings.TrimSpace(l.LastName)
	if first != "" && last != "" {
		return first, last
	}
	n := strings.Join(strings.Fields(l.Name), " ")
	if i := strings.LastIndexByte(n, ' '); i > 0 {
		return n[:i], n[i+1:]
	}
	return first, last
}

// sendData is the data of a successful send-money response.
type sendData struct {
	RequestID   string               `json:"requestId"`
	Amount      providers.Amount     `json:"amount"`
	PhoneNumber providers.FlexString `json:"phoneNumber"`
	Status      string               `json:"status"`
}

// Send pays the chunk's one line with one send-money request, after the
// per-phone interval and the global rate allow it. It returns the
// requestId as the reference. A wait that fails (context ended, or its
// deadline comes before the turn) means nothing was sent: the error wraps
// batch.ErrTransient and the context error.
func (c *Client) Send(ctx context.Context, chunk batch.Chunk) (batch.Accepted, error) {
	payload, line, err := c.buildRequest(chunk)
	if err != nil {
		return batch.Accepted{}, err
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return batch.Accepted{}, c.fail(batch.ErrRejected, "send", "encode request", err)
	}
	notSent := func(err error) error {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return c.fail(batch.ErrTransient, "send", "not sent: waiting for the rate limit", err)
	}
	// Get the token first, so that the request leaves right after its turn.
	if _, err := c.conn.Tokens.Get(ctx, ""); err != nil {
		return batch.Accepted{}, err
	}
	if err := c.cfg.Pacer.Depart(ctx); err != nil {
		return batch.Accepted{}, notSent(err)
	}
	resp, rbody, err := c.conn.Authorized(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+c.prefix+"/send-money", bytes.NewReader(body))
		if err != nil {
			return nil, c.fail(batch.ErrRejected, "send", "build request", err)
		}
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	}, func() error {
		if err := c.cfg.Pacer.Depart(ctx); err != nil {
			return notSent(err)
		}
		return nil
	})
	if cerr := providers.Classify(batch.KiotaPay, "send", resp, rbody, err); cerr != nil {
		return batch.Accepted{}, cerr
	}
	if resp == nil {
		return batch.Accepted{}, err
	}
	unknown := func(msg string, err error) (batch.Accepted, error) {
		return batch.Accepted{}, &providers.Error{Kind: batch.ErrOutcomeUnknown, Provider: batch.KiotaPay, Op: "send",
			StatusCode: resp.StatusCode, Message: msg, Err: err}
	}
	if err != nil {
		return unknown("reading the response", err)
	}
	var env envelope
	if err := json.Unmarshal(rbody, &env); err != nil {
		return unknown("undecodable success response", err)
	}
	if env.Status != 0 && env.Status != 200 && env.Status != 201 {
		return unknown(fmt.Sprintf("HTTP %d with body status %d (%s)", resp.StatusCode, env.Status, env.Message), nil)
	}
	var d sendData
	if len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return unknown("undecodable success data", err)
		}
	}
	if strings.TrimSpace(d.RequestID) == "" {
		return unknown("accepted without a requestId: the payout cannot be tracked", nil)
	}
	c.conn.Log.DebugContext(ctx, "kiotapay send-money accepted", "line", line.Reference, "phone", line.Dest.Phone, "request_id", d.RequestID)
	return batch.Accepted{Reference: d.RequestID}, nil
}

// StatusResult is the answer of send-money/status (and the callback body).
type StatusResult struct {
	RequestID   string               `json:"requestId"`
	PhoneNumber providers.FlexString `json:"phoneNumber"`
	Status      string               `json:"status"`
	Amount      providers.Amount     `json:"amount"`
}

// Record is a full send-money record from send-money/single or /all.
type Record struct {
	ID                       providers.FlexString `json:"id"`
	UUID                     string               `json:"uuid"` // the requestId
	PhoneNumber              providers.FlexString `json:"phoneNumber"`
	Amount                   providers.Amount     `json:"amount"`
	Remarks                  string               `json:"remarks"`
	Occasion                 string               `json:"occasion"`
	ReferenceID              string               `json:"referenceId"`
	OriginatorConversationID string               `json:"originatorConversationId"`
	ConversationID           string               `json:"conversationId"`
	CallbackURL              string               `json:"callbackUrl"`
	CreatedAt                string               `json:"createdAt"` // no zone
	UpdatedAt                string               `json:"updatedAt"`
	Status                   string               `json:"status"`
	ResponseCode             providers.FlexString `json:"responseCode"`
	ReceiverName             string               `json:"receiverName"`
	TransactionReceipt       string               `json:"transactionReceipt"`
}

// get fetches {prefix}/send-money/<path> and decodes its data into out.
func (c *Client) get(ctx context.Context, op, path string, query url.Values, out any) error {
	target := c.base + c.prefix + "/send-money/" + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	resp, body, err := c.conn.Authorized(ctx, func() (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	}, nil)
	if cerr := providers.Classify(batch.KiotaPay, op, resp, body, err); cerr != nil {
		return cerr
	}
	if resp == nil {
		return err
	}
	if err != nil {
		return c.fail(batch.ErrOutcomeUnknown, op, "read response", err)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return c.fail(batch.ErrOutcomeUnknown, op, "decode response", err)
	}
	if len(env.Data) == 0 || bytes.Equal(env.Data, []byte("null")) {
		return c.fail(batch.ErrOutcomeUnknown, op, "response has no data", nil)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return c.fail(batch.ErrOutcomeUnknown, op, "decode data", err)
	}
	return nil
}

// Status asks send-money/status for a request's state.
func (c *Client) Status(ctx context.Context, requestID string) (StatusResult, error) {
	var s StatusResult
	err := c.get(ctx, "status", "status", url.Values{"requestId": {requestID}}, &s)
	return s, err
}

// Single fetches the full record of a request (send-money/single).
func (c *Client) Single(ctx context.Context, requestID string) (Record, error) {
	var r Record
	err := c.get(ctx, "single", "single", url.Values{"requestId": {requestID}}, &r)
	return r, err
}

// All lists every send-money record of the company (send-money/all; no
// paging is documented). Use it to reconcile lines whose requestId was
// never received.
func (c *Client) All(ctx context.Context) ([]Record, error) {
	var rs []Record
	err := c.get(ctx, "all", "all", nil, &rs)
	return rs, err
}

// State maps a KiotaPay status to a line state: SUCCESS is paid, FAILED
// is failed, anything else (PENDING, undocumented values) is still
// accepted. An undocumented status never means paid.
func State(status string) batch.State {
	switch strings.ToUpper(strings.TrimSpace(status)) {
	case "SUCCESS":
		return batch.StatePaid
	case "FAILED":
		return batch.StateFailed
	}
	return batch.StateAccepted
}

// Poll asks send-money/status for the request and returns its one result.
// A paid result carries the M-PESA receipt from send-money/single when
// that call succeeds (it is optional: a failure there is ignored).
func (c *Client) Poll(ctx context.Context, requestID string) ([]batch.Result, error) {
	s, err := c.Status(ctx, requestID)
	if err != nil {
		return nil, err
	}
	if s.RequestID != "" && s.RequestID != requestID {
		return nil, c.fail(batch.ErrOutcomeUnknown, "status", fmt.Sprintf("asked for %s, got %s", requestID, s.RequestID), nil)
	}
	r := batch.Result{
		Reference: requestID,
		Identity:  "mobile_wallet:" + strings.TrimPrefix(string(s.PhoneNumber), "+"),
		Amount:    s.Amount.Money,
		Status:    State(s.Status),
		Source:    "poll",
		Provider:  batch.KiotaPay,
	}
	switch strings.ToUpper(strings.TrimSpace(s.Status)) {
	case "SUCCESS", "FAILED", "PENDING":
	default:
		r.Undocumented = s.Status
	}
	switch r.Status {
	case batch.StatePaid:
		if rec, err := c.Single(ctx, requestID); err == nil {
			r.Receipt = rec.TransactionReceipt
		} else {
			c.conn.Log.DebugContext(ctx, "kiotapay receipt lookup failed", "request_id", requestID, "err", err)
		}
	case batch.StateFailed:
		r.Reason = "KiotaPay status " + s.Status
	}
	return []batch.Result{r}, nil
}

// ParseCallback decodes a KiotaPay callback body {requestId, phoneNumber,
// status, amount}. Callbacks are unsigned: a caller must confirm the
// outcome with Status (or Poll) before changing a line.
func ParseCallback(body []byte) (requestID, status string, amount batch.Money, phone string, err error) {
	var s StatusResult
	if err := json.Unmarshal(body, &s); err != nil {
		return "", "", batch.Money{}, "", fmt.Errorf("kiotapay: callback: %w", err)
	}
	if s.RequestID == "" {
		return "", "", batch.Money{}, "", errors.New("kiotapay: callback has no requestId")
	}
	return s.RequestID, s.Status, s.Amount.Money, strings.TrimPrefix(string(s.PhoneNumber), "+"), nil
}

var (
	_ batch.Sender = (*Client)(nil)
	_ batch.Poller = (*Client)(nil)
)
