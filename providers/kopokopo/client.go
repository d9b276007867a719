package kopokopo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"payroll/batch"
	"payroll/providers"
)

// DefaultBaseURL is the production API host (docs/providers.md §6: the SDKs and
// community clients use api.kopokopo.com; app.kopokopo.com answers /api/*
// with an HTML 403).
const DefaultBaseURL = "https://api.kopokopo.com"

// DefaultUserAgent is sent when Config.UserAgent is empty. Kopo Kopo's edge
// refuses requests without a User-Agent.
const DefaultUserAgent = "payroll"

// DefaultNetwork is the mobile_wallet network sent when a line has none:
// the only network Kopo Kopo is known to pay.
const DefaultNetwork = "Safaricom"

// DefaultDescription is the destination description sent when a line has
// none (the field is required by Kopo Kopo).
const DefaultDescription = "Payment"

// MaxMetadata is the number of metadata keys Kopo Kopo accepts.
const MaxMetadata = 5

// tokenRefreshFraction: a token is replaced once 90% of its life is gone.
const tokenRefreshFraction = 0.9

// defaultTokenLife is assumed when a token response has no expires_in.
const defaultTokenLife = time.Hour

// Config configures a Client.
type Config struct {
	// BaseURL is the API host, e.g. "https://sandbox.kopokopo.com". Empty
	// means DefaultBaseURL.
	BaseURL string
	// ClientID and ClientSecret are the OAuth client credentials.
	ClientID     string
	ClientSecret string
	// APIKey keys the HMAC of callbacks (see Verify). The client itself
	// does not use it; it is kept here so that one Config describes the
	// account.
	APIKey string
	// SourceIdentifier is the till to pay from; empty sends null (the
	// available balance).
	SourceIdentifier string
	// CallbackURL receives the signed result of every request. Required.
	CallbackURL string
	// UserAgent, e.g. "payroll/1.4.0". Empty means DefaultUserAgent.
	UserAgent string
	// Metadata is added to every request's metadata (e.g. {"batch": id});
	// at most MaxMetadata-2 keys, because Send adds "lines" and "total".
	Metadata map[string]string
	// HTTPClient sends the requests. Nil means providers.NewHTTPClient(0).
	HTTPClient *http.Client
	// Now is the clock for token expiry. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug lines (never secrets or full numbers). Nil
	// discards them.
	Logger *slog.Logger
}

// Client is a Kopo Kopo K2 Connect send_money client. It implements
// batch.Sender and batch.Poller. It is safe for concurrent use.
type Client struct {
	conn *providers.Conn
	base *url.URL
	cfg  Config
}

// New returns a client for cfg. It checks the configuration but makes no
// request.
func New(cfg Config) (*Client, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("kopokopo: client ID and client secret are required")
	}
	if cfg.CallbackURL == "" {
		return nil, errors.New("kopokopo: callback URL is required (every send_money result is posted to it)")
	}
	if len(cfg.Metadata) > MaxMetadata-2 {
		return nil, fmt.Errorf("kopokopo: at most %d metadata keys (Send adds lines and total), got %d", MaxMetadata-2, len(cfg.Metadata))
	}
	for _, k := range []string{"lines", "total"} {
		if _, ok := cfg.Metadata[k]; ok {
			return nil, fmt.Errorf("kopokopo: metadata key %q is reserved", k)
		}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	c := &Client{cfg: cfg}
	conn, err := providers.NewConn("kopokopo", cfg.BaseURL, DefaultBaseURL, cfg.HTTPClient, cfg.Now, cfg.Logger, c.fetchToken)
	if err != nil {
		return nil, err
	}
	conn.Header.Set("User-Agent", cfg.UserAgent)
	c.conn, c.base = conn, conn.Base
	return c, nil
}

func (c *Client) endpoint(path string) string { return c.base.String() + path }

// Location returns the status URL of a send_money request id on this
// client's base URL: the form of the Location header Kopo Kopo returns.
func (c *Client) Location(id string) string {
	return c.endpoint("/api/v2/send_money/" + url.PathEscape(id))
}

func (c *Client) fail(kind error, op, msg string, err error) *providers.Error {
	return &providers.Error{Kind: kind, Provider: batch.KopoKopo, Op: op, Message: msg, Err: err}
}

// tokenResponse is decoded leniently: created_at may be a string or an
// integer (ignored: expiry is measured on our clock from the request
// time), token_type may be missing, expires_in may be a string.
type tokenResponse struct {
	AccessToken string               `json:"access_token"`
	TokenType   providers.FlexString `json:"token_type"`
	ExpiresIn   providers.FlexString `json:"expires_in"`
	CreatedAt   json.RawMessage      `json:"created_at"`
}

// parseToken decodes a token response body into a token obtained at start.
func parseToken(body []byte, start time.Time) (providers.Token, error) {
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return providers.Token{}, fmt.Errorf("token response: %w", err)
	}
	if tr.AccessToken == "" {
		return providers.Token{}, errors.New("token response has no access_token")
	}
	if tt := string(tr.TokenType); tt != "" && !strings.EqualFold(tt, "bearer") {
		return providers.Token{}, fmt.Errorf("token type %q is not Bearer", tt)
	}
	life, err := providers.TokenLife(string(tr.ExpiresIn), defaultTokenLife)
	if err != nil {
		return providers.Token{}, err
	}
	return providers.Token{Value: tr.AccessToken, RefreshAt: providers.RefreshAt(start, life, tokenRefreshFraction)}, nil
}

