//go:build !linux

package ledger

import bolt "go.etcd.io/bbolt"

// releaseMapped is a no-op where madvise of the map is not wired up.
func releaseMapped(*bolt.Tx, string) (int64, error) { return 0, nil }
