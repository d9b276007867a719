//go:build linux || darwin || freebsd || netbsd || openbsd

package batch

import "syscall"

// allocOffHeap returns n zeroed bytes of anonymous memory outside the Go
// heap, or from the heap if the system refuses. The duplicate index of a
// large sheet lives there: tens of megabytes the garbage collector never
// needs to scan, and that would otherwise double its heap goal (the peak
// memory of `payroll validate` on a million rows). freeOffHeap returns it.
func allocOffHeap(n int) []byte {
	if n <= 0 {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n)
	}
	return b
}

// freeOffHeap releases memory from allocOffHeap; b must not be used after.
func freeOffHeap(b []byte) {
	if len(b) == 0 {
		return
	}
	if err := syscall.Munmap(b); err != nil {
		// Not from mmap (the heap fallback): the collector frees it.
		return
	}
}
