package batch

import (
	"errors"
	"fmt"
	"strings"
)

// Rules broken by a cell or a row. Each is wrapped in a *RowError that says
// where; match with errors.Is.
var (
	ErrRequired           = errors.New("a value is required")
	ErrAmountEmpty        = errors.New("amount is empty")
	ErrAmountFormat       = errors.New("amount is not a plain decimal number")
	ErrAmountExponent     = errors.New("amount uses an exponent; write the number in full")
	ErrAmountSign         = errors.New("amount has a sign; amounts must be positive and unsigned")
	ErrAmountSymbol       = errors.New("amount has a currency symbol or letters; put the currency in the currency column")
	ErrAmountNaN          = errors.New("amount is not a number")
	ErrAmountPrecision    = errors.New("amount has more than 2 decimal places")
	ErrAmountNotPositive  = errors.New("amount must be greater than zero")
	ErrAmountTooLarge     = errors.New("amount has more than 12 digits before the decimal point")
	ErrAmountFraction     = errors.New("provider pays whole units only; amount has cents (set rounding = \"down\" to pay the whole part)")
	ErrAmountBelowMin     = errors.New("amount is below the provider's minimum")
	ErrAmountAboveMax     = errors.New("amount is above the provider's maximum")
	ErrAmountFormula      = errors.New("amount is a formula; a CSV holds text, so export the values")
	ErrAmountDate         = errors.New("amount cell is formatted as a date or time")
	ErrFormulaNoValue     = errors.New("formula has no cached value; open and save the file in Excel first")
	ErrCurrency           = errors.New("currency must be KES (or KSH) or TZS")
	ErrPhoneInvalid       = errors.New("phone number is not a valid number")
	ErrPhoneForeign       = errors.New("phone number is not in the currency's country (KES: Kenya +254, TZS: Tanzania +255)")
	ErrPhoneNotMobile     = errors.New("phone number is not a mobile number")
	ErrNetwork            = errors.New("mobile network is not supported by the provider")
	ErrServiceCode        = errors.New("service_code must be TZ-TIGO-B2C, TZ-AIRTEL-B2C or TZ-HALOTEL-B2C")
	ErrType               = errors.New("type must be mobile_wallet, bank_account, till or paybill")
	ErrTypeUnknown        = errors.New("cannot tell the destination type; fill the type column")
	ErrTypeAmbiguous      = errors.New("row has the fields of more than one destination type; fill the type column to say which is paid")
	ErrTypeProvider       = errors.New("destination type is not supported by the provider")
	ErrProvider           = errors.New("provider must be kopokopo or kiotapay")
	ErrProviderCurrency   = errors.New("provider does not pay in this currency")
	ErrNoRoute            = errors.New("no provider for this currency; set [routing] in the config or fill the provider column")
	ErrNames              = errors.New("TZS payouts need a first and a last name (or a name with at least two words)")
	ErrDuplicateReference = errors.New("reference is used by another row")
	ErrDuplicatePayment   = errors.New("same destination and amount as another row without distinct references; give each row its own reference if both payments are intended")
	ErrTooLong            = errors.New("text is too long")
	ErrControlChars       = errors.New("text contains control or bidirectional-override characters")
	ErrNotUTF8            = errors.New("cell is not valid UTF-8; save the file as UTF-8")
	ErrFieldCount         = errors.New("row has a different number of cells than the header")
	ErrCellTooLarge       = errors.New("cell is larger than the limit")
	ErrTooManyRows        = errors.New("sheet has more rows than the limit (sheet.max_rows)")
	ErrDigits             = errors.New("must contain digits only")
	ErrBranchRef          = errors.New("bank_branch_ref must be the UUID Kopo Kopo shows for the branch")
	ErrAccountNumber      = errors.New("account_number must be 4 to 24 letters or digits")
	ErrPaybillAccount     = errors.New("paybill_account_number must be at most 20 printable characters")
)

// Sheet-level problems: they stop reading before any row is checked.
var (
	ErrEmptySheet      = errors.New("sheet is empty: no header row")
	ErrNoRows          = errors.New("sheet has a header but no rows")
	ErrMissingColumn   = errors.New("required column is missing")
	ErrDuplicateColumn = errors.New("column appears more than once")
	ErrUnknownMapping  = errors.New("[sheet.columns] names a header that is not in the sheet")
	ErrUnknownCanon    = errors.New("[sheet.columns] maps an unknown canonical column")
	ErrNoDestination   = errors.New("sheet has no destination column (phone, account_number, till_number or paybill_number)")
	ErrUnsupportedFile = errors.New("unsupported file type; use .csv or .xlsx")
	ErrSheetNotFound   = errors.New("worksheet not found")
	ErrDirectory       = errors.New("is a directory, not a sheet (give the .csv or .xlsx file inside it)")
	ErrXLSX            = errors.New("cannot read the XLSX file")
)

// RowError is a problem with one cell or row of a sheet.
type RowError struct {
	File   string // the sheet's file name
	Row    int    // the row number as Excel shows it (header = 1); 0 for the whole sheet
	Column string // canonical column name, or "" for the whole row
	Value  string // the offending value when safe to show (never a phone or account number)
	Err    error  // the rule broken
}

func (e *RowError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Row > 0 {
		fmt.Fprintf(&b, "row %d", e.Row)
	} else {
		b.WriteString("sheet")
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ", column %s", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Value != "" {
		fmt.Fprintf(&b, " (%q)", e.Value)
	}
	return b.String()
}

func (e *RowError) Unwrap() error { return e.Err }

// shown trims a value for an error message.
func shown(s string) string {
	const max = 40
	if len(s) > max {
		r := []rune(s)
		if len(r) > max {
			return string(r[:max]) + "…"
		}
	}
	return s
}

func joinErrors(errs []error) error { return errors.Join(errs...) }

// Unjoin flattens an error made by errors.Join (as validation returns) into
// its parts; any other error is returned as a one-element list.
func Unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Unjoin(e)...)
		}
		return out
	}
	return []error{err}
}
