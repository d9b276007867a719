package batch

import (
	"fmt"
	"sort"
	"strings"
)

// Column is a canonical column of the payroll sheet (docs/design.md §2).
type Column int

// Canonical columns, in the order the report and errors use.
const (
	ColReference Column = iota
	ColName
	ColFirstName
	ColLastName
	ColType
	ColProvider
	ColPhone
	ColNetwork
	ColBankBranchRef
	ColAccountName
	ColAccountNumber
	ColTillNumber
	ColPaybillNumber
	ColPaybillAccount
	ColAmount
	ColCurrency
	ColDescription
	ColOccasion
	ColNarration
	ColServiceCode
	numColumns
)

var columnNames = [numColumns]string{
	"reference", "name", "first_name", "last_name", "type", "provider",
	"phone", "network", "bank_branch_ref", "account_name", "account_number",
	"till_number", "paybill_number", "paybill_account_number", "amount",
	"currency", "description", "occasion", "narration", "service_code",
}

// String returns the canonical name, e.g. "paybill_account_number".
func (c Column) String() string {
	if c < 0 || c >= numColumns {
		return fmt.Sprintf("Column(%d)", int(c))
	}
	return columnNames[c]
}

// aliases are the headers HR and payroll systems commonly use for each
// canonical column, in normalised form (see normHeader).
var aliases = map[Column][]string{
	ColReference:      {"ref", "employeeid", "employeeno", "employeenumber", "staffid", "staffno", "staffnumber", "empno", "payrollno", "payrollnumber", "payeeid"},
	ColName:           {"fullname", "employeename", "employee", "payee", "payeename", "recipient", "recipientname", "beneficiary", "beneficiaryname"},
	ColFirstName:      {"firstname", "givenname", "forename"},
	ColLastName:       {"lastname", "surname", "familyname"},
	ColType:           {"destinationtype", "paymenttype", "paymentmethod", "method", "channel"},
	ColPhone:          {"phonenumber", "phoneno", "mobile", "mobilenumber", "mobileno", "msisdn", "tel", "telno", "telephone", "mpesa", "mpesanumber", "mpesano", "mpesaphone", "walletnumber", "cellphone", "cellno", "mobilephone"},
	ColNetwork:        {"mno", "operator", "carrier"},
	ColBankBranchRef:  {"branchref", "bankbranch", "branchreference"},
	ColAccountName:    {"bankaccountname", "accountholder"},
	ColAccountNumber:  {"accountno", "bankaccount", "bankaccountnumber", "acctno"},
	ColTillNumber:     {"till", "tillno", "buygoodstill"},
	ColPaybillNumber:  {"paybill", "paybillno", "businessnumber"},
	ColPaybillAccount: {"paybillaccount", "paybillaccountno", "accountreference"},
	ColAmount:         {"netpay", "netsalary", "net", "netamount", "amountpayable", "payamount", "amountdue", "takehome", "takehomepay"},
	ColCurrency:       {"ccy", "currencycode"},
	ColDescription:    {"remarks", "memo", "reason"},
	ColServiceCode:    {"servicecode"},
}

// normHeader folds a header for matching: case-insensitive, ignoring
// spaces, "_", "-", "." and a UTF-8 BOM.
func normHeader(h string) string {
	h = strings.TrimPrefix(h, "\ufeff")
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-', '.', '\t', '\u00a0':
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(h)))
}

var headerIndex = func() map[string]Column {
	m := make(map[string]Column)
	for c := Column(0); c < numColumns; c++ {
		m[normHeader(columnNames[c])] = c
	}
	for c, as := range aliases {
		for _, a := range as {
			m[a] = c
		}
	}
	return m
}()

// ParseColumn returns the canonical column for a canonical name written in
// any case ("Amount", "paybill-account-number").
func ParseColumn(name string) (Column, bool) {
	n := normHeader(name)
	for c := Column(0); c < numColumns; c++ {
		if normHeader(columnNames[c]) == n {
			return c, true
		}
	}
	return 0, false
}

// Mapping says which sheet column (0-based index) holds each canonical
// column; -1 when absent.
type Mapping struct {
	index   [numColumns]int
	headers []string
	extra   []int // the sheet's other named columns (department, cost centre, ...), in order
}

