package batch

import "unicode"

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
