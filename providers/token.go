package providers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Token is a bearer token and the time after which it must not be used.
type Token struct {
	Value     string
	RefreshAt time.Time
}

// TokenCache caches one bearer token and refreshes it one caller at a
// time: concurrent callers that need a new token wait (or give up when
// their context ends) for the single fetch in progress and then share its
// result. No goroutine is started: the caller that finds no valid token
// runs Fetch itself.
type TokenCache struct {
	// Fetch gets a new token; it is called by one caller at a time.
	Fetch func(ctx context.Context) (Token, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	sem chan struct{} // holds one token while a fetch runs
	cur Token         // guarded by sem
}

// NewTokenCache returns a cache that fetches tokens with fetch.
func NewTokenCache(fetch func(ctx context.Context) (Token, error), now func() time.Time) *TokenCache {
	if now == nil {
		now = time.Now
	}
	return &TokenCache{Fetch: fetch, Now: now, sem: make(chan struct{}, 1)}
}

// Get returns a valid token, fetching one if there is none or the cached
// one has reached its refresh time. If stale is not empty it is a token the
// provider just refused (401): Get fetches a new one unless another caller
// already replaced it.
func (c *TokenCache) Get(ctx context.Context, stale string) (string, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.sem }()
	if c.cur.Value != "" && c.cur.Value != stale && c.Now().Before(c.cur.RefreshAt) {
		return c.cur.Value, nil
	}
	c.cur = Token{}
	t, err := c.Fetch(ctx)
	if err != nil {
		return "", err
	}
	if t.Value == "" {
		return "", errors.New("providers: token response has no access token")
	}
	c.cur = t
	return t.Value, nil
}

// Invalidate forgets the cached token if it is tok.
func (c *TokenCache) Invalidate(ctx context.Context, tok string) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	if c.cur.Value == tok {
		c.cur = Token{}
	}
	<-c.sem
}

// TokenLife reads a token response's expires_in (seconds, as text); an
// empty value means def.
func TokenLife(expiresIn string, def time.Duration) (time.Duration, error) {
	if expiresIn == "" {
		return def, nil
	}
	n, err := strconv.ParseFloat(expiresIn, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("token expires_in %q is not a positive number", expiresIn)
	}
	return time.Duration(n * float64(time.Second)), nil
}

// RefreshAt returns the time to stop using a token obtained at start that
// lives life, refreshing at fraction of its life (e.g. 0.9).
func RefreshAt(start time.Time, life time.Duration, fraction float64) time.Time {
	return start.Add(time.Duration(float64(life) * fraction))
}
