package main

import (
	"context"

	"github.com/spf13/cobra"

	"payroll/providers/sandbox"
)

// sandboxOptions are the flags of `payroll sandbox`: where to listen, and
// the emulators' knobs (faults are probabilities from 0 to 1, applied to
// both providers).
type sandboxOptions struct {
	listen  string
	envFile string
	k       sandbox.Knobs
}

func (o *sandboxOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on (port 0: a free port)")
	cmd.Flags().StringVar(&o.envFile, "env-file", "", "also write the credentials' export lines to this file (0600) once listening: `. FILE` in another shell")
	o.k.AddFlags(cmd.Flags())
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
  payroll sandbox --listen 127.0.0.1:9191 --env-file sandbox.env   # then, in another shell:
  . ./sandbox.env && payroll run --config samples/payroll-sandbox.toml samples/payroll-2026-11.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSandbox(cmd.Context(), o, g)
		},
	}
	o.addFlags(cmd)
	return cmd
}

func runSandbox(ctx context.Context, o sandboxOptions, g *globalOptions) error {
	err := sandbox.Serve(ctx, sandbox.ServeOptions{Addr: o.listen, Options: o.k.Options(), EnvFile: o.envFile}, g.logger(), g.stdout)
	if err == nil && ctx.Err() != nil {
		return nil // stopped by Ctrl-C: a clean stop
	}
	return err
}
