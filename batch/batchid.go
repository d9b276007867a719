package batch

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrBatchID is wrapped by CheckBatchID's errors.
var ErrBatchID = errors.New("batch ID must be 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'")

// MaxBatchID is the longest batch ID.
const MaxBatchID = 64

// CheckBatchID enforces docs/design.md §3: 1–64 ASCII letters, digits, '.', '_'
// or '-', not starting with '.'. A batch ID names the report files, so it
// can never hold a path separator, a control or bidirectional character,
// or be "." or "..".
func CheckBatchID(id string) error {
	if id == "" || len(id) > MaxBatchID || id[0] == '.' || strings.IndexFunc(id, notBatchIDRune) >= 0 {
		return fmt.Errorf("%q: %w", shorten(id, 80), ErrBatchID)
	}
	return nil
}

func notBatchIDRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		return false
	}
	return true
}

// BatchIDFromFile derives the default batch ID from a sheet's file name:
// the name without its extension, every other character replaced by '_',
// a leading '.' dropped, cut to MaxBatchID. It returns "" when nothing
// usable is left (the caller asks for --batch).
func BatchIDFromFile(path string) string {
	name := filepath.Base(path)
	name = strings.TrimSuffix(name, filepath.Ext(name))
	id := strings.Map(func(r rune) rune {
		if notBatchIDRune(r) {
			return '_'
		}
		return r
	}, name)
	id = strings.TrimLeft(id, ".")
	if len(id) > MaxBatchID {
		id = id[:MaxBatchID]
	}
	if CheckBatchID(id) != nil || strings.Trim(id, "_.-") == "" {
		return ""
	}
	return id
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
