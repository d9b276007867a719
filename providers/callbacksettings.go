package providers

// CallbackSettings is [callbacks] in payroll.toml: the URL both providers
// post results to, and where this process listens for them (a reverse
// proxy forwards one to the other).
type CallbackSettings struct {
	Callbacks struct {
		PublicURL string `toml:"public_url"`
		Listen    string `toml:"listen"`
	} `toml:"callbacks"`
}

// DefaultCallbackSettings listens on 127.0.0.1:8080 and has no public URL
// (a real run needs one; --sandbox does not).
func DefaultCallbackSettings() CallbackSettings {
	var s CallbackSettings
	s.Callbacks.Listen = "127.0.0.1:8080"
	return s
}

// Check accepts any value: the listener is checked by binding it.
func (s *CallbackSettings) Check() error { return nil }
