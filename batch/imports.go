package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"time"
)

// HashFile is the SHA-256 (hex) of a sheet's bytes, recorded with every
// import.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ImportReport says what an import did.
type ImportReport struct {
	BatchID   string
	Created   bool // the batch is new
	Added     int  // new valid lines, now pending
	Unchanged int  // lines already in the ledger as the sheet has them
	Updated   int  // lines changed in the sheet before anything was sent, updated
	Revived   int  // invalid or cancelled lines back (fixed) in the sheet, now pending
	Conflicts int  // lines changed in the sheet after they were sent: not applied, never sent
	Cancelled int  // lines that left the sheet before they were sent
	Invalid   int  // invalid rows in the sheet (stored as invalid lines)
	Departed  int  // lines that left the sheet after they were sent (kept as they are)
	// Corrected counts lines whose every attempt failed conclusively and
	// whose destination or amount the sheet corrected: pending again, for
	// a new attempt (docs/design.md §3).
	Corrected int
	// ConflictLines lists the conflicts.
	ConflictLines []Conflict
}

// Conflict is a sheet line that changed after it was sent.
type Conflict struct {
	Ref        string
	Row        int
	State      State       // the line's state in the ledger
	Old        Line        // what the ledger has (and may have paid)
	New        *Line       // what the sheet now says, if valid
	NewInvalid *InvalidRow // what the sheet now says, if invalid
}

// Duplicate is a pending line of this batch whose destination, amount and
// currency were accepted, paid, or possibly paid (unknown) by another line
// within the window: in another batch, or in this one under another
// reference (a reference re-typed, a row copied) unless one import set
// both lines (the sheet asked for both).
type Duplicate struct {
	Ref        string // the line in this batch
	Row        int
	OtherBatch string
	OtherRef   string
	OtherRow   int
	OtherState State
	When       time.Time // when the other line reached that state
}
