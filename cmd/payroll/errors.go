package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"payroll/batch"
	"payroll/reports"
)

// Exit codes (docs/design.md §5).
const (
	exitOK          = 0   // every line paid (or, for validate/plan, the sheet is valid)
	exitError       = 1   // operational error
	exitUsage       = 2   // bad command line or config
	exitInvalid     = 3   // invalid sheet, nothing sent
	exitUnsettled   = 4   // settled with failed, unknown, conflict or skipped lines
	exitPending     = 5   // lines still pending when --wait ran out
	exitLocked      = 11  // ledger locked by another process
	exitInterrupted = 130 // interrupted; state is safe, re-run to resume
)

// exitErr carries an exit code through cobra. A quiet one has already
// told its story (the summary, or the rows of an invalid sheet): main
// prints nothing more.
type exitErr struct {
	code  int
	err   error
	quiet bool
}

func (e *exitErr) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitErr) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitErr{code: code, err: err} }

// quietExit ends with a code whose story the output has already told.
func quietExit(code int) error { return &exitErr{code: code, quiet: true} }

func usageErrorf(format string, a ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, a...))
}

// usageArgs makes an argument validator's errors usage errors (exit 2).
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	if v == nil {
		return nil
	}
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return withCode(exitUsage, err)
		}
		return nil
	}
}

// errInvalidSheet is returned when a sheet has invalid rows; the rows have
// already been printed.
var errInvalidSheet = &exitErr{code: exitInvalid, err: errors.New("the sheet has invalid rows; nothing was sent"), quiet: true}

// exitCode maps an error to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if e, ok := errors.AsType[*exitErr](err); ok {
		return e.code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, batch.ErrConfig):
		return exitUsage
	}
	return exitError
}

// quiet reports whether the error's story was already told.
func quiet(err error) bool {
	e, ok := errors.AsType[*exitErr](err)
	return ok && e.quiet
}

// exitFor is the exit code of a run or settle from the report's verdict
// (docs/design.md §5).
var exitFor = map[reports.Verdict]int{reports.AllPaid: exitOK, reports.Unsettled: exitUnsettled, reports.Pending: exitPending}
