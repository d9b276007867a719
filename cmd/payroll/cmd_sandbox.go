package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"payroll/providers/sandbox"
)

// sandboxOptions are the flags of `payroll sandbox`: where to listen and
// which faults to inject (each a probability from 0 to 1, applied to both
// providers).
type sandboxOptions struct {
	listen          string
	seed            uint64
	processingDelay time.Duration
	latency, jitter time.Duration
	failSuffixes    []string
	kiotaRate       float64
	kiotaBurst      int
	phoneInterval   time.Duration
	p429, p503      float64
	p500Before      float64
	p500After       float64
	pDrop           float64
	pExpire         float64
	pLost, pDup     float64
	pDelayed        float64
	pForged         float64
	pWrongAmount    float64
}

func (o *sandboxOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on (port 0: a free port)")
	f.Uint64Var(&o.seed, "seed", 1, "seed for ids, receipts and faults (same seed, same faults)")
	f.DurationVar(&o.processingDelay, "processing-delay", 2*time.Second, "time from acceptance to the result")
	f.DurationVar(&o.latency, "latency", 0, "added to every request")
	f.DurationVar(&o.jitter, "jitter", 0, "random extra latency up to this")
	f.StringSliceVar(&o.failSuffixes, "fail-suffix", []string{"999"}, "destinations whose number ends with one of these fail")
	f.Float64Var(&o.kiotaRate, "kiotapay-rate-limit", 0, "KiotaPay send requests per second before 429 (0: none)")
	f.IntVar(&o.kiotaBurst, "kiotapay-burst", 1, "KiotaPay rate-limit burst")
	f.DurationVar(&o.phoneInterval, "kiotapay-phone-interval", 0, "least time between two payouts to one phone (0: not checked)")
	f.Float64Var(&o.p429, "fault-429", 0, "probability of 429 with Retry-After before accepting")
	f.Float64Var(&o.p503, "fault-503", 0, "probability of 503 before accepting")
	f.Float64Var(&o.p500Before, "fault-500-before", 0, "probability of 500 before accepting")
	f.Float64Var(&o.p500After, "fault-500-after", 0, "probability of 500 after accepting (the payout is made)")
	f.Float64Var(&o.pDrop, "fault-drop", 0, "probability of accepting, then dropping the connection")
	f.Float64Var(&o.pExpire, "fault-expire-token", 0, "probability of expiring every token before a request")
	f.Float64Var(&o.pLost, "fault-callback-lost", 0, "probability a callback is never sent")
	f.Float64Var(&o.pDup, "fault-callback-duplicate", 0, "probability a callback is sent twice")
	f.Float64Var(&o.pDelayed, "fault-callback-late", 0, "probability a callback is sent late (reordered)")
	f.Float64Var(&o.pForged, "fault-callback-forged", 0, "probability a forged callback is sent too")
	f.Float64Var(&o.pWrongAmount, "fault-callback-wrong-amount", 0, "probability a callback carries a wrong amount")
}

func (o *sandboxOptions) sandboxOptions() sandbox.Options {
	p := func(x float64) sandbox.Trigger { return sandbox.Trigger{Probability: x} }
	faults := sandbox.Faults{
		Latency: o.latency, Jitter: o.jitter,
		ExpireTokens: p(o.pExpire), RateLimited: p(o.p429), Unavailable: p(o.p503),
		ErrorBefore: p(o.p500Before), ErrorAfter: p(o.p500After), DropAfter: p(o.pDrop),
		CallbackLost: p(o.pLost), CallbackDuplicate: p(o.pDup), CallbackDelayed: p(o.pDelayed),
		CallbackForged: p(o.pForged), CallbackWrongAmount: p(o.pWrongAmount),
	}
	opts := sandbox.Options{
		Seed:            o.seed,
		ProcessingDelay: o.processingDelay,
		FailRule:        sandbox.FailSuffix(o.failSuffixes...),
	}
	opts.KopoKopo.Faults = faults
	opts.KiotaPay.Faults = faults
	opts.KiotaPay.RateLimit = o.kiotaRate
	opts.KiotaPay.Burst = o.kiotaBurst
	opts.KiotaPay.MinPhoneInterval = o.phoneInterval
	return opts
}

func newSandboxCommand(g *globalOptions) *cobra.Command {
	var o sandboxOptions
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the Kopo Kopo and KiotaPay emulators on this machine",
		Long: `sandbox serves faithful emulators of both providers' APIs on one local
address: OAuth and get-token, send money with every documented validation,
status queries, and callbacks (signed for Kopo Kopo). It prints the base URL
and the credentials to export, logs every request, and stops cleanly on
Ctrl-C. Faults are injected with the --fault-* flags; /_sandbox/truth shows
every payout it made.`,
		Example: `  payroll sandbox
  payroll sandbox --listen 127.0.0.1:9090 --latency 200ms --fault-429 0.05 --fault-callback-lost 0.1
  eval "$(payroll sandbox --listen 127.0.0.1:9090 2>/dev/null | grep ^export)"   # in another shell`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSandbox(cmd.Context(), o, g)
		},
	}
	o.addFlags(cmd)
	return cmd
}

func runSandbox(ctx context.Context, o sandboxOptions, g *globalOptions) error {
	err := sandbox.Serve(ctx, sandbox.ServeOptions{Addr: o.listen, Options: o.sandboxOptions()}, g.logger(), g.stdout)
	if err == nil && ctx.Err() != nil {
		return nil // stopped by Ctrl-C: a clean stop
	}
	return err
}
