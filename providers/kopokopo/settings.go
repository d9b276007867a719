package kopokopo

import (
	"errors"
	"net/url"
)

// Settings are the keys of [kopokopo] in payroll.toml that only this
// package needs (the domain decodes max_destinations and limits from the
// same table). Decode them with batch.LoadConfig(path, &settings).
type Settings struct {
	KopoKopo struct {
		BaseURL          string `toml:"base_url"`
		SourceIdentifier string `toml:"source_identifier"` // till to pay from; empty: the available balance
	} `toml:"kopokopo"`
}

// DefaultSettings has the production base URL.
func DefaultSettings() Settings {
	var s Settings
	s.KopoKopo.BaseURL = DefaultBaseURL
	return s
}

// Check reports a base URL that is not an absolute http(s) URL.
func (s *Settings) Check() error {
	if u, err := url.Parse(s.KopoKopo.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("kopokopo.base_url: must be an absolute http(s) URL")
	}
	return nil
}