// Extras are the headers of the sheet's columns that map to no canonical
// column: carried through to the report (docs/design.md §6).
func (m *Mapping) Extras() []string {
	out := make([]string, len(m.extra))
	for i, j := range m.extra {
		out[i] = strings.TrimSpace(m.headers[j])
	}
	return out
}

// Has reports whether the sheet has the column.
func (m *Mapping) Has(c Column) bool { return m.index[c] >= 0 }

// Index returns the 0-based position of the column in the sheet, or -1.
func (m *Mapping) Index(c Column) int { return m.index[c] }

// Width is the number of header cells.
func (m *Mapping) Width() int { return len(m.headers) }

// Header returns the sheet's own header for a canonical column.
func (m *Mapping) Header(c Column) string {
	if i := m.index[c]; i >= 0 {
		return m.headers[i]
	}
	return ""
}

// MapHeader matches a sheet's header row to canonical columns. custom is
// [sheet.columns]: canonical name → the sheet's own header; it wins over the
// built-in aliases. Headers that match nothing are ignored. All problems are
// returned, each a *RowError on row 1.
func MapHeader(file string, headers []string, custom map[string]string) (*Mapping, error) {
	m := &Mapping{headers: headers}
	for i := range m.index {
		m.index[i] = -1
	}
	var errs []error
	fail := func(col string, err error, v string) {
		errs = append(errs, &RowError{File: file, Row: 1, Column: col, Value: shown(v), Err: err})
	}

	override := make(map[string]Column, len(custom))
	names := make([]string, 0, len(custom))
	for k := range custom {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, canon := range names {
		c, ok := ParseColumn(canon)
		if !ok {
			fail(canon, ErrUnknownCanon, "")
			continue
		}
		override[normHeader(custom[canon])] = c
	}

	for i, h := range headers {
		n := normHeader(h)
		if n == "" {
			continue
		}
		c, ok := override[n]
		if !ok {
			c, ok = headerIndex[n]
			if !ok {
				// "Net Pay (KES)", "Phone No. [M-PESA]": the name without
				// its qualifier.
				c, ok = headerIndex[normHeader(stripQualifier(h))]
			}
			// A header claimed by [sheet.columns] for another column
			// must not also match its alias.
			if ok {
				if _, mapped := custom[c.String()]; mapped {
					ok = false
				}
			}
		}
		if !ok {
			continue
		}
		if prev := m.index[c]; prev >= 0 {
			fail(c.String(), ErrDuplicateColumn, fmt.Sprintf("%s and %s", headers[prev], h))
			continue
		}
		m.index[c] = i
	}
	for _, canon := range names {
		c, ok := ParseColumn(canon)
		if ok && m.index[c] < 0 {
			fail(c.String(), ErrUnknownMapping, custom[canon])
		}
	}
	mapped := map[int]bool{}
	for _, i := range m.index {
		mapped[i] = true
	}
	seen := map[string]bool{}
	for i, h := range headers {
		h = strings.TrimSpace(h)
		if mapped[i] || h == "" || seen[strings.ToLower(h)] || HasControl(h) {
			continue
		}
		seen[strings.ToLower(h)] = true
		m.extra = append(m.extra, i)
	}
	if m.index[ColAmount] < 0 {
		fail("amount", ErrMissingColumn, "")
	}
	if m.index[ColPhone] < 0 && m.index[ColAccountNumber] < 0 && m.index[ColTillNumber] < 0 && m.index[ColPaybillNumber] < 0 {
		fail("", ErrNoDestination, "")
	}
	if len(errs) > 0 {
		return m, joinErrors(errs)
	}
	return m, nil
}

// Record is one data row of a sheet: its cells by canonical column, before
// validation.
type Record struct {
	Row   int // row number as Excel shows it
	Cells [numColumns]string
	Extra []string // the sheet's other columns (Mapping.Extras), nil when all are empty
}

// Get returns the trimmed cell for a column.
func (r *Record) Get(c Column) string { return strings.TrimSpace(r.Cells[c]) }
