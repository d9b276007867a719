package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"strconv"
	"strings"
)

// DestType is the kind of destination a line pays.
type DestType string

// Destination types.
const (
	MobileWallet DestType = "mobile_wallet"
	BankAccount  DestType = "bank_account"
	Till         DestType = "till"
	Paybill      DestType = "paybill"
)

// Replacers are built once: building one per call was 44% of the
// allocation of validating a sheet.
var (
	typeFolder     = strings.NewReplacer(" ", "_", "-", "_")
	providerFolder = strings.NewReplacer(" ", "", "-", "", "_", "")
)

// ParseDestType accepts the canonical names, case-insensitively, with
// spaces or dashes for underscores ("Mobile Wallet" is mobile_wallet).
func ParseDestType(s string) (DestType, error) {
	k := typeFolder.Replace(strings.ToLower(strings.TrimSpace(s)))
	switch DestType(k) {
	case MobileWallet, BankAccount, Till, Paybill:
		return DestType(k), nil
	}
	switch k {
	case "mobile", "mpesa", "m_pesa", "wallet":
		return MobileWallet, nil
	case "bank":
		return BankAccount, nil
	}
	return "", ErrType
}

// ProviderName names a payout provider.
type ProviderName string

// Providers.
const (
	KopoKopo ProviderName = "kopokopo"
	KiotaPay ProviderName = "kiotapay"
)

// ParseProvider accepts "kopokopo" or "kiotapay" in any case, with or
// without spaces or dashes ("Kopo Kopo", "K2" for Kopo Kopo).
func ParseProvider(s string) (ProviderName, error) {
	k := providerFolder.Replace(strings.ToLower(strings.TrimSpace(s)))
	switch k {
	case "kopokopo", "k2", "k2connect":
		return KopoKopo, nil
	case "kiotapay", "kiota":
		return KiotaPay, nil
	}
	return "", ErrProvider
}

// Destination is where a line's money goes. Only the fields of its Type
// are set.
type Destination struct {
	Type           DestType `json:"type"`
	Phone          Phone    `json:"phone,omitempty"`
	Network        string   `json:"network,omitempty"`
	BankBranchRef  string   `json:"bank_branch_ref,omitempty"`
	AccountName    string   `json:"account_name,omitempty"`
	AccountNumber  string   `json:"account_number,omitempty"`
	TillNumber     string   `json:"till_number,omitempty"`
	PaybillNumber  string   `json:"paybill_number,omitempty"`
	PaybillAccount string   `json:"paybill_account_number,omitempty"`
}

// Identity is the destination's unique key: two lines with the same
// identity pay the same wallet or account. Kopo Kopo results are matched to
// lines by identity and amount, so a chunk never holds one identity twice.
func (d Destination) Identity() string {
	switch d.Type {
	case MobileWallet:
		return "mobile_wallet:" + d.Phone.Digits()
	case BankAccount:
		return "bank_account:" + strings.ToLower(d.BankBranchRef) + ":" + d.AccountNumber
	case Till:
		return "till:" + d.TillNumber
	case Paybill:
		return "paybill:" + d.PaybillNumber + ":" + strings.ToUpper(d.PaybillAccount)
	}
	return string(d.Type) + ":?"
}

// Masked returns the destination for display with numbers masked, e.g.
// "2547*****678" or "bank ****6789".
func (d Destination) Masked() string {
	switch d.Type {
	case MobileWallet:
		return d.Phone.String()
	case BankAccount:
		return "bank " + Mask(d.AccountNumber)
	case Till:
		return "till " + d.TillNumber
	case Paybill:
		return "paybill " + d.PaybillNumber + " acct " + Mask(d.PaybillAccount)
	}
	return "?"
}

// Display returns the destination in full, as the reconciliation report
// shows it to the finance team: "254712345678", "<branch> 0123456789",
// "till 555123", "paybill 888880 ACC-1".
func (d Destination) Display() string {
	switch d.Type {
	case MobileWallet:
		return d.Phone.Digits()
	case BankAccount:
		return d.BankBranchRef + " " + d.AccountNumber
	case Till:
		return d.TillNumber
	case Paybill:
		return d.PaybillNumber + " " + d.PaybillAccount
	}
	return ""
}

// Line is one validated payment: a row of the sheet ready to be planned,
// recorded in the ledger and sent.
type Line struct {
	Row        int          `json:"row"`       // row number as Excel shows it (header = 1)
	Reference  string       `json:"reference"` // unique within the batch
	RefDerived bool         `json:"ref_derived,omitempty"`
	Name       string       `json:"name,omitempty"`
	FirstName  string       `json:"first_name,omitempty"`
	LastName   string       `json:"last_name,omitempty"`
	Provider   ProviderName `json:"provider"`
	Dest       Destination  `json:"destination"`
	Currency   Currency     `json:"currency"`
	Amount     Money        `json:"amount"`    // what will be paid
	Requested  Money        `json:"requested"` // what the sheet asked for
	// Provider text fields, with config defaults applied.
	Description string `json:"description,omitempty"`
	Occasion    string `json:"occasion,omitempty"`
	Narration   string `json:"narration,omitempty"`
	ServiceCode string `json:"service_code,omitempty"`
	// AttemptRef is set on a line handed out for sending: the reference
	// of this attempt (see AttemptRef), which a provider that takes a
	// client reference receives instead of the employee reference. The
	// ledger stores it with the attempt, not with the line.
	AttemptRef string `json:"-"`
	// Extra holds the sheet's other columns (Validation.ExtraColumns), for
	// the report only: never sent, not part of the fingerprint.
	Extra []string `json:"extra,omitempty"`
}

