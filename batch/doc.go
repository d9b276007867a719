// Package batch is the domain of payroll: money, payees and their
// destinations, the payroll sheet (CSV and XLSX readers, column mapping,
// validation) and planning (routing and chunking into provider requests).
//
// It imports no other package of the project. The ledger, the provider
// clients and the reports implement or consume the types declared here.
//
// # Money
//
// [Money] wraps shopspring/decimal. It is parsed strictly by [ParseMoney]
// (thousands separators accepted; exponents, signs, NaN, currency symbols,
// empty cells and more than two decimals rejected) and is never converted
// to or from a float. Both providers pay whole units: a fractional amount is
// an error unless the config says rounding = "down", and then the difference
// is reported, never hidden.
//
// # Errors
//
// Every problem with a row is a [*RowError] naming the file, the row as the
// user sees it in Excel (the header is row 1), the column and the rule
// broken. Rules are sentinel errors (see errors.go) matched with errors.Is.
// Validation reports every error of a sheet in one pass.
package batch
