package batch

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// TestFastPhoneEnabled fails if a change of libphonenumber's metadata
// turned the fast path off for a region (validation would stay correct,
// but ten times slower).
func TestFastPhoneEnabled(t *testing.T) {
	for _, region := range []string{"KE", "TZ"} {
		r := phoneRules()[region]
		if r == nil {
			_, err := compileRules(region)
			t.Fatalf("%s: no fast path: %v", region, err)
		}
		if !r.trunk0 || !r.bare {
			t.Errorf("%s: trunk0 %v, bare %v; want both", region, r.trunk0, r.bare)
		}
		t.Logf("%s: %d automaton states", region, len(r.dfa.next))
	}
	for _, in := range []string{"0712345678", "712345678", "254712345678", "+254 712 345 678", "00254712345678", "0110 123-456"} {
		if _, _, ok := fastPhone(in, "KE", true); !ok {
			t.Errorf("fastPhone(%q, KE) took the slow path", in)
		}
	}
}

// TestDigitDFAMatchesRegexp compares the automaton with package regexp on
// the regions' own patterns, over random digit strings.
func TestDigitDFAMatchesRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	for _, md := range coll.GetMetadata() {
		if md.GetId() != "KE" && md.GetId() != "TZ" {
			continue
		}
		descs := []*phonenumbers.PhoneNumberDesc{
			md.GetGeneralDesc(), md.GetPremiumRate(), md.GetTollFree(), md.GetSharedCost(), md.GetVoip(),
			md.GetPersonalNumber(), md.GetPager(), md.GetUan(), md.GetVoicemail(), md.GetFixedLine(), md.GetMobile(),
		}
		var pats []string
		var res []*regexp.Regexp
		for _, d := range descs {
			pats = append(pats, d.GetNationalNumberPattern())
			res = append(res, regexp.MustCompile("^(?:"+d.GetNationalNumberPattern()+")$"))
		}
		a, err := buildDigitDFA(pats)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 200_000 {
			n := 1 + i%13
			b := make([]byte, n)
			for j := range b {
				b[j] = byte('0' + rng.IntN(10))
			}
			if i%3 == 0 { // bias towards the interesting heads
				copy(b, fmt.Sprint(100+rng.IntN(900)))
			}
			mask, ok := a.run(b)
			if !ok {
				t.Fatalf("run(%s) not ok", b)
			}
			for k, re := range res {
				if got, want := mask&(1<<k) != 0, re.MatchString(string(b)); got != want {
					t.Fatalf("%s pattern %d %q on %s: automaton %v, regexp %v", md.GetId(), k, pats[k], b, got, want)
				}
			}
		}
	}
}

// TestFastPhoneMatchesLibrary: wherever the fast path answers, the library
// gives the same number and carrier; and parsePhone gives exactly what the
// library path gives (number, carrier and error) for every input. The
// inputs are every three-digit head of a nine-digit national number with
// random tails, written in every usual way, for both regions, plus other
// lengths and odd writings.
func TestFastPhoneMatchesLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tails, headStep, odd := 3, 1, 40
	switch {
	case raceEnabled: // this test is about equivalence, not races
		tails, headStep, odd = 1, 7, 5
	case testing.Short():
		tails = 1
	}
	var inputs []string
	forms := func(nsn string) []string {
		sp := nsn
		if len(nsn) == 9 {
			sp = nsn[:3] + " " + nsn[3:6] + " " + nsn[6:]
		}
		out := []string{"0" + nsn, nsn, "+" + nsn, "0" + sp, "(0" + nsn[:min(3, len(nsn))] + ")-" + nsn[min(3, len(nsn)):]}
		for _, cc := range []string{"254", "255", "1"} {
			out = append(out, cc+nsn, "+"+cc+nsn, "+"+cc+" "+sp, "00"+cc+nsn, "+"+cc+"0"+nsn, "0"+cc+nsn)
		}
		return out
	}
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	for head := 100; head <= 999; head += headStep {
		for range tails {
			inputs = append(inputs, forms(fmt.Sprint(head)+digits(6))...)
		}
	}
	for _, n := range []int{1, 2, 5, 6, 7, 8, 10, 11, 12, 13, 15} {
		for range odd * tails {
			inputs = append(inputs, forms(fmt.Sprint(1+rng.IntN(9))+digits(n-1))...)
		}
	}
	inputs = append(inputs, "", "+", "0", "00", "000", "0000712345678", "++254712345678", "+0712345678",
		"0712\u00a0345\u00a0678", "0712\u2009345678", "０７１２３４５６７８", "0712345678 ext 12", "tel:+254712345678",
		"254 0712 345 678", "+254-7-1-2-3-4-5-6-7-8", "0712.345.678", "\t0712345678\n", "0712345678;", "07123456789012345678")

	fast, valid := 0, 0
	for _, region := range []string{"KE", "TZ"} {
		for _, in := range inputs {
			lp, lc, lerr := libraryPhone(in, region, true)
			if lerr == nil {
				valid++
			}
			if p, c, ok := fastPhone(in, region, true); ok {
				fast++
				if lerr != nil || p != lp || c != lc {
					t.Fatalf("%s %q: fast path %s %q; library %s %q %v", region, in, p.Digits(), c, lp.Digits(), lc, lerr)
				}
			}
			p, c, err := parsePhone(in, region, true)
			if p != lp || c != lc || !errors.Is(err, lerr) && !(err == nil && lerr == nil) {
				t.Fatalf("%s %q: parsePhone %s %q %v; library %s %q %v", region, in, p.Digits(), c, err, lp.Digits(), lc, lerr)
			}
		}
	}
	t.Logf("%d inputs × 2 regions, %d valid, %d answered by the fast path", len(inputs), valid, fast)
	if fast < valid*8/10 {
		t.Errorf("the fast path answered %d of %d valid inputs", fast, valid)
	}
}

func BenchmarkParsePhone(b *testing.B) {
	for _, in := range []string{"0712345678", "+255 654 123 456"} {
		region := "KE"
		if strings.HasPrefix(in, "+255") {
			region = "TZ"
		}
		b.Run("fast/"+in, func(b *testing.B) {
			for b.Loop() {
				parsePhone(in, region, true)
			}
		})
		b.Run("library/"+in, func(b *testing.B) {
			for b.Loop() {
				libraryPhone(in, region, true)
			}
		})
	}
}

// FuzzFastPhone: parsePhone (fast path first) and the library path agree
// on every input.
func FuzzFastPhone(f *testing.F) {
	for _, s := range []string{"0712345678", "+254 712 345 678", "254712345678", "00254712345678", "712345678", "0110123456",
		"0654123456", "+255 654 123 456", "255744123456", "0201234567", "0712345678x", "+2540712345678", "0"} {
		f.Add(s, "KE")
		f.Add(s, "TZ")
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		if region != "KE" && region != "TZ" {
			region = "KE"
		}
		p, c, err := parsePhone(s, region, true)
		lp, lc, lerr := libraryPhone(s, region, true)
		if p != lp || c != lc || !errors.Is(err, lerr) && !(err == nil && lerr == nil) {
			t.Fatalf("%s %q: parsePhone %s %q %v; library %s %q %v", region, s, p.Digits(), c, err, lp.Digits(), lc, lerr)
		}
	})
}