// fetchToken gets a new OAuth token (client credentials). Any failure is
// batch.ErrTransient: no payout request was made. A 401 here means wrong
// credentials; the message says so.
func (c *Client) fetchToken(ctx context.Context) (providers.Token, error) {
	form := url.Values{
		"client_id":     {c.cfg.ClientID},
		"client_secret": {c.cfg.ClientSecret},
		"grant_type":    {"client_credentials"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint("/oauth/token"), strings.NewReader(form.Encode()))
	if err != nil {
		return providers.Token{}, c.fail(batch.ErrTransient, "token", "build request", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	start := c.conn.Now()
	resp, body, err := providers.Do(c.conn.HTTP, req)
	if cerr := providers.Classify(batch.KopoKopo, "token", resp, body, err); cerr != nil {
		pe := cerr.(*providers.Error)
		pe.Kind = batch.ErrTransient // nothing was paid whatever the token endpoint said
		if pe.StatusCode == http.StatusUnauthorized || pe.StatusCode == http.StatusBadRequest {
			pe.Message = "credentials refused: " + pe.Message
		}
		return providers.Token{}, pe
	}
	if err != nil {
		return providers.Token{}, c.fail(batch.ErrTransient, "token", "read response", err)
	}
	tok, err := parseToken(body, start)
	if err != nil {
		return providers.Token{}, c.fail(batch.ErrTransient, "token", "", err)
	}
	c.conn.Log.DebugContext(ctx, "kopokopo token", "refresh_at", tok.RefreshAt)
	return tok, nil
}

// Send posts the chunk as one send_money request: exactly one attempt
// (plus one resend after a 401, which proves nothing ran). It returns the
// request's Location as the reference. A chunk that cannot be paid as is
// (empty, not KES, a fractional amount, a repeated destination, a missing
// field) is refused with batch.ErrRejected before any HTTP call.
func (c *Client) Send(ctx context.Context, chunk batch.Chunk) (batch.Accepted, error) {
	payload, err := c.buildRequest(chunk)
	if err != nil {
		return batch.Accepted{}, err
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return batch.Accepted{}, c.fail(batch.ErrRejected, "send", "encode request", err)
	}
	resp, rbody, err := c.conn.Authorized(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint("/api/v2/send_money"), bytes.NewReader(body))
		if err != nil {
			return nil, c.fail(batch.ErrRejected, "send", "build request", err)
		}
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	}, nil)
	if cerr := providers.Classify(batch.KopoKopo, "send", resp, rbody, err); cerr != nil {
		return batch.Accepted{}, cerr
	}
	if resp == nil { // token failure
		return batch.Accepted{}, err
	}
	// 2xx: it ran. Only the Location header matters (the body may be {},
	// empty or anything else); a body read error is irrelevant.
	loc := strings.TrimSpace(resp.Header.Get("Location"))
	if loc == "" {
		return batch.Accepted{}, &providers.Error{Kind: batch.ErrOutcomeUnknown, Provider: batch.KopoKopo, Op: "send",
			StatusCode: resp.StatusCode, Message: "accepted without a Location header: the request cannot be tracked"}
	}
	if u, perr := resp.Request.URL.Parse(loc); perr == nil {
		loc = u.String()
	}
	c.conn.Log.DebugContext(ctx, "kopokopo send_money accepted", "lines", len(chunk.Lines), "location", loc)
	return batch.Accepted{Reference: loc}, nil
}

// Poll fetches the send_money document at location (the reference Send
// returned; a bare id is accepted too) and maps its disbursements to
// results (see ParseResult). A Scheduled document gives no results.
func (c *Client) Poll(ctx context.Context, location string) ([]batch.Result, error) {
	target := location
	if !strings.Contains(location, "/") {
		target = c.Location(location)
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, c.fail(batch.ErrRejected, "poll", fmt.Sprintf("reference %q is not a status URL", location), err)
	}
	resp, body, err := c.conn.Authorized(ctx, func() (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	}, nil)
	if cerr := providers.Classify(batch.KopoKopo, "poll", resp, body, err); cerr != nil {
		return nil, cerr
	}
	if resp == nil {
		return nil, err
	}
	if err != nil {
		return nil, c.fail(batch.ErrOutcomeUnknown, "poll", "read response", err)
	}
	doc, err := decodeDocument(body)
	if err != nil {
		return nil, c.fail(batch.ErrOutcomeUnknown, "poll", "decode document", err)
	}
	results := doc.results(location, "poll")
	c.conn.Log.DebugContext(ctx, "kopokopo poll", "status", doc.status(), "results", len(results))
	return results, nil
}

var (
	_ batch.Sender = (*Client)(nil)
	_ batch.Poller = (*Client)(nil)
)
