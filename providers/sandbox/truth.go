package sandbox

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"time"
)

// Status is the final (or current) state of a payout in the record of truth.
type Status string

// Payout states.
const (
	StatusPending Status = "pending"
	StatusPaid    Status = "paid"
	StatusFailed  Status = "failed"
)

// Payout is one accepted payout: what the provider really did, whatever the
// client was told.
type Payout struct {
	Provider Provider `json:"provider"`
	// Reference is the provider's reference: the Kopo Kopo send_money id
	// (the last part of its Location) or the KiotaPay requestId. One Kopo
	// Kopo request holds several payouts with the same Reference.
	Reference string `json:"reference"`
	// Identity names the destination: "mobile_wallet:254712345678",
	// "bank_account:<bank_branch_ref>:<account_number>", "till:<till_number>"
	// or "paybill:<paybill_number>:<paybill_account_number>". KiotaPay phones
	// use "mobile_wallet:<phoneNumber>" too, so a person paid through both
	// providers is one identity.
	Identity string `json:"identity"`
	// Amount is the whole-number amount as a decimal string ("1000").
	Amount string `json:"amount"`
	// Currency is the ISO code: "KES" or "TZS" (KiotaPay's "KSH" is KES).
	Currency string `json:"currency"`
	// ClientReference is the KiotaPay referenceId, if one was sent.
	ClientReference string    `json:"client_reference,omitempty"`
	AcceptedAt      time.Time `json:"accepted_at"`
	Status          Status    `json:"status"`
	SettledAt       time.Time `json:"settled_at,omitzero"`
	// Receipt is the M-PESA style transaction reference of a paid payout
	// (empty for failed payouts and Kopo Kopo bank transfers).
	Receipt string `json:"receipt,omitempty"`
}

// payout is how the record of truth keeps one accepted payout (Truth
// copies it out as a Payout): 80 bytes and the identity, where a Payout
// with its strings is 250. A million-line run keeps a million.
type payout struct {
	identity string
	ref      *string // the provider reference: the request's own, shared by its payouts
	client   *string // the KiotaPay referenceId, if one was sent
	amount   int64   // whole units
	accepted int64   // UnixNano
	settled  int64   // UnixNano; 0 while pending
	prev     *payout // the previous payout with the same payeeHash
	receipt  [receiptLen]byte
	prov     uint8 // index in providerCodes
	status   uint8 // index in statusCodes
	currency uint8 // index in currencyCodes
}

var (
	providerCodes = []Provider{KopoKopo, KiotaPay}
	statusCodes   = []Status{StatusPending, StatusPaid, StatusFailed}
	currencyCodes = []string{"KES", "TZS"}
)

func code[T comparable](codes []T, v T) uint8 {
	i := slices.Index(codes, v)
	if i < 0 {
		panic(fmt.Sprintf("sandbox: no code for %v", v))
	}
	return uint8(i)
}

func (p *payout) provider() Provider { return providerCodes[p.prov] }
func (p *payout) state() Status      { return statusCodes[p.status] }
func (p *payout) setState(st Status) { p.status = code(statusCodes, st) }
func (p *payout) cur() string        { return currencyCodes[p.currency] }

// newPayout is an accepted, pending payout.
func newPayout(prov Provider, ref *string, identity string, amount int64, currency string, accepted time.Time) payout {
	return payout{identity: identity, ref: ref, amount: amount, accepted: accepted.UnixNano(),
		prov: code(providerCodes, prov), status: code(statusCodes, StatusPending), currency: code(currencyCodes, currency)}
}

const receiptLen = 11

// setReceipt records a paid payout's receipt (receiptLocked's form).
func (p *payout) setReceipt(r string) {
	if len(r) != receiptLen {
		panic("sandbox: a receipt of " + strconv.Itoa(len(r)) + " characters")
	}
	copy(p.receipt[:], r)
}

func (p *payout) receiptString() string {
	if p.receipt[0] == 0 {
		return ""
	}
	return string(p.receipt[:])
}

func (p *payout) amountString() string { return strconv.FormatInt(p.amount, 10) }

// samePayee reports whether p and q pay the same identity the same amount
// in the same currency.
func (p *payout) samePayee(q *payout) bool {
	return p.identity == q.identity && p.amount == q.amount && p.currency == q.currency
}

// export is p as a Payout.
func (p *payout) export() Payout {
	out := Payout{Provider: p.provider(), Reference: *p.ref, Identity: p.identity, Amount: p.amountString(),
		Currency: p.cur(), AcceptedAt: time.Unix(0, p.accepted), Status: p.state(), Receipt: p.receiptString()}
	if p.client != nil {
		out.ClientReference = *p.client
	}
	if p.settled != 0 {
		out.SettledAt = time.Unix(0, p.settled)
	}
	return out
}

// payoutBlock is how many payouts are allocated together: the record of
// truth of a large run is a few large allocations, and a *payout into a
// block stays valid (blocks never move).
const payoutBlock = 4096

