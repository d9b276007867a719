package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kpTime is KiotaPay's record timestamp layout: milliseconds, no zone.
const kpTime = "2006-01-02T15:04:05.000"

// KiotaPay path prefixes. The documented sandbox prefix and the (assumed)
// live one are both served.
const (
	KiotaPaySandboxPrefix = "/api/sandbox/v1"
	KiotaPayLivePrefix    = "/api/v1"
)

var (
	kpPhoneKE = regexp.MustCompile(`^254[17][0-9]{8}$`)
	kpPhoneTZ = regexp.MustCompile(`^255[67][0-9]{8}$`)
	kpAnyRE   = regexp.MustCompile(`^25[45][0-9]{9}$`)
)

// kpServiceCodes are the accepted TZS serviceCode values.
var kpServiceCodes = []string{"TZ-TIGO-B2C", "TZ-AIRTEL-B2C", "TZ-HALOTEL-B2C"}

// kpMaxText bounds remarks, occasion and narration (the limit KiotaPay
// documents for similar fields on its STK and till pages).
const kpMaxText = 100

// kpRecord is one accepted send-money request.
type kpRecord struct {
	id          int
	requestID   string
	phone       string
	amount      int64
	currency    string // KSH or TZS, as sent
	fields      map[string]string
	callbackURL string
	createdAt   time.Time
	updatedAt   time.Time
	origConvID  string
	convID      string
	payout      *payout
}

// kpAmount marshals a whole amount the way KiotaPay prints it: 1000.0.
type kpAmount int64

// MarshalJSON implements json.Marshaler.
func (a kpAmount) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatInt(int64(a), 10) + ".0"), nil
}

func (s *Sandbox) routeKiotaPay() {
	s.mux.HandleFunc("POST "+KiotaPayLivePrefix+"/get-token", s.kpToken)
	for _, pre := range []string{KiotaPaySandboxPrefix, KiotaPayLivePrefix} {
		s.mux.HandleFunc("POST "+pre+"/send-money", s.kpSendMoney)
		s.mux.HandleFunc("GET "+pre+"/send-money/status", s.kpStatus)
		s.mux.HandleFunc("GET "+pre+"/send-money/single", s.kpSingle)
		s.mux.HandleFunc("GET "+pre+"/send-money/all", s.kpAll)
	}
}

// kpError writes a KiotaPay error body.
func kpError(w http.ResponseWriter, status int, code, msg, details string) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details string `json:"details"`
	}
	writeJSON(w, status, map[string]body{"error": {code, msg, details}})
}

// kpFault writes the errors of injected faults and rate limits.
func kpFault(w http.ResponseWriter, status int, msg string) {
	code := map[int]string{
		http.StatusTooManyRequests:     "RATE_LIMIT_EXCEEDED",
		http.StatusServiceUnavailable:  "SERVICE_UNAVAILABLE",
		http.StatusInternalServerError: "INTERNAL_SERVER_ERROR",
	}[status]
	kpError(w, status, code, msg, "")
}

// kpOK writes a KiotaPay success envelope.
func kpOK(w http.ResponseWriter, status int, data any) {
	writeJSON(w, status, struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Data    any    `json:"data"`
	}{status, "Success", data})
}

func (s *Sandbox) kpToken(w http.ResponseWriter, r *http.Request) {
	if !s.latency(KiotaPay, r) {
		return
	}
	var in struct {
		APIKey    *string `json:"apiKey"`
		APISecret *string `json:"apiSecret"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if json.Unmarshal(body, &in) != nil {
		kpError(w, http.StatusBadRequest, "REQ_BAD_REQUEST", "Malformed JSON request body", "")
		return
	}
	switch {
	case in.APIKey == nil || *in.APIKey == "":
		kpError(w, http.StatusBadRequest, "REQ_MISSING_FIELD", "apiKey is required", "apiKey")
		return
	case in.APISecret == nil || *in.APISecret == "":
		kpError(w, http.StatusBadRequest, "REQ_MISSING_FIELD", "apiSecret is required", "apiSecret")
		return
	case !secretEqual(*in.APIKey, s.creds.KiotaPayAPIKey) || !secretEqual(*in.APISecret, s.creds.KiotaPayAPISecret):
		kpError(w, http.StatusForbidden, "AUTH_FORBIDDEN", "Invalid API credentials", "apiKey/apiSecret")
		return
	}
	tok := fakeJWT("RS256", newToken())
	life := s.issueToken(KiotaPay, tok)
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "200 OK",
		"data": map[string]any{
			"access_token":       tok,
			"refresh_token":      fakeJWT("HS256", newToken()),
			"expires_in":         int64(life / time.Second),
			"refresh_expires_in": 1800,
		},
	})
}

// fakeJWT returns an opaque token shaped like a Keycloak JWT.
func fakeJWT(alg, id string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"`+alg+`","typ" : "JWT","kid":"sandbox"}`)) + "." +
		enc([]byte(`{"jti":"`+id+`","iss":"kiotapay-sandbox"}`)) + "." + newToken()
}

