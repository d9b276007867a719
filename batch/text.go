package batch

import (
	"strings"
	"unicode"
)

// IsControl reports whether r is a control character (C0, DEL, C1) or a
// Unicode bidirectional formatting character (the marks U+200E, U+200F and
// U+061C, the embeddings and overrides U+202A–U+202E, the isolates
// U+2066–U+2069). Such characters can hide text or make it read in
// another order than it is stored ("Trojan Source"); validation refuses
// them in every cell and reports never write them.
func IsControl(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == 0x061C, r == 0x200E, r == 0x200F:
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// HasControl reports whether s holds a character IsControl refuses. It
// is strings.ContainsFunc(s, IsControl) with the ASCII text of s (all of a
// usual cell) checked eight bytes at a time, without decoding runes: every
// sheet cell is scanned, and decoding was a tenth of validating's time.
func HasControl(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if x&highs != 0 {
			break // a byte of 0x80 or more: decode from here
		}
		// With every byte below 0x80 these are exact: a byte below 0x20,
		// or a byte equal to 0x7f (DEL).
		below := (x - ones*0x20) &^ x & highs
		del := x ^ ones*0x7f
		if below|(del-ones)&^del&highs != 0 {
			return true
		}
	}
	for ; i < len(s); i++ {
		switch b := s[i]; {
		case b >= 0x80: // the rest may hold C1 or bidi controls: decode it
			return strings.ContainsFunc(s[i:], IsControl)
		case b < 0x20, b == 0x7f:
			return true
		}
	}
	return false
}