// payeeHash keys the duplicate check's index.
func payeeHash(seed maphash.Seed, p *payout) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	h.WriteString(p.identity)
	var b [9]byte
	binary.LittleEndian.PutUint64(b[:], uint64(p.amount))
	b[8] = p.currency
	h.Write(b[:])
	return h.Sum64()
}

// ViolationKind classifies a client misbehaviour the sandbox detected.
type ViolationKind string

// Violation kinds.
const (
	// ViolationEmptyDestinations: a Kopo Kopo send_money with no
	// destinations, which on the real service sweeps the whole balance.
	ViolationEmptyDestinations ViolationKind = "empty_destinations"
	// ViolationDuplicateInRequest: the same destination identity twice in
	// one Kopo Kopo request.
	ViolationDuplicateInRequest ViolationKind = "duplicate_destination_in_request"
	// ViolationDuplicatePayout: a payout accepted while an earlier payout to
	// the same identity, amount and currency was pending or paid.
	ViolationDuplicatePayout ViolationKind = "duplicate_payout"
	// ViolationReferenceReused: a KiotaPay referenceId sent again.
	ViolationReferenceReused ViolationKind = "reference_id_reused"
	// ViolationRateLimit: a send beyond the configured RateLimit.
	ViolationRateLimit ViolationKind = "rate_limit_exceeded"
	// ViolationPhoneInterval: two accepted payouts to one phone closer than
	// MinPhoneInterval.
	ViolationPhoneInterval ViolationKind = "phone_interval"
	// ViolationMissingUserAgent: a Kopo Kopo request without User-Agent.
	ViolationMissingUserAgent ViolationKind = "missing_user_agent"
)

// Violation is one detected misbehaviour.
type Violation struct {
	Kind     ViolationKind `json:"kind"`
	Provider Provider      `json:"provider"`
	Detail   string        `json:"detail"`
	Time     time.Time     `json:"time"`
}

// SendStats are measurements of one provider's send endpoint.
type SendStats struct {
	// Sends counts authenticated send requests, whatever their outcome.
	Sends int `json:"sends"`
	// Rate is the achieved rate in sends per second between the first and
	// the last send (0 with fewer than two sends).
	Rate float64 `json:"rate"`
	// MaxPerSecond is the largest number of sends seen in any one-second window.
	MaxPerSecond int `json:"max_per_second"`
	// PhoneRepeats counts accepted payouts to a phone that had an earlier
	// accepted payout; MinPhoneSpacing is the smallest gap between two such
	// payouts (meaningless when PhoneRepeats is 0).
	PhoneRepeats    int           `json:"phone_repeats"`
	MinPhoneSpacing time.Duration `json:"min_phone_spacing_ns"`
}

// Stats summarises the sandbox: requests, payouts, violations, measurements.
type Stats struct {
	// Requests counts requests per route pattern, e.g. "POST /api/v2/send_money".
	Requests   map[string]int        `json:"requests"`
	Payouts    int                   `json:"payouts"`
	Paid       int                   `json:"paid"`
	Failed     int                   `json:"failed"`
	Pending    int                   `json:"pending"`
	Violations map[ViolationKind]int `json:"violations"`
	KopoKopo   SendStats             `json:"kopokopo"`
	KiotaPay   SendStats             `json:"kiotapay"`
}

// Truth returns a copy of every accepted payout, in acceptance order.
func (s *Sandbox) Truth() []Payout {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Payout, 0, s.npayouts)
	s.eachPayoutLocked(func(p *payout) { out = append(out, p.export()) })
	return out
}

// eachPayoutLocked calls f for every payout in acceptance order (s.mu held).
func (s *Sandbox) eachPayoutLocked(f func(*payout)) {
	for _, b := range s.blocks {
		for i := range b {
			f(&b[i])
		}
	}
}

// Payouts returns the accepted payouts to identity, in acceptance order.
func (s *Sandbox) Payouts(identity string) []Payout {
	var out []Payout
	for _, p := range s.Truth() {
		if p.Identity == identity {
			out = append(out, p)
		}
	}
	return out
}

// PaidCount returns how many payouts to identity were paid.
func (s *Sandbox) PaidCount(identity string) int {
	n := 0
	for _, p := range s.Payouts(identity) {
		if p.Status == StatusPaid {
			n++
		}
	}
	return n
}

// Violations returns every violation detected so far.
func (s *Sandbox) Violations() []Violation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.viol)
}

// ViolationCount returns how many violations of kind were detected.
func (s *Sandbox) ViolationCount(kind ViolationKind) int {
	n := 0
	for _, v := range s.Violations() {
		if v.Kind == kind {
			n++
		}
	}
	return n
}

// Stats returns the current statistics.
func (s *Sandbox) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Requests: map[string]int{}, Violations: map[ViolationKind]int{}}
	for k, v := range s.requests {
		st.Requests[k] = v
	}
	for _, v := range s.viol {
		st.Violations[v.Kind]++
	}
	s.eachPayoutLocked(func(p *payout) {
		st.Payouts++
		switch p.state() {
		case StatusPaid:
			st.Paid++
		case StatusFailed:
			st.Failed++
		default:
			st.Pending++
		}
	})
	st.KopoKopo = s.prov[KopoKopo].sendStats()
	st.KiotaPay = s.prov[KiotaPay].sendStats()
	return st
}

