package batch

import (
	"regexp"
	"strings"
	"testing"
)

// textCases are cells HasControl and isUUID must judge as their
// references do: ASCII, controls at each end, C1 and bidi characters
// after ASCII and after other non-ASCII text, and broken UTF-8.
var textCases = []string{
	"", "Amina Wanjiku", "EMP0000001", "tab\there", "\x00", "end\x7f", "\x1fstart",
	"Zoë", "Zoë\u0085", "a\u0085", "\u202Eevil", "ok\u2066x\u2069", "\u061C", "\u200E\u200F",
	"Müller\u200B", "naïve café", "\xff\xfe", "abc\xc2", "\xc2\x85", "日本\u2028",
	"3f1c0000-0000-4000-8000-000000000000", "3F1C0000-ABCD-4EF0-8123-0123456789AB",
	"3f1c0000-0000-4000-8000-00000000000", "3f1c0000-0000-4000-8000-0000000000000",
	"3f1c0000_0000-4000-8000-000000000000", "3g1c0000-0000-4000-8000-000000000000",
	"3f1c00000000-4000-8000-0000000000000-", " 3f1c0000-0000-4000-8000-00000000000",
	// Eight-byte words: a control in each position, DEL, the bytes next
	// to the limits, and non-ASCII in a word after a clean one.
	"abcdefgh\x00", "abcdefg\x1f", "\x7fbcdefghijklmno", "abcdefghijklmno\x7f", "abcdefghijklmn\x1fp",
	"\x20\x20\x20\x20\x20\x20\x20\x20", "~~~~~~~~~~~~~~~~", "\x7e\x7e\x7e\x7e\x7e\x7e\x7e\x7e\x80",
	"abcdefgh\u202E", "abcdefgh\u00e9\x01", "abcdefghijklmnop\u0085", "!!!!!!!!\x19!!!!!!!",
}

var uuidReference = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func TestHasControlAndIsUUID(t *testing.T) {
	for _, s := range textCases {
		if got, want := HasControl(s), strings.ContainsFunc(s, IsControl); got != want {
			t.Errorf("HasControl(%q) = %v, want %v", s, got, want)
		}
		if got, want := isUUID(s), uuidReference.MatchString(s); got != want {
			t.Errorf("isUUID(%q) = %v, want %v", s, got, want)
		}
	}
	// Every byte value at every position of two eight-byte words and a
	// tail, among ASCII letters and among spaces.
	for _, fill := range []byte{'a', ' ', '~'} {
		for pos := range 19 {
			for c := range 256 {
				b := []byte(strings.Repeat(string(fill), 19))
				b[pos] = byte(c)
				s := string(b)
				if got, want := HasControl(s), strings.ContainsFunc(s, IsControl); got != want {
					t.Fatalf("HasControl(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
	// The cases must exercise both answers of each.
	var ctrl, uuid [2]int
	for _, s := range textCases {
		ctrl[b2i(HasControl(s))]++
		uuid[b2i(isUUID(s))]++
	}
	if ctrl[0] == 0 || ctrl[1] == 0 || uuid[0] == 0 || uuid[1] == 0 {
		t.Fatalf("cases one-sided: control %v, uuid %v", ctrl, uuid)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FuzzTextChecks: HasControl and isUUID agree with their references on
// any input.
func FuzzTextChecks(f *testing.F) {
	for _, s := range textCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := HasControl(s), strings.ContainsFunc(s, IsControl); got != want {
			t.Errorf("HasControl(%q) = %v, want %v", s, got, want)
		}
		if got, want := isUUID(s), uuidReference.MatchString(s); got != want {
			t.Errorf("isUUID(%q) = %v, want %v", s, got, want)
		}
	})
}
