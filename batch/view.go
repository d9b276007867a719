package batch

import "time"

// LineView is one line of a batch as the ledger knows it, for reports and
// status: what the sheet asked, what was sent, and where it stands. The
// ledger makes it (LineRecord.View); reports read nothing else.
type LineView struct {
	Row     int         // the row in the latest sheet, as Excel shows it
	Ref     string      // the line's key in the batch
	Line    Line        // what is (or was) paid; zero for an invalid row
	Invalid *InvalidRow // set while the row is invalid
	State   State
	// Attempts is how many times the line was claimed for sending.
	Attempts      int
	ProviderRef   string // of the current attempt
	Receipt       string
	FailureReason string
	// Flags are the ledger's flags of the line (conflicting results,
	// duplicate-allowed, resolved-by-operator, corrected, ...).
	Flags []string
	// SheetChanged: the sheet now asks for something else than what was
	// sent; Changed is the sheet's version when it is valid.
	SheetChanged bool
	Changed      *Line
	SentAt       time.Time // when the current attempt's request went out; zero if never sent
	SettledAt    time.Time // when the line became paid or failed
	Updated      time.Time
	// Extra is the sheet's other columns of the line (header → value), as
	// the last import that had the line gave them.
	Extra map[string]string
}

// Awaiting reports whether the line was sent and waits for its result.
func (v *LineView) Awaiting() bool { return v.State == StateSending || v.State == StateAccepted }
