// Package chaos holds the chaos tests of the real payroll binary: random
// SIGKILLs during `payroll run` and every failpoint (batch.FailpointEnv) ×
// first, middle and last chunk, against `payroll sandbox` running as a
// separate process, with the ledger, the sandbox's record of truth and the
// reports cross-checked after every kill. It has no code of its own; the
// test is skipped unless PAYROLL_CHAOS=1 (scripts/chaos sets it).
package chaos
