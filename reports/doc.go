// Package reports writes the reconciliation report of a batch (docs/design.md
// §6): one row per sheet row in sheet order, as CSV, JSON and XLSX, plus
// the terminal summary printed after every run and settle.
//
// CSV and JSON carry exact decimal strings ("1500.00"). The XLSX carries
// amounts as numbers with a money format so that Excel can sum them; the
// exact figures are in the CSV and JSON. Text that a spreadsheet could read
// as a formula (starting with = + - @, a tab or a carriage return) is
// escaped with a leading apostrophe in every format a spreadsheet opens.
// Files are written atomically (temporary file, fsync, rename) with mode
// 0600: they hold phone and account numbers.
package reports
