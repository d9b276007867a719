package sandbox

import (
	"time"

	"github.com/spf13/pflag"
)

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

// AddFlags binds the knobs to the flags of `payroll sandbox`.
func (k *Knobs) AddFlags(f *pflag.FlagSet) {
	f.Uint64Var(&k.Seed, "seed", 1, "seed for ids, receipts and faults (same seed, same faults)")
	f.DurationVar(&k.ProcessingDelay, "processing-delay", 2*time.Second, "time from acceptance to the result")
	f.DurationVar(&k.Latency, "latency", 0, "added to every request")
	f.DurationVar(&k.Jitter, "jitter", 0, "random extra latency up to this")
	f.StringSliceVar(&k.FailSuffixes, "fail-suffix", []string{"999"}, "destinations whose number ends with one of these fail")
	f.Float64Var(&k.KiotaRate, "kiotapay-rate-limit", 0, "KiotaPay send requests per second before 429 (0: none)")
	f.IntVar(&k.KiotaBurst, "kiotapay-burst", 1, "KiotaPay rate-limit burst")
	f.DurationVar(&k.PhoneInterval, "kiotapay-phone-interval", 0, "least time between two payouts to one phone (0: not checked)")
	f.Float64Var(&k.P429, "fault-429", 0, "probability of 429 with Retry-After before accepting")
	f.Float64Var(&k.P503, "fault-503", 0, "probability of 503 before accepting")
	f.Float64Var(&k.P500Before, "fault-500-before", 0, "probability of 500 before accepting")
	f.Float64Var(&k.P500After, "fault-500-after", 0, "probability of 500 after accepting (the payout is made)")
	f.Float64Var(&k.PDrop, "fault-drop", 0, "probability of accepting, then dropping the connection")
	f.Float64Var(&k.PExpire, "fault-expire-token", 0, "probability of expiring every token before a request")
	f.Float64Var(&k.PLost, "fault-callback-lost", 0, "probability a callback is never sent")
	f.Float64Var(&k.PDup, "fault-callback-duplicate", 0, "probability a callback is sent twice")
	f.Float64Var(&k.PDelayed, "fault-callback-late", 0, "probability a callback is sent late (reordered)")
	f.Float64Var(&k.PForged, "fault-callback-forged", 0, "probability a forged callback is sent too")
	f.Float64Var(&k.PWrongAmount, "fault-callback-wrong-amount", 0, "probability a callback carries a wrong amount")
}
