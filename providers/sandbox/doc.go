// Package sandbox emulates the Kopo Kopo and KiotaPay payout APIs.
package sandbox
