//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package batch

// allocOffHeap returns n zeroed bytes; on this system, from the Go heap.
func allocOffHeap(n int) []byte { return make([]byte, n) }

// freeOffHeap is a no-op here: the collector frees the memory.
func freeOffHeap([]byte) {}
