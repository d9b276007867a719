package batch_test

import (
	"errors"
	"fmt"

	"payroll/batch"
)

func ExampleParseMoney() {
	for _, s := range []string{"1,000.50", " 75500 ", "1e3", "-12", "12.345", "KES 100"} {
		m, err := batch.ParseMoney(s)
		switch {
		case errors.Is(err, batch.ErrAmountExponent):
			fmt.Printf("%-10q rejected: exponent\n", s)
		case err != nil:
			fmt.Printf("%-10q rejected: %v\n", s, err)
		default:
			fmt.Printf("%-10q = %s (%s)\n", s, m, m.Grouped())
		}
	}
	// Output:
	// "1,000.50" = 1000.50 (1,000.50)
	// " 75500 "  = 75500.00 (75,500.00)
	// "1e3"      rejected: exponent
	// "-12"      rejected: amount has a sign; amounts must be positive and unsigned
	// "12.345"   rejected: amount has more than 2 decimal places
	// "KES 100"  rejected: amount has a currency symbol or letters; put the currency in the currency column
}
