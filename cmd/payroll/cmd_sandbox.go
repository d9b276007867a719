package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"payroll/providers/sandbox"
)

// sandboxOptions are the flags of `payroll sandbox`: where to listen, and
// the emulators' knobs (faults are probabilities from 0 to 1, applied to
// both providers).
type sandboxOptions struct {
	listen string
	k      sandbox.Knobs
}

func (o *sandboxOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on (port 0: a free port)")
	f.Uint64Var(&o.k.Seed, "seed", 1, "seed for ids, receipts and faults (same seed, same faults)")
	f.DurationVar(&o.k.ProcessingDelay, "processing-delay", 2*time.Second, "time from acceptance to the result")
	f.DurationVar(&o.k.Latency, "latency", 0, "added to every request")
	f.DurationVar(&o.k.Jitter, "jitter", 0, "random extra latency up to this")
	f.StringSliceVar(&o.k.FailSuffixes, "fail-suffix", []string{"999"}, "destinations whose number ends with one of these fail")
	f.Float64Var(&o.k.KiotaRate, "kiotapay-rate-limit", 0, "KiotaPay send requests per second before 429 (0: none)")
	f.IntVar(&o.k.KiotaBurst, "kiotapay-burst", 1, "KiotaPay rate-limit burst")
	f.DurationVar(&o.k.PhoneInterval, "kiotapay-phone-interval", 0, "least time between two payouts to one phone (0: not checked)")
	f.Float64Var(&o.k.P429, "fault-429", 0, "probability of 429 with Retry-After before accepting")
	f.Float64Var(&o.k.P503, "fault-503", 0, "probability of 503 before accepting")
	f.Float64Var(&o.k.P500Before, "fault-500-before", 0, "probability of 500 before accepting")
	f.Float64Var(&o.k.P500After, "fault-500-after", 0, "probability of 500 after accepting (the payout is made)")
	f.Float64Var(&o.k.PDrop, "fault-drop", 0, "probability of accepting, then dropping the connection")
	f.Float64Var(&o.k.PExpire, "fault-expire-token", 0, "probability of expiring every token before a request")
	f.Float64Var(&o.k.PLost, "fault-callback-lost", 0, "probability a callback is never sent")
	f.Float64Var(&o.k.PDup, "fault-callback-duplicate", 0, "probability a callback is sent twice")
	f.Float64Var(&o.k.PDelayed, "fault-callback-late", 0, "probability a callback is sent late (reordered)")
	f.Float64Var(&o.k.PForged, "fault-callback-forged", 0, "probability a forged callback is sent too")
	f.Float64Var(&o.k.PWrongAmount, "fault-callback-wrong-amount", 0, "probability a callback carries a wrong amount")
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
	err := sandbox.Serve(ctx, sandbox.ServeOptions{Addr: o.listen, Options: o.k.Options()}, g.logger(), g.stdout)
	if err == nil && ctx.Err() != nil {
		return nil // stopped by Ctrl-C: a clean stop
	}
	return err
}