// kpAuth checks the bearer token and answers 401 when it fails.
func (s *Sandbox) kpAuth(w http.ResponseWriter, r *http.Request) bool {
	switch s.authorize(KiotaPay, r) {
	case authOK:
		return true
	case authMissing:
		kpError(w, http.StatusUnauthorized, "AUTH_MISSING_TOKEN", "Authorization token is missing", "Authorization header with a Bearer token is required")
	case authExpired:
		kpError(w, http.StatusUnauthorized, "AUTH_INVALID_TOKEN", "Authorization token is invalid or expired", "token expired")
	default:
		kpError(w, http.StatusUnauthorized, "AUTH_INVALID_TOKEN", "Authorization token is invalid or expired", "token invalid")
	}
	return false
}

func (s *Sandbox) kpSendMoney(w http.ResponseWriter, r *http.Request) {
	if !s.latency(KiotaPay, r) || !s.kpAuth(w, r) {
		return
	}
	if !s.sendAllowed(KiotaPay, w, kpFault) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		kpError(w, http.StatusBadRequest, "REQ_BAD_REQUEST", "The request body could not be read", "")
		return
	}
	rec, verr := kpParse(body)
	if verr != nil {
		kpError(w, http.StatusBadRequest, verr.code, verr.msg, verr.field)
		return
	}
	if s.faultBefore(KiotaPay, w, kpFault) {
		return
	}
	s.kpAccept(rec)
	if s.faultAfter(KiotaPay, w, kpFault) {
		return
	}
	kpOK(w, http.StatusCreated, struct {
		RequestID   string   `json:"requestId"`
		Amount      kpAmount `json:"amount"`
		PhoneNumber string   `json:"phoneNumber"`
		Status      string   `json:"status"`
	}{rec.requestID, kpAmount(rec.amount), rec.phone, "PENDING"})
}

// kpAccept records an accepted request and schedules its settlement.
func (s *Sandbox) kpAccept(rec *kpRecord) {
	s.mu.Lock()
	rec.requestID = s.uuidLocked()
	rec.id = s.nextKPID
	s.nextKPID++
	rec.createdAt = time.Now()
	rec.updatedAt = rec.createdAt
	rec.origConvID = s.uuidLocked()
	rec.convID = "AG_" + rec.createdAt.In(eat).Format("20060102") + "_" + strings.ReplaceAll(s.uuidLocked(), "-", "")[:20]
	cur := "KES"
	if rec.currency == "TZS" {
		cur = "TZS"
	}
	payout := newPayout(KiotaPay, &rec.requestID, "mobile_wallet:"+rec.phone, rec.amount, cur, rec.createdAt)
	if ref, ok := rec.fields["referenceId"]; ok && ref != "" {
		payout.client = &ref
	}
	if ref := rec.fields["referenceId"]; ref != "" {
		if prev, ok := s.refIDs[ref]; ok {
			s.violationLocked(KiotaPay, ViolationReferenceReused, "referenceId %q sent again (requests %s and %s)", ref, prev, rec.requestID)
		} else {
			s.refIDs[ref] = rec.requestID
		}
	}
	rec.payout = s.recordLocked(payout, rec.phone)
	s.kp[rec.requestID] = rec
	s.kpOrder = append(s.kpOrder, rec.requestID)
	s.mu.Unlock()
	s.after(s.delay, true, func() { s.kpSettle(rec.requestID) })
}

// kpSettle decides a request's outcome once and sends its callback.
func (s *Sandbox) kpSettle(id string) {
	s.mu.Lock()
	rec := s.kp[id]
	if rec == nil || rec.payout.state() != StatusPending {
		s.mu.Unlock()
		return
	}
	p := rec.payout
	now := time.Now()
	p.settled, rec.updatedAt = now.UnixNano(), now
	if s.failRule(p.identity, p.amountString()) {
		p.setState(StatusFailed)
	} else {
		p.setState(StatusPaid)
		p.setReceipt(s.receiptLocked())
	}
	cb := kpCallback{rec.requestID, rec.phone, kpStatus(p.state()), kpAmount(rec.amount)}
	s.mu.Unlock()

	job := func(c kpCallback, note string) callbackJob {
		b, _ := json.Marshal(c)
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		return callbackJob{provider: KiotaPay, url: rec.callbackURL, body: b, header: h, note: note}
	}
	s.dispatch(KiotaPay, job(cb, "genuine"),
		func() callbackJob {
			f := cb
			f.Status = map[string]string{"SUCCESS": "FAILED", "FAILED": "SUCCESS"}[cb.Status]
			return job(f, "forged")
		},
		func() callbackJob {
			f := cb
			f.Amount += 100
			return job(f, "wrong_amount")
		})
}

