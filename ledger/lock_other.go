//go:build !unix

package ledger

import "os"

// lockFile is a no-op here: the ledger's own lock (bbolt's) keeps two
// writers apart; only recover relies on the journal's lock.
func lockFile(*os.File) error { return nil }
