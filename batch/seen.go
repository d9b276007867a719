package batch

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"math/bits"
)

// seenIndex remembers the first row of each key (a reference, or a payee
// fingerprint) for the cross-row checks, in about 15 bytes a key instead
// of a map[string]int's 80 or more: a 1,000,000-row sheet needs two of
// them.
//
// Keys are kept as 64-bit hashes (maphash, seeded per validation), not as
// strings, so two different keys collide with probability about n²/2⁶⁵:
// 3·10⁻⁸ for a million rows. A collision can only make a row look like a
// duplicate (rejected, never paid twice), and the next validation draws a
// new seed.
//
// Every entry is a hash in a dense array that grows in fixed chunks (no
// copying), found through an open-addressing table whose slots are a
// 1-byte tag and a 3-byte entry number (4 bytes past 16 million slots)
// side by side, so that probing rarely touches the entries and adding a
// key touches one random place in the table, not two. An entry's row is
// kept as one byte, its difference from the entry before (rows only grow
// as a sheet is read) with the flag, and the row itself every rowMark
// entries; a row that jumps further, or is replaced (put), is kept
// exactly in a map.
// Rows are read only for a duplicate's message. The memory is off the Go
// heap (allocOffHeap) and must be returned with free.
type seenIndex struct {
	seed     maphash.Seed
	table    []byte         // slot → a tag (0 if empty, else from the hash), then the entry number, little-endian
	width    uint64         // bytes of an entry number: a slot is 1+width bytes
	size     uint64         // slots
	hashes   [][]byte       // entry → hash (uint64), in chunks of seenChunk
	deltas   [][]byte       // entry → (row − previous entry's row) << 1 | flag, or deltaExact
	marks    []uint32       // entry k·rowMark → its packed row
	exact    map[int]uint32 // entry → packed row, where its delta byte is deltaExact
	replaced map[int]uint32 // entry → packed row set by put
	lastRow  uint32         // the row of the last entry added
	n        int            // entries
}

const (
	seenChunkBits = 16
	seenChunk     = 1 << seenChunkBits
	seenMinSize   = 1024
	rowMarkBits   = 8
	rowMark       = 1 << rowMarkBits
	deltaExact    = 0xff
	maxDelta      = 126 // (126 << 1 | 1) < deltaExact
)

func newSeenIndex(seed maphash.Seed) *seenIndex { return &seenIndex{seed: seed} }

// free returns the index's memory; the index is empty afterwards.
func (x *seenIndex) free() {
	freeOffHeap(x.table)
	for _, c := range x.hashes {
		freeOffHeap(c)
	}
	for _, c := range x.deltas {
		freeOffHeap(c)
	}
	*x = seenIndex{seed: x.seed}
}

func (x *seenIndex) hash(s string) uint64 { return maphash.String(x.seed, s) }

func (x *seenIndex) hashBytes(b []byte) uint64 { return maphash.Bytes(x.seed, b) }

func (x *seenIndex) hashAt(e int) uint64 {
	return binary.LittleEndian.Uint64(x.hashes[e>>seenChunkBits][(e&(seenChunk-1))*8:])
}

func (x *seenIndex) delta(e int) byte { return x.deltas[e>>seenChunkBits][e&(seenChunk-1)] }

// rowAt returns entry e's packed row (row << 1 | flag).
func (x *seenIndex) rowAt(e int) uint32 {
	if v, ok := x.replaced[e]; ok {
		return v
	}
	k := e >> rowMarkBits
	v := x.marks[k]
	for j := k<<rowMarkBits + 1; j <= e; j++ {
		if b := x.delta(j); b == deltaExact {
			v = x.exact[j]
		} else {
			v = (v>>1+uint32(b>>1))<<1 | uint32(b&1)
		}
	}
	return v
}

func (x *seenIndex) setRow(e int, v uint32) {
	if x.replaced == nil {
		x.replaced = map[int]uint32{}
	}
	x.replaced[e] = v
}

func (x *seenIndex) tagAt(i uint64) byte { return x.table[i*(1+x.width)] }

func (x *seenIndex) slotAt(i uint64) int {
	p := x.table[i*(1+x.width)+1:]
	e := uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16
	if x.width == 4 {
		e |= uint32(p[3]) << 24
	}
	return int(e)
}