// AttemptRef derives the client reference of one attempt at a line: the
// KiotaPay referenceId. It is a function of the batch, the line's
// reference, the attempt's number and its unique ID, so it is the same
// however often the one attempt is looked at (it is committed with the
// intent) and differs for every new attempt, every line and every batch,
// in this ledger or any other. It is 26 to 30 characters of [a-z0-9-]:
// "py" + 20 hex digits of a SHA-256 + "-a" + the attempt number. KiotaPay
// documents no length or alphabet for referenceId; this stays within the
// 36 characters of a UUID and uses no character any API escapes.
func AttemptRef(batchID, ref string, n int, attemptID string) string {
	h := sha256.New()
	for _, s := range []string{"payroll attempt ref v1", batchID, ref, strconv.Itoa(n), attemptID} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "py" + hex.EncodeToString(h.Sum(nil)[:10]) + "-a" + strconv.Itoa(n)
}

// RoundingDiff is what rounding down left unpaid (zero unless the config
// says rounding = "down").
func (l *Line) RoundingDiff() Money { return l.Requested.Sub(l.Amount) }

// Fingerprint identifies what the line pays: destination identity, amount
// and currency. A re-imported line with the same reference and a different
// fingerprint is a changed line.
func (l *Line) Fingerprint() string {
	return l.Dest.Identity() + "|" + l.Amount.String() + "|" + string(l.Currency)
}

// appendFingerprint appends Fingerprint to b without building the string.
func (l *Line) appendFingerprint(b []byte) []byte {
	d := &l.Dest
	switch d.Type {
	case MobileWallet:
		b = append(append(b, "mobile_wallet:"...), d.Phone...)
	case BankAccount:
		b = append(b, "bank_account:"...)
		b = append(append(append(b, strings.ToLower(d.BankBranchRef)...), ':'), d.AccountNumber...)
	case Till:
		b = append(append(b, "till:"...), d.TillNumber...)
	case Paybill:
		b = append(append(append(append(b, "paybill:"...), d.PaybillNumber...), ':'), strings.ToUpper(d.PaybillAccount)...)
	default:
		b = append(append(b, d.Type...), ":?"...)
	}
	b = append(b, '|')
	if c, ok := l.Amount.cents(); ok && c >= 0 {
		b = strconv.AppendInt(b, c/100, 10)
		b = append(b, '.', byte('0'+c%100/10), byte('0'+c%10))
	} else {
		b = append(b, l.Amount.String()...)
	}
	return append(append(b, '|'), l.Currency...)
}

// PayeeKey identifies "this destination, this amount, this currency"
// across batches, for the cross-batch duplicate check.
func (l *Line) PayeeKey() string { return l.Fingerprint() }

// derivedReference builds a line key from destination, amount and
// occurrence when the sheet has no reference column. It is a hash, so no
// phone or account number appears in it.
func derivedReference(l *Line, occurrence int) string {
	sum := sha256.Sum256([]byte(l.Fingerprint()))
	return "auto-" + hex.EncodeToString(sum[:6]) + "-" + strconv.Itoa(occurrence)
}

// Twins groups lines that pay the same destination the same amount in the
// same currency under distinct references (validation refuses such rows
// without distinct references). Groups are in sheet order; lines with no
// twin are left out.
func Twins(lines []Line) [][]*Line {
	// 64-bit hashes keep the index small for a large sheet; a collision
	// can only add a group, which is checked below.
	seed := maphash.MakeSeed()
	at := map[uint64]int{}
	var groups [][]*Line
	var buf []byte
	for i := range lines {
		l := &lines[i]
		buf = l.appendFingerprint(buf[:0])
		fp := maphash.Bytes(seed, buf)
		j, ok := at[fp]
		if !ok {
			j = len(groups)
			at[fp] = j
			groups = append(groups, nil)
		}
		groups[j] = append(groups[j], l)
	}
	var out [][]*Line
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		// Split a (vanishingly rare) hash collision by the fingerprint.
		byFP := map[string][]*Line{}
		var order []string
		for _, l := range g {
			fp := l.Fingerprint()
			if _, ok := byFP[fp]; !ok {
				order = append(order, fp)
			}
			byFP[fp] = append(byFP[fp], l)
		}
		for _, fp := range order {
			if len(byFP[fp]) > 1 {
				out = append(out, byFP[fp])
			}
		}
	}
	return out
}