// violationLocked records a violation. s.mu must be held.
func (s *Sandbox) violationLocked(p Provider, kind ViolationKind, format string, args ...any) {
	v := Violation{Kind: kind, Provider: p, Detail: fmt.Sprintf(format, args...), Time: time.Now()}
	s.viol = append(s.viol, v)
	s.log.Warn("sandbox violation", "kind", kind, "provider", p, "detail", v.Detail)
}

// violation records a violation.
func (s *Sandbox) violation(p Provider, kind ViolationKind, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violationLocked(p, kind, format, args...)
}

// recordLocked adds an accepted payout to the truth, checking for duplicate
// payouts and phone spacing, and returns the stored payout (updated in
// place as it settles). s.mu must be held.
func (s *Sandbox) recordLocked(v payout, phone string) *payout {
	if s.byPayee == nil {
		s.byPayee = map[uint64]*payout{}
		s.seed = maphash.MakeSeed()
	}
	if n := len(s.blocks); n == 0 || len(s.blocks[n-1]) == cap(s.blocks[n-1]) {
		s.blocks = append(s.blocks, make([]payout, 0, payoutBlock))
	}
	b := &s.blocks[len(s.blocks)-1]
	*b = append(*b, v)
	p := &(*b)[len(*b)-1]
	s.npayouts++
	key := payeeHash(s.seed, p)
	for q := s.byPayee[key]; q != nil; q = q.prev {
		if q.samePayee(p) && q.state() != StatusFailed {
			s.violationLocked(p.provider(), ViolationDuplicatePayout,
				"%s %s %d accepted as %s while %s (%s) is %s", p.identity, p.cur(), p.amount, *p.ref, *q.ref, q.provider(), q.state())
			break
		}
	}
	if phone != "" {
		ps := s.prov[p.provider()]
		ph := maphash.String(s.seed, phone)
		if last, ok := ps.lastPhone[ph]; ok {
			gap := time.Duration(p.accepted - last)
			if ps.phoneRepeats == 0 || gap < ps.minSpacing {
				ps.minSpacing = gap
			}
			ps.phoneRepeats++
			if ps.traffic.MinPhoneInterval > 0 && gap < ps.traffic.MinPhoneInterval {
				s.violationLocked(p.provider(), ViolationPhoneInterval, "%s paid again after %s (minimum %s)", phone, gap, ps.traffic.MinPhoneInterval)
			}
		}
		ps.lastPhone[ph] = p.accepted
	}
	p.prev = s.byPayee[key]
	s.byPayee[key] = p
	return p
}

// provState is the run-time state of one emulated provider. Guarded by Sandbox.mu.
type provState struct {
	name     Provider
	lifetime time.Duration
	traffic  Traffic
	tokens   map[string]time.Time // token -> expiry
	faults   Faults
	trig     map[string]*trigState

	bucket     float64
	bucketTime time.Time

	sends        []time.Time
	lastPhone    map[uint64]int64 // phone's hash → UnixNano of its last accepted payout
	phoneRepeats int
	minSpacing   time.Duration
}

func newProvState(name Provider, lifetime time.Duration, t Traffic) *provState {
	if t.Burst <= 0 {
		t.Burst = 1
	}
	return &provState{
		name:      name,
		lifetime:  lifetime,
		traffic:   t,
		tokens:    map[string]time.Time{},
		faults:    t.Faults,
		trig:      map[string]*trigState{},
		bucket:    float64(t.Burst),
		lastPhone: map[uint64]int64{},
	}
}

// allowSend records a send for the measurements and applies the rate limit.
// It returns 0 when the send is allowed, or how long to wait.
func (ps *provState) allowSend(now time.Time) time.Duration {
	ps.sends = append(ps.sends, now)
	if ps.traffic.RateLimit <= 0 {
		return 0
	}
	if !ps.bucketTime.IsZero() {
		ps.bucket += now.Sub(ps.bucketTime).Seconds() * ps.traffic.RateLimit
		ps.bucket = min(ps.bucket, float64(ps.traffic.Burst))
	}
	ps.bucketTime = now
	if ps.bucket >= 1 {
		ps.bucket--
		return 0
	}
	return time.Duration((1 - ps.bucket) / ps.traffic.RateLimit * float64(time.Second))
}

func (ps *provState) sendStats() SendStats {
	st := SendStats{Sends: len(ps.sends), PhoneRepeats: ps.phoneRepeats, MinPhoneSpacing: ps.minSpacing}
	if n := len(ps.sends); n >= 2 {
		if span := ps.sends[n-1].Sub(ps.sends[0]).Seconds(); span > 0 {
			st.Rate = float64(n-1) / span
		}
	}
	lo := 0
	for hi, t := range ps.sends {
		for t.Sub(ps.sends[lo]) >= time.Second {
			lo++
		}
		st.MaxPerSecond = max(st.MaxPerSecond, hi-lo+1)
	}
	return st
}
