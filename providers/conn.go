package providers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Conn is what both provider clients share: the API's base URL, the HTTP
// client, the clock, the logger and the token cache, and the one way an
// authenticated request is sent (Authorized).
type Conn struct {
	Base   *url.URL
	HTTP   *http.Client
	Now    func() time.Time
	Log    *slog.Logger
	Tokens *TokenCache
	// Header is set on every authenticated request (a User-Agent).
	Header http.Header
	name   string
}

// NewConn checks the base URL (def when empty) and fills in the
// defaults: providers.NewHTTPClient(0), time.Now, a discarding logger.
// fetch gets a new token; name ("kopokopo") prefixes errors and logs.
func NewConn(name, baseURL, def string, hc *http.Client, now func() time.Time, log *slog.Logger,
	fetch func(ctx context.Context) (Token, error)) (*Conn, error) {
	if baseURL == "" {
		baseURL = def
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: base URL %q must be an absolute http(s) URL", name, baseURL)
	}
	c := &Conn{Base: u, HTTP: hc, Now: now, Log: log, Header: http.Header{}, name: name}
	if c.HTTP == nil {
		c.HTTP = NewHTTPClient(0)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	c.Tokens = NewTokenCache(fetch, c.Now)
	return c, nil
}

// Authorized sends a request built by build with a bearer token. On a 401
// it gets a new token and sends the request once more (a 401 proves
// nothing ran), after beforeRetry (nil: none) allows it. It returns the
// last exchange.
func (c *Conn) Authorized(ctx context.Context, build func() (*http.Request, error), beforeRetry func() error) (*http.Response, []byte, error) {
	var resp *http.Response
	var body []byte
	var err error
	stale := ""
	for attempt := 0; attempt < 2; attempt++ {
		tok, terr := c.Tokens.Get(ctx, stale)
		if terr != nil {
			return nil, nil, terr
		}
		if attempt > 0 && beforeRetry != nil {
			if err := beforeRetry(); err != nil {
				return nil, nil, err
			}
		}
		req, berr := build()
		if berr != nil {
			return nil, nil, berr
		}
		for k, v := range c.Header {
			req.Header[k] = v
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		resp, body, err = Do(c.HTTP, req)
		if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			break
		}
		c.Log.DebugContext(ctx, c.name+" 401; refreshing the token", "path", req.URL.Path, "attempt", attempt+1)
		stale = tok
	}
	return resp, body, err
}
