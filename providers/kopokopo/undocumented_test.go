package kopokopo

import (
	"strings"
	"testing"

	"payroll/batch"
)

// An undocumented disbursement status leaves the line pending and is
// marked so that the caller can log it; documented ones are not marked.
func TestUndocumentedStatusIsMarkedAndPending(t *testing.T) {
	doc := func(status string) []byte {
		return []byte(strings.ReplaceAll(`{"data":{"id":"abc","type":"send_money","attributes":{"status":"Processed",
"transfer_batches":[{"status":"STATUS","amount":"1000.0","disbursements":[{"amount":"1000.0","status":"STATUS","errors":null,
"destination_type":"mobile_wallet","phone_number":"254712345678","transaction_reference":"QCL1"}]}],
"_links":{"self":"https://sandbox.kopokopo.com/api/v2/send_money/abc"}}}}`, "STATUS", status))
	}
	for _, tt := range []struct {
		status       string
		state        batch.State
		undocumented string
	}{
		{"Transferred", batch.StatePaid, ""},
		{"Failed", batch.StateFailed, ""},
		{"Scheduled", batch.StateAccepted, ""},
		{"Queued", batch.StateAccepted, "Queued"},
		{"PAID_MAYBE", batch.StateAccepted, "PAID_MAYBE"},
	} {
		_, rs, err := ParseResult(doc(tt.status))
		if err != nil || len(rs) != 1 {
			t.Fatalf("%s: %v %v", tt.status, rs, err)
		}
		if rs[0].Status != tt.state || rs[0].Undocumented != tt.undocumented {
			t.Errorf("%s: state %s undocumented %q, want %s %q", tt.status, rs[0].Status, rs[0].Undocumented, tt.state, tt.undocumented)
		}
	}
}
