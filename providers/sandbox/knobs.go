package sandbox

import "time"

// Knobs are the settings of `payroll sandbox`, one per flag: the seed, the
// processing delay, latency, failing destinations, KiotaPay's enforced
// rate, and each fault as a probability from 0 to 1 applied to both
// providers.
type Knobs struct {
	Seed                  uint64
	ProcessingDelay       time.Duration
	Latency, Jitter       time.Duration
	FailSuffixes          []string
	KiotaRate             float64
	KiotaBurst            int
	PhoneInterval         time.Duration
	P429, P503            float64
	P500Before, P500After float64
	PDrop, PExpire        float64
	PLost, PDup, PDelayed float64
	PForged, PWrongAmount float64
}

// Options turns the knobs into emulator options.
func (o Knobs) Options() Options {
	p := func(x float64) Trigger { return Trigger{Probability: x} }
	faults := Faults{
		Latency: o.Latency, Jitter: o.Jitter,
		ExpireTokens: p(o.PExpire), RateLimited: p(o.P429), Unavailable: p(o.P503),
		ErrorBefore: p(o.P500Before), ErrorAfter: p(o.P500After), DropAfter: p(o.PDrop),
		CallbackLost: p(o.PLost), CallbackDuplicate: p(o.PDup), CallbackDelayed: p(o.PDelayed),
		CallbackForged: p(o.PForged), CallbackWrongAmount: p(o.PWrongAmount),
	}
	opts := Options{
		Seed:            o.Seed,
		ProcessingDelay: o.ProcessingDelay,
		FailRule:        FailSuffix(o.FailSuffixes...),
	}
	opts.KopoKopo.Faults = faults
	opts.KiotaPay.Faults = faults
	opts.KiotaPay.RateLimit = o.KiotaRate
	opts.KiotaPay.Burst = o.KiotaBurst
	opts.KiotaPay.MinPhoneInterval = o.PhoneInterval
	return opts
}
