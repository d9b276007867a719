package kiotapay

import (
	"errors"
	"net/url"
)

// Settings are the keys of [kiotapay] in payroll.toml that only this
// package needs (the domain decodes rate, burst, per_phone_interval and
// limits from the same table). Decode them with
// batch.LoadConfig(path, &settings).
type Settings struct {
	KiotaPay struct {
		BaseURL     string `toml:"base_url"`
		Environment string `toml:"environment"` // "sandbox" (/api/sandbox/v1) or "live" (/api/v1)
	} `toml:"kiotapay"`
}

// DefaultSettings are the documented host and the sandbox environment.
func DefaultSettings() Settings {
	var s Settings
	s.KiotaPay.BaseURL, s.KiotaPay.Environment = DefaultBaseURL, "sandbox"
	return s
}

// Check reports a bad base URL or environment.
func (s *Settings) Check() error {
	var errs []error
	if u, err := url.Parse(s.KiotaPay.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("kiotapay.base_url: must be an absolute http(s) URL"))
	}
	if e := s.KiotaPay.Environment; e != "sandbox" && e != "live" {
		errs = append(errs, errors.New(`kiotapay.environment: must be "sandbox" or "live"`))
	}
	return errors.Join(errs...)
}
