package sandbox

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// eat is the zone of Kopo Kopo and KiotaPay timestamps (UTC+3).
var eat = time.FixedZone("EAT", 3*60*60)

// k2Time is the Kopo Kopo timestamp layout, e.g. 2025-09-23T20:05:46.522+03:00.
const k2Time = "2006-01-02T15:04:05.000-07:00"

var (
	k2PhoneRE  = regexp.MustCompile(`^254[0-9]{9}$`)
	uuidRE     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	digitsRE   = regexp.MustCompile(`^[0-9]+$`)
	wholeNumRE = regexp.MustCompile(`^[0-9]+(\.0+)?$`)
)

// k2Request is one accepted send_money request. Its destinations are kept
// as they were sent, one after another, compressed (a request's
// destinations repeat their keys and usually their description: a
// fifth of the size), and parsed again when its document is rendered: a
// record per destination of a large run would be most of the sandbox's
// memory.
type k2Request struct {
	id          string
	createdAt   time.Time
	settledAt   time.Time // every destination's origination_time
	source      json.RawMessage
	metadata    json.RawMessage
	callbackURL string
	self        string
	packed      []byte      // the destinations' JSON, concatenated, DEFLATE-compressed
	dests       []k2DestRec // in request order
	processed   bool
	order       []int // transfer batch order (indexes into dests)

	parsed []*k2Dest // between parsing and acceptance only
}

// k2DestRec is what a request keeps of one destination: where its JSON
// ends in raw, and its payout in the record of truth.
type k2DestRec struct {
	end    int
	payout *payout
}

// destinations returns each destination's JSON as sent.
func (r *k2Request) destinations() []json.RawMessage {
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(r.packed)))
	if err != nil || len(r.dests) > 0 && len(raw) != r.dests[len(r.dests)-1].end {
		panic(fmt.Sprintf("sandbox: request %s: the destinations kept do not read back (%v)", r.id, err))
	}
	out := make([]json.RawMessage, len(r.dests))
	start := 0
	for i, d := range r.dests {
		out[i] = raw[start:d.end:d.end]
		start = d.end
	}
	return out
}

// pack compresses raw, the destinations' JSON, into r.packed with the
// sandbox's reused compressor (s.mu held).
func (s *Sandbox) packLocked(r *k2Request, raw []byte) {
	var b bytes.Buffer
	if s.packer == nil {
		s.packer, _ = flate.NewWriter(&b, flate.BestSpeed)
	} else {
		s.packer.Reset(&b)
	}
	s.packer.Write(raw)
	s.packer.Close()
	r.packed = bytes.Clone(b.Bytes())
}

// k2Dest is one validated destination of a send_money request.
type k2Dest struct {
	raw       json.RawMessage
	typ       string
	identity  string
	amount    int64
	fields    map[string]string // type-specific fields, while parsing
	f         k2Fields          // the same, once parsed: echoed in the disbursement
	nickname  *string
	favourite bool
}

// k2Fields are a destination's type-specific fields.
type k2Fields struct {
	phone, branch, accName, accNum, till, paybill, paybillAcc string
}

func (s *Sandbox) routeKopoKopo() {
	s.mux.HandleFunc("POST /oauth/token", s.k2Token)
	s.mux.HandleFunc("POST /api/v2/send_money", s.k2SendMoney)
	s.mux.HandleFunc("GET /api/v2/send_money/{id}", s.k2Status)
}

// k2Begin applies the edge rules (User-Agent) and the latency fault.
func (s *Sandbox) k2Begin(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("User-Agent") == "" {
		s.violation(KopoKopo, ViolationMissingUserAgent, "%s %s without User-Agent", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusForbidden)
		return false
	}
	return s.latency(KopoKopo, r)
}

// k2Error writes a Kopo Kopo API error body.
func (s *Sandbox) k2Error(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusBadRequest && s.opts.KopoKopo.ErrorsArray {
		writeJSON(w, status, map[string][]string{"errors": {msg}})
		return
	}
	writeJSON(w, status, struct {
		Code    int    `json:"error_code"`
		Message string `json:"error_message"`
	}{status, msg})
}

