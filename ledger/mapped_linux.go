//go:build linux

package ledger

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// releaseMapped drops this process's page-table entries for the ledger
// file's memory map with madvise(MADV_DONTNEED). bbolt reads every page
// through a read-only shared mapping of the file, and each page a read
// touches stays in the process's resident set: a run over a 1 GB ledger
// would end with 1 GB resident. For a shared file mapping MADV_DONTNEED
// loses nothing: the pages stay in the page cache (and the file), and the
// next read of one faults it back in without I/O.
//
// tx must be a read transaction: it holds bbolt's mmap lock, so the
// mapping cannot be replaced while it is released. The mapping is found
// as the one holding the root bucket's first key (read transactions read
// keys in place from the map), and it is released only if /proc/self/maps
// shows it as a shared mapping of the ledger file itself; anything else
// is left alone. It returns the bytes of address space released.
func releaseMapped(tx *bolt.Tx, path string) (int64, error) {
	k, _ := tx.Cursor().First()
	if len(k) == 0 {
		return 0, nil
	}
	addr := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(k))))
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lo, hi, ok := mapsLine(sc.Bytes(), st.Ino)
		if !ok || addr < lo || addr >= hi {
			continue
		}
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), syscall.MADV_DONTNEED); e != 0 {
			return 0, fmt.Errorf("madvise: %w", e)
		}
		return int64(hi - lo), nil
	}
	return 0, sc.Err()
}

// mapsLine parses one line of /proc/self/maps ("lo-hi perms offset dev
// inode path") and reports its range if it is a shared mapping of inode.
func mapsLine(line []byte, inode uint64) (lo, hi uint64, ok bool) {
	f := bytes.Fields(line)
	if len(f) < 5 {
		return 0, 0, false
	}
	dash := bytes.IndexByte(f[0], '-')
	if dash < 0 || len(f[1]) < 4 || f[1][3] != 's' {
		return 0, 0, false
	}
	lo, err1 := strconv.ParseUint(string(f[0][:dash]), 16, 64)
	hi, err2 := strconv.ParseUint(string(f[0][dash+1:]), 16, 64)
	ino, err3 := strconv.ParseUint(string(f[4]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || ino != inode || hi <= lo {
		return 0, 0, false
	}
	return lo, hi, true
}
