// Command payroll validates payroll sheets, pays them through Kopo Kopo and
// KiotaPay, and reconciles the results. See the README and docs/design.md §5.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// memoryLimit is the soft limit on the memory the Go runtime manages that
// payroll sets unless GOMEMLIMIT does: past it the collector runs more
// often rather than let the heap grow to twice what is live. What payroll
// holds does not grow with the batch (it streams), except the in-process
// sandbox's record of every payout, about 200 bytes each: a million-line
// sandbox run stays within it at some cost in collector time.
const memoryLimit = 320 << 20

func main() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