func (s *Sandbox) k2Token(w http.ResponseWriter, r *http.Request) {
	if !s.k2Begin(w, r) {
		return
	}
	oauthErr := func(status int, code, desc string) {
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	vals := map[string]string{}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			oauthErr(http.StatusBadRequest, "invalid_request", "The request body is not valid JSON.")
			return
		}
		for k, v := range m {
			if str, ok := v.(string); ok {
				vals[k] = str
			}
		}
	} else {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			oauthErr(http.StatusBadRequest, "invalid_request", "The request body is not form-encoded.")
			return
		}
		for k := range q {
			vals[k] = q.Get(k)
		}
	}
	switch {
	case vals["grant_type"] == "":
		oauthErr(http.StatusBadRequest, "invalid_request", "The request is missing a required parameter: grant_type.")
		return
	case vals["grant_type"] != "client_credentials":
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
		return
	case !secretEqual(vals["client_id"], s.creds.KopoKopoClientID) || !secretEqual(vals["client_secret"], s.creds.KopoKopoClientSecret):
		oauthErr(http.StatusUnauthorized, "invalid_client", "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.")
		return
	}
	tok := newToken()
	life := s.issueToken(KopoKopo, tok)
	writeJSON(w, http.StatusOK, struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		CreatedAt   int64  `json:"created_at"`
	}{tok, "Bearer", int64(life / time.Second), time.Now().Unix()})
}

