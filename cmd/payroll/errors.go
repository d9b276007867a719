package main

import (
	"context"
	"errors"
	"fmt"

	"payroll/batch"
)

// Exit codes (DESIGN.md §5).
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

// exitErr carries an exit code through cobra.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitErr{code: code, err: err} }

func usageErrorf(format string, a ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, a...))
}

// errInvalidSheet is returned when a sheet has invalid rows; the rows have
// already been printed.
var errInvalidSheet = errors.New("the sheet has invalid rows; nothing was sent")

// exitCode maps an error to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if e, ok := errors.AsType[*exitErr](err); ok {
		return e.code
	}
	switch {
	case errors.Is(err, errInvalidSheet):
		return exitInvalid
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, batch.ErrConfig):
		return exitUsage
	}
	return exitError
}
