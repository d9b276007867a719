package ledger

import (
	"context"
	"path/filepath"
	"testing"

	"payroll/batch"
)

// TestPendingLinesByProvider: a run reads each provider's pending lines
// across pages, in ledger order, and nothing claimed since; the two
// providers' lines together are every pending line, once.
func TestPendingLinesByProvider(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "ledger.db"))
	lines := testLines(3*pageSize + 17)
	mustImport(t, db, "b1", lines, nil)
	mustClaim(t, db, "b1", lines[0].Reference, lines[5].Reference, lines[9].Reference)
	ctx := context.Background()
	seen := map[string]bool{}
	for _, p := range []batch.ProviderName{batch.KopoKopo, batch.KiotaPay} {
		last := 0
		for l, err := range db.PendingLines(ctx, "b1", p) {
			if err != nil {
				t.Fatal(err)
			}
			if l.Provider != p {
				t.Fatalf("%s line %s in the %s lines", l.Provider, l.Reference, p)
			}
			if l.Row <= last {
				t.Fatalf("row %d after row %d: not in ledger order", l.Row, last)
			}
			last = l.Row
			if seen[l.Reference] {
				t.Fatalf("%s read twice", l.Reference)
			}
			seen[l.Reference] = true
		}
	}
	if len(seen) != len(lines)-3 {
		t.Fatalf("%d pending lines read, want %d", len(seen), len(lines)-3)
	}
	for _, ref := range []string{lines[0].Reference, lines[5].Reference, lines[9].Reference} {
		if seen[ref] {
			t.Fatalf("claimed line %s read as pending", ref)
		}
	}
	n := 0
	for _, err := range db.PendingLines(ctx, "b1", "") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != len(seen) {
		t.Fatalf("every provider's pending lines: %d, want %d", n, len(seen))
	}
}
