package batch

import (
	"hash/maphash"
	"math"
)

// seenIndex remembers the first row of each key (a reference, or a payee
// fingerprint) for the cross-row checks, in about 16 bytes a key instead
// of a map[string]int's 80 or more: a 1,000,000-row sheet needs two of
// them.
//
// Keys are kept as 64-bit hashes (maphash, seeded per validation), not as
// strings, so two different keys collide with probability about n²/2⁶⁵:
// 3·10⁻⁸ for a million rows. A collision can only make a row look like a
// duplicate (rejected, never paid twice), and the next validation draws a
// new seed. Every entry is a hash and a row in dense arrays that grow in
// fixed chunks (no copying), found through an open-addressing table of
// 4-byte entry numbers, so growing the table costs 4 bytes a slot.
type seenIndex struct {
	seed   maphash.Seed
	slots  []uint32   // entry number + 1; 0 is empty. len is a power of 2
	hashes [][]uint64 // entry → hash, in chunks of seenChunk
	rows   [][]uint32 // entry → row << 1 | flag
	n      int        // entries
}

const (
	seenChunkBits = 16
	seenChunk     = 1 << seenChunkBits
)

func newSeenIndex(seed maphash.Seed) *seenIndex { return &seenIndex{seed: seed} }

func (x *seenIndex) hash(s string) uint64 { return maphash.String(x.seed, s) }

func (x *seenIndex) hashBytes(b []byte) uint64 { return maphash.Bytes(x.seed, b) }

func (x *seenIndex) hashAt(e int) uint64 { return x.hashes[e>>seenChunkBits][e&(seenChunk-1)] }

// find returns the slot holding h, or the empty slot where it would go.
func (x *seenIndex) find(h uint64) (slot int, entry int, ok bool) {
	mask := len(x.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		e := x.slots[i]
		if e == 0 {
			return i, 0, false
		}
		if x.hashAt(int(e-1)) == h {
			return i, int(e - 1), true
		}
	}
}

// get returns the row and flag stored for h.
func (x *seenIndex) get(h uint64) (row int, flag, ok bool) {
	if x.n == 0 {
		return 0, false, false
	}
	_, e, ok := x.find(h)
	if !ok {
		return 0, false, false
	}
	v := x.rows[e>>seenChunkBits][e&(seenChunk-1)]
	return int(v >> 1), v&1 == 1, true
}

// put stores row and flag for h, replacing what was there.
func (x *seenIndex) put(h uint64, row int, flag bool) {
	v := packRow(row, flag)
	if x.n > 0 {
		if _, e, ok := x.find(h); ok {
			x.rows[e>>seenChunkBits][e&(seenChunk-1)] = v
			return
		}
	}
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	e := x.n
	if e&(seenChunk-1) == 0 {
		x.hashes = append(x.hashes, make([]uint64, seenChunk))
		x.rows = append(x.rows, make([]uint32, seenChunk))
	}
	x.hashes[e>>seenChunkBits][e&(seenChunk-1)] = h
	x.rows[e>>seenChunkBits][e&(seenChunk-1)] = v
	x.n++
	slot, _, _ := x.find(h)
	x.slots[slot] = uint32(e + 1)
}

// grow doubles the table and reinserts every entry from the dense arrays.
func (x *seenIndex) grow() {
	size := max(1024, 2*len(x.slots))
	x.slots = nil // let the old table go before the new one is filled
	x.slots = make([]uint32, size)
	mask := size - 1
	for e := range x.n {
		i := int(x.hashAt(e)) & mask
		for x.slots[i] != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = uint32(e + 1)
	}
}

// packRow keeps row numbers below 2³¹ exact; a row past that (a sheet of
// two billion blank lines) is remembered as the largest.
func packRow(row int, flag bool) uint32 {
	r := uint32(min(row, math.MaxUint32>>1)) << 1
	if flag {
		r |= 1
	}
	return r
}