// setSlot points slot i at entry e with h's tag.
func (x *seenIndex) setSlot(i uint64, h uint64, e int) {
	p := x.table[i*(1+x.width):]
	p[0], p[1], p[2], p[3] = tagOf(h), byte(e), byte(e>>8), byte(e>>16)
	if x.width == 4 {
		p[4] = byte(e >> 24)
	}
}

// home is the first slot to probe for h (h's high bits scaled to size, so
// sizes need not be powers of two); tag is from h's low bits.
func home(h, size uint64) uint64 { hi, _ := bits.Mul64(h, size); return hi }

func tagOf(h uint64) byte { return byte(1 + h%255) }

// peek reads h's home slot and returns its tag, to bring it into cache.
func (x *seenIndex) peek(h uint64) byte {
	if x.size == 0 {
		return 0
	}
	return x.tagAt(home(h, x.size))
}

// find returns the slot holding h, or the empty slot where it would go.
func (x *seenIndex) find(h uint64) (slot uint64, entry int, ok bool) {
	tag := tagOf(h)
	for i := home(h, x.size); ; {
		switch t := x.tagAt(i); {
		case t == 0:
			return i, 0, false
		case t == tag:
			e := x.slotAt(i)
			if x.hashAt(e) == h {
				return i, e, true
			}
		}
		if i++; i == x.size {
			i = 0
		}
	}
}

// insert stores row and flag for h unless h is there already, and returns
// what was there.
func (x *seenIndex) insert(h uint64, row int, flag bool) (firstRow int, firstFlag, found bool) {
	if (x.n+1)*20 > int(x.size)*17 { // load above 0.85
		x.grow()
	}
	slot, e, ok := x.find(h)
	if ok {
		v := x.rowAt(e)
		return int(v >> 1), v&1 == 1, true
	}
	x.add(slot, h, packRow(row, flag))
	return 0, false, false
}

// put stores row and flag for h, replacing what was there.
func (x *seenIndex) put(h uint64, row int, flag bool) {
	if (x.n+1)*20 > int(x.size)*17 {
		x.grow()
	}
	slot, e, ok := x.find(h)
	if ok {
		x.setRow(e, packRow(row, flag))
		return
	}
	x.add(slot, h, packRow(row, flag))
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
	v := x.rowAt(e)
	return int(v >> 1), v&1 == 1, true
}

// add appends an entry and points the empty slot at it.
func (x *seenIndex) add(slot, h uint64, v uint32) {
	e := x.n
	if e&(seenChunk-1) == 0 {
		x.hashes = append(x.hashes, allocOffHeap(seenChunk*8))
		x.deltas = append(x.deltas, allocOffHeap(seenChunk))
	}
	binary.LittleEndian.PutUint64(x.hashes[e>>seenChunkBits][(e&(seenChunk-1))*8:], h)
	row := v >> 1
	b := byte(deltaExact)
	switch {
	case e&(rowMark-1) == 0:
		x.marks = append(x.marks, v) // the mark holds it; the byte is not read
	case row >= x.lastRow && row-x.lastRow <= maxDelta:
		b = byte((row-x.lastRow)<<1 | v&1)
	default:
		if x.exact == nil {
			x.exact = map[int]uint32{}
		}
		x.exact[e] = v
	}
	x.deltas[e>>seenChunkBits][e&(seenChunk-1)] = b
	x.lastRow = row
	x.n++
	x.setSlot(slot, h, e)
}

// grow makes the table 1.5 times larger.
func (x *seenIndex) grow() { x.resize(max(seenMinSize, x.size+x.size/2)) }

// reserve makes room for n entries in all, so that a sheet whose size is
// known early is not rehashed at every growth on the way.
func (x *seenIndex) reserve(n int) {
	size := uint64(n)*20/17 + 1 // load 0.85 at n entries
	if size += size / 16; size > x.size {
		x.resize(size)
	}
}

// resize makes a table of size slots and reinserts every entry from the
// dense arrays.
func (x *seenIndex) resize(size uint64) {
	width := uint64(3)
	if size > 1<<24 { // entry numbers stay below the slot count
		width = 4
	}
	freeOffHeap(x.table)
	x.table, x.size, x.width = allocOffHeap(int(size*(1+width))), size, width
	for e := range x.n {
		h := x.hashAt(e)
		i := home(h, size)
		for x.tagAt(i) != 0 {
			if i++; i == size {
				i = 0
			}
		}
		x.setSlot(i, h, e)
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