// kpCallback is the (unsigned) KiotaPay callback body.
type kpCallback struct {
	RequestID   string   `json:"requestId"`
	PhoneNumber string   `json:"phoneNumber"`
	Status      string   `json:"status"`
	Amount      kpAmount `json:"amount"`
}

func kpStatus(st Status) string {
	switch st {
	case StatusPaid:
		return "SUCCESS"
	case StatusFailed:
		return "FAILED"
	}
	return "PENDING"
}

// kpLookup finds the record named by ?requestId=, settling it if due, and
// answers the error itself when there is none.
func (s *Sandbox) kpLookup(w http.ResponseWriter, r *http.Request) *kpRecord {
	if !s.latency(KiotaPay, r) || !s.kpAuth(w, r) {
		return nil
	}
	id := r.URL.Query().Get("requestId")
	if id == "" {
		kpError(w, http.StatusBadRequest, "REQ_MISSING_FIELD", "requestId is required", "requestId")
		return nil
	}
	s.mu.Lock()
	rec := s.kp[id]
	due := rec != nil && rec.payout.state() == StatusPending && time.Since(rec.createdAt) >= s.delay
	s.mu.Unlock()
	if rec == nil {
		kpError(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Transaction not found", "requestId "+id)
		return nil
	}
	if due {
		s.kpSettle(id)
	}
	return rec
}

func (s *Sandbox) kpStatus(w http.ResponseWriter, r *http.Request) {
	rec := s.kpLookup(w, r)
	if rec == nil {
		return
	}
	s.mu.Lock()
	data := kpCallback{rec.requestID, rec.phone, kpStatus(rec.payout.state()), kpAmount(rec.amount)}
	s.mu.Unlock()
	kpOK(w, http.StatusOK, data)
}

func (s *Sandbox) kpSingle(w http.ResponseWriter, r *http.Request) {
	rec := s.kpLookup(w, r)
	if rec == nil {
		return
	}
	s.mu.Lock()
	data := rec.view(s.opts.KiotaPay.RecordReferenceID)
	s.mu.Unlock()
	kpOK(w, http.StatusOK, data)
}

func (s *Sandbox) kpAll(w http.ResponseWriter, r *http.Request) {
	if !s.latency(KiotaPay, r) || !s.kpAuth(w, r) {
		return
	}
	s.mu.Lock()
	due := []string{}
	for _, id := range s.kpOrder {
		if rec := s.kp[id]; rec.payout.state() == StatusPending && time.Since(rec.createdAt) >= s.delay {
			due = append(due, id)
		}
	}
	s.mu.Unlock()
	for _, id := range due {
		s.kpSettle(id)
	}
	s.mu.Lock()
	data := make([]kpView, 0, len(s.kpOrder))
	for _, id := range s.kpOrder {
		data = append(data, s.kp[id].view(s.opts.KiotaPay.RecordReferenceID))
	}
	s.mu.Unlock()
	kpOK(w, http.StatusOK, data)
}

// kpView is the full send-money record of /single and /all.
type kpView struct {
	ID                       int            `json:"id"`
	UUID                     string         `json:"uuid"`
	Organisation             kpOrganisation `json:"organisation"`
	PhoneNumber              string         `json:"phoneNumber"`
	Remarks                  *string        `json:"remarks"`
	Occasion                 *string        `json:"occasion"`
	OriginatorConversationID string         `json:"originatorConversationId"`
	ConversationID           string         `json:"conversationId"`
	CallbackURL              string         `json:"callbackUrl"`
	CreatedAt                string         `json:"createdAt"`
	UpdatedAt                string         `json:"updatedAt"`
	Status                   string         `json:"status"`
	ResponseCode             string         `json:"responseCode"`
	ReceiverName             *string        `json:"receiverName"`
	TransactionReceipt       *string        `json:"transactionReceipt"`
	ReferenceID              *string        `json:"referenceId,omitempty"` // only with KiotaPayOptions.RecordReferenceID
}

type kpOrganisation struct {
	ID          int     `json:"id"`
	Name        string  `json:"name"`
	Email       string  `json:"email"`
	PhoneNumber string  `json:"phoneNumber"`
	Environment *string `json:"environment"`
}

// view renders the record. s.mu must be held.
func (rec *kpRecord) view(showRef bool) kpView {
	v := kpView{
		ID:                       rec.id,
		UUID:                     rec.requestID,
		Organisation:             kpOrganisation{ID: 1, Name: "Payroll Sandbox Ltd", Email: "sandbox@example.invalid", PhoneNumber: "254700000000"},
		PhoneNumber:              rec.phone,
		OriginatorConversationID: rec.origConvID,
		ConversationID:           rec.convID,
		CallbackURL:              rec.callbackURL,
		CreatedAt:                rec.createdAt.In(eat).Format(kpTime),
		UpdatedAt:                rec.updatedAt.In(eat).Format(kpTime),
		Status:                   kpStatus(rec.payout.state()),
		ResponseCode:             "0",
	}
	if t, ok := rec.fields["remarks"]; ok {
		v.Remarks = &t
	}
	if t, ok := rec.fields["occasion"]; ok {
		v.Occasion = &t
	}
	if ref, ok := rec.fields["referenceId"]; ok && showRef {
		v.ReferenceID = &ref
	}
	if rec.payout.state() == StatusPaid {
		name := rec.phone + " - SANDBOX RECIPIENT"
		receipt := rec.payout.receiptString()
		v.ReceiverName, v.TransactionReceipt = &name, &receipt
	}
	return v
}

// kpReqError is a refused KiotaPay request.
type kpReqError struct{ code, msg, field string }

func missing(field string) *kpReqError {
	return &kpReqError{"REQ_MISSING_FIELD", field + " is required", field}
}

func invalid(field, format string, args ...any) *kpReqError {
	return &kpReqError{"REQ_INVALID_FIELD", fmt.Sprintf(format, args...), field}
}

// kpParse validates a send-money body.
func kpParse(body []byte) (*kpRecord, *kpReqError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, &kpReqError{"REQ_BAD_REQUEST", "Malformed JSON request body", ""}
	}
	rec := &kpRecord{fields: map[string]string{}}
	for _, f := range []string{"phoneNumber", "callbackUrl", "currencyCode", "remarks", "occasion", "narration", "firstName", "lastName", "serviceCode", "referenceId"} {
		v, err := optString(m, f)
		if err != nil {
			return nil, invalid(f, "%s must be a string", f)
		}
		if v != nil {
			rec.fields[f] = *v
		}
	}
	get := func(f string) string { return strings.TrimSpace(rec.fields[f]) }

	rec.phone = rec.fields["phoneNumber"]
	if rec.phone == "" {
		return nil, missing("phoneNumber")
	}
	if !kpAnyRE.MatchString(rec.phone) {
		return nil, invalid("phoneNumber", "phoneNumber %q must be 254 or 255 followed by 9 digits, without +", rec.phone)
	}

	raw, ok := m["amount"]
	if !ok || isNull(raw) {
		return nil, missing("amount")
	}
	if raw[0] == '"' || !wholeNumRE.MatchString(string(raw)) {
		return nil, invalid("amount", "amount %s must be a whole number", raw)
	}
	whole, _, _ := strings.Cut(string(raw), ".")
	amount, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || amount <= 0 {
		return nil, invalid("amount", "amount %s must be greater than zero", raw)
	}
	rec.amount = amount

	cb := rec.fields["callbackUrl"]
	if cb == "" {
		return nil, missing("callbackUrl")
	}
	if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalid("callbackUrl", "callbackUrl must be an absolute http or https URL")
	}
	rec.callbackURL = cb

	rec.currency = "KSH"
	if c, ok := rec.fields["currencyCode"]; ok {
		rec.currency = c
	}
	var required []string
	switch rec.currency {
	case "KSH":
		if !kpPhoneKE.MatchString(rec.phone) {
			return nil, invalid("phoneNumber", "phoneNumber %q is not a Kenyan mobile number (KSH payouts go to 254 numbers)", rec.phone)
		}
		required = []string{"remarks", "occasion"}
	case "TZS":
		if !kpPhoneTZ.MatchString(rec.phone) {
			return nil, invalid("phoneNumber", "phoneNumber %q is not a Tanzanian mobile number (TZS payouts go to 255 numbers)", rec.phone)
		}
		required = []string{"narration", "firstName", "lastName", "serviceCode"}
	default:
		return nil, invalid("currencyCode", "currencyCode %q is not supported; use KSH or TZS", rec.currency)
	}
	for _, f := range required {
		if get(f) == "" {
			return nil, missing(f)
		}
	}
	for _, f := range []string{"remarks", "occasion", "narration"} {
		if n := len([]rune(rec.fields[f])); n > kpMaxText {
			return nil, invalid(f, "%s is %d characters long; at most %d are allowed", f, n, kpMaxText)
		}
	}
	if rec.currency == "TZS" {
		if !slices.Contains(kpServiceCodes, rec.fields["serviceCode"]) {
			return nil, invalid("serviceCode", "serviceCode %q is not one of %s", rec.fields["serviceCode"], strings.Join(kpServiceCodes, ", "))
		}
		if amount < 1000 {
			return nil, invalid("amount", "the least TZS amount is 1000")
		}
	}
	return rec, nil
}