// k2Auth checks the bearer token and answers 401 when it fails.
func (s *Sandbox) k2Auth(w http.ResponseWriter, r *http.Request) bool {
	var msg string
	switch s.authorize(KopoKopo, r) {
	case authOK:
		return true
	case authMissing:
		msg = "InvalidAccessToken: The access token is missing"
	case authInvalid:
		msg = "InvalidAccessToken: The access token is invalid"
	case authExpired:
		msg = "ExpiredAccessToken: The access token expired"
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="Doorkeeper", error="invalid_token"`)
	s.k2Error(w, http.StatusUnauthorized, msg)
	return false
}

func (s *Sandbox) k2SendMoney(w http.ResponseWriter, r *http.Request) {
	if !s.k2Begin(w, r) || !s.k2Auth(w, r) {
		return
	}
	if !s.sendAllowed(KopoKopo, w, s.k2Error) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.k2Error(w, http.StatusBadRequest, "The request body could not be read")
		return
	}
	req, verr := s.k2Parse(body)
	if verr != nil {
		if verr.kind != "" {
			s.violation(KopoKopo, verr.kind, "%s", verr.msg)
		}
		s.k2Error(w, http.StatusBadRequest, verr.msg)
		return
	}
	if s.faultBefore(KopoKopo, w, s.k2Error) {
		return
	}
	base := s.baseURL(r)
	s.k2Accept(req, base)
	if s.faultAfter(KopoKopo, w, s.k2Error) {
		return
	}
	w.Header().Set("Location", req.self)
	w.WriteHeader(http.StatusCreated)
}

// k2Accept records an accepted request and schedules its settlement.
func (s *Sandbox) k2Accept(req *k2Request, base string) {
	s.mu.Lock()
	req.id = s.uuidLocked()
	req.createdAt = time.Now()
	req.self = base + "/api/v2/send_money/" + req.id
	size := 0
	for _, d := range req.parsed {
		size += len(d.raw)
	}
	raw := make([]byte, 0, size)
	req.dests = make([]k2DestRec, len(req.parsed))
	for i, d := range req.parsed {
		raw = append(raw, d.raw...)
		phone := ""
		if d.typ == "mobile_wallet" {
			phone = d.f.phone
		}
		req.dests[i] = k2DestRec{end: len(raw), payout: s.recordLocked(newPayout(KopoKopo, &req.id, d.identity, d.amount, "KES", req.createdAt), phone)}
	}
	req.parsed = nil
	s.packLocked(req, raw)
	s.k2[req.id] = req
	s.mu.Unlock()
	s.after(s.delay, true, func() { s.k2Settle(req.id) })
}

// k2DestRef is the destination_reference of identity: the same for every
// payment to it (Kopo Kopo's recipient), made from the sandbox's seed and
// the identity, so that the sandbox keeps no table of recipients.
func (s *Sandbox) k2DestRef(identity string) string {
	h := sha256.Sum256([]byte(strconv.FormatUint(s.opts.Seed, 10) + "\x00" + identity))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// k2Settle processes a request once: decides each destination's outcome,
// orders the transfer batches and sends the callback.
func (s *Sandbox) k2Settle(id string) {
	s.mu.Lock()
	req := s.k2[id]
	if req == nil || req.processed {
		s.mu.Unlock()
		return
	}
	now := time.Now()
	req.settledAt = now
	for _, d := range req.dests {
		p := d.payout
		p.settled = now.UnixNano()
		if s.failRule(p.identity, p.amountString()) {
			p.setState(StatusFailed)
			continue
		}
		p.setState(StatusPaid)
		if !strings.HasPrefix(p.identity, "bank_account:") {
			p.setReceipt(s.receiptLocked())
		}
	}
	req.order = make([]int, len(req.dests))
	for i := range req.order {
		req.order[i] = i
	}
	s.rng.Shuffle(len(req.order), func(i, j int) { req.order[i], req.order[j] = req.order[j], req.order[i] })
	if len(req.order) > 1 && slices.IsSorted(req.order) {
		// Never in destination order: clients must match by identity.
		req.order = append(req.order[1:], req.order[0])
	}
	req.processed = true
	doc := s.k2DocLocked(req)
	s.mu.Unlock()

	key := []byte(s.creds.KopoKopoAPIKey)
	job := func(d k2Doc, key []byte, note string) callbackJob {
		b, _ := json.Marshal(d)
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("User-Agent", "Kopokopo-Sandbox")
		h.Set(SignatureHeader, Sign(key, b))
		return callbackJob{provider: KopoKopo, url: req.callbackURL, body: b, header: h, note: note}
	}
	s.dispatch(KopoKopo, job(doc, key, "genuine"),
		func() callbackJob {
			return job(doc.transform(func(b *k2Disbursement) {
				if b.Status != "Transferred" {
					b.Status, b.Errors = "Transferred", nil
					r := "FRG0000000"
					b.TransactionReference = &r
				}
			}), []byte("forged:"+s.creds.KopoKopoAPIKey), "forged")
		},
		func() callbackJob {
			return job(doc.transform(func(b *k2Disbursement) { b.Amount = addToAmount(b.Amount, 100) }), key, "wrong_amount")
		})
}

func (s *Sandbox) k2Status(w http.ResponseWriter, r *http.Request) {
	if !s.k2Begin(w, r) || !s.k2Auth(w, r) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	req := s.k2[id]
	due := req != nil && !req.processed && time.Since(req.createdAt) >= s.delay
	s.mu.Unlock()
	if req == nil {
		s.k2Error(w, http.StatusNotFound, "Resource not found")
		return
	}
	if due {
		s.k2Settle(id)
	}
	s.mu.Lock()
	doc := s.k2DocLocked(req)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, doc)
}

// The Kopo Kopo send_money result document, fields in the fixtures' order.
type k2Doc struct {
	Data struct {
		ID         string  `json:"id"`
		Type       string  `json:"type"`
		Attributes k2Attrs `json:"attributes"`
	} `json:"data"`
}

type k2Attrs struct {
	Status           string            `json:"status"`
	CreatedAt        string            `json:"created_at"`
	SourceIdentifier json.RawMessage   `json:"source_identifier"`
	Destinations     []json.RawMessage `json:"destinations"`
	Currency         string            `json:"currency"`
	TransferBatches  []k2Batch         `json:"transfer_batches"`
	Errors           []string          `json:"errors"`
	Metadata         json.RawMessage   `json:"metadata"`
	Links            struct {
		CallbackURL string `json:"callback_url"`
		Self        string `json:"self"`
	} `json:"_links"`
}

type k2Batch struct {
	Status        string           `json:"status"`
	Amount        string           `json:"amount"`
	Disbursements []k2Disbursement `json:"disbursements"`
}

type k2Disbursement struct {
	Amount               string   `json:"amount"`
	Errors               []string `json:"errors"`
	Status               string   `json:"status"`
	Nickname             *string  `json:"nickname"`
	Favourite            bool     `json:"favourite"`
	PhoneNumber          string   `json:"phone_number,omitempty"`
	BankBranchRef        string   `json:"bank_branch_ref,omitempty"`
	AccountName          string   `json:"account_name,omitempty"`
	AccountNumber        string   `json:"account_number,omitempty"`
	TillNumber           string   `json:"till_number,omitempty"`
	PaybillNumber        string   `json:"paybill_number,omitempty"`
	PaybillAccountNumber string   `json:"paybill_account_number,omitempty"`
	DestinationType      string   `json:"destination_type"`
	OriginationTime      string   `json:"origination_time"`
	DestinationReference string   `json:"destination_reference"`
	TransactionReference *string  `json:"transaction_reference"`
}

// k2FailedError is the errors value of a failed disbursement.
const k2FailedError = "The transfer to this destination failed"

// k2DocLocked renders the current document of req. s.mu must be held.
func (s *Sandbox) k2DocLocked(req *k2Request) k2Doc {
	var d k2Doc
	d.Data.ID, d.Data.Type = req.id, "send_money"
	a := &d.Data.Attributes
	a.CreatedAt = req.createdAt.In(eat).Format(k2Time)
	a.Currency = "KES"
	a.Metadata = req.metadata
	a.Links.CallbackURL, a.Links.Self = req.callbackURL, req.self
	if !req.processed {
		a.Status = "Scheduled"
		return d
	}
	a.Status = "Processed"
	a.SourceIdentifier = req.source
	if a.SourceIdentifier == nil {
		a.SourceIdentifier = json.RawMessage("null")
	}
	dests := req.destinations()
	a.Destinations = dests
	for _, i := range req.order {
		p := req.dests[i].payout
		dst, rerr := s.k2ParseDest(dests[i])
		if rerr != nil { // it was parsed when accepted
			panic("sandbox: an accepted destination no longer parses: " + rerr.msg)
		}
		amt := p.amountString() + ".0"
		b := k2Disbursement{
			Amount:               amt,
			Status:               "Transferred",
			Nickname:             dst.nickname,
			Favourite:            dst.favourite,
			PhoneNumber:          dst.f.phone,
			BankBranchRef:        dst.f.branch,
			AccountName:          dst.f.accName,
			AccountNumber:        dst.f.accNum,
			TillNumber:           dst.f.till,
			PaybillNumber:        dst.f.paybill,
			PaybillAccountNumber: dst.f.paybillAcc,
			DestinationType:      dst.typ,
			OriginationTime:      req.settledAt.In(eat).Format(k2Time),
			DestinationReference: s.k2DestRef(p.identity),
		}
		if r := p.receiptString(); r != "" {
			b.TransactionReference = &r
		}
		if p.state() == StatusFailed {
			b.Status, b.Errors = "Failed", []string{k2FailedError}
		}
		a.TransferBatches = append(a.TransferBatches, k2Batch{Status: b.Status, Amount: amt, Disbursements: []k2Disbursement{b}})
	}
	return d
}

// transform returns a copy of d with f applied to every disbursement (and
// each batch's status and amount following its disbursement).
func (d k2Doc) transform(f func(*k2Disbursement)) k2Doc {
	out := d
	a := &out.Data.Attributes
	a.TransferBatches = slices.Clone(a.TransferBatches)
	for i := range a.TransferBatches {
		b := &a.TransferBatches[i]
		b.Disbursements = slices.Clone(b.Disbursements)
		for j := range b.Disbursements {
			f(&b.Disbursements[j])
		}
		b.Status, b.Amount = b.Disbursements[0].Status, b.Disbursements[0].Amount
	}
	return out
}

// addToAmount adds n to a whole-number amount string such as "1000.0".
func addToAmount(amount string, n int64) string {
	v, _ := strconv.ParseInt(strings.TrimSuffix(amount, ".0"), 10, 64)
	return strconv.FormatInt(v+n, 10) + ".0"
}

// reqError is a refused request: the message and, if the client broke a
// rule the sandbox watches, the violation.
type reqError struct {
	msg  string
	kind ViolationKind
}

func refuse(format string, args ...any) *reqError {
	return &reqError{msg: fmt.Sprintf(format, args...)}
}
