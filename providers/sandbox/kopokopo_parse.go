package sandbox

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// k2Parse validates a send_money body.
func (s *Sandbox) k2Parse(body []byte) (*k2Request, *reqError) {
	o := &s.opts.KopoKopo
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, refuse("The request body must be a JSON object")
	}
	req := &k2Request{}

	var rawDests []json.RawMessage
	if d, ok := top["destinations"]; ok && !isNull(d) {
		if err := json.Unmarshal(d, &rawDests); err != nil {
			return nil, refuse("destinations must be an array")
		}
	}
	if len(rawDests) == 0 {
		return nil, &reqError{msg: "destinations can't be blank (an empty list would transfer the whole balance to your own accounts)", kind: ViolationEmptyDestinations}
	}

	cur, err := optString(top, "currency")
	if err != nil || cur == nil {
		return nil, refuse("You have to provide the currency")
	}
	if *cur != "KES" {
		return nil, refuse("Currency %q is not supported; only KES is", *cur)
	}

	var links map[string]json.RawMessage
	if l, ok := top["_links"]; ok && !isNull(l) {
		if json.Unmarshal(l, &links) != nil {
			return nil, refuse("_links must be an object")
		}
	}
	cb, err := optString(links, "callback_url")
	if err != nil || cb == nil || *cb == "" {
		return nil, refuse("You have to provide the callback_url")
	}
	if u, err := url.Parse(*cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, refuse("callback_url must be an absolute http or https URL")
	}
	req.callbackURL = *cb

	if m, ok := top["metadata"]; ok && !isNull(m) {
		var meta map[string]json.RawMessage
		if json.Unmarshal(m, &meta) != nil {
			return nil, refuse("metadata must be an object")
		}
		if len(meta) > 5 {
			return nil, refuse("metadata can have at most 5 key-value pairs, got %d", len(meta))
		}
		req.metadata = m
	}

	src, err := optString(top, "source_identifier")
	if err != nil {
		return nil, refuse("Source identifier is invalid")
	}
	if src != nil {
		if len(o.SourceIdentifiers) > 0 && !slices.Contains(o.SourceIdentifiers, *src) {
			return nil, refuse("Source identifier is invalid")
		}
		req.source = top["source_identifier"]
	}

	if maxN := orInt(o.MaxDestinations, DefaultKopoKopoDestinations); len(rawDests) > maxN {
		return nil, refuse("Too many destinations: %d (at most %d per request)", len(rawDests), maxN)
	}
	seen := map[string]int{}
	for i, raw := range rawDests {
		d, rerr := s.k2ParseDest(raw)
		if rerr != nil {
			rerr.msg = fmt.Sprintf("destinations[%d]: %s", i, rerr.msg)
			return nil, rerr
		}
		if j, dup := seen[d.identity]; dup {
			return nil, &reqError{msg: fmt.Sprintf("destinations[%d] repeats destinations[%d] (%s)", i, j, d.identity), kind: ViolationDuplicateInRequest}
		}
		seen[d.identity] = i
		req.parsed = append(req.parsed, d)
	}
	return req, nil
}

// k2Required lists the required string fields of each supported type, the
// first of them (plus the second for bank_account and paybill) forming the
// destination identity.
var k2Required = map[string][]string{
	"mobile_wallet": {"phone_number", "network"},
	"bank_account":  {"bank_branch_ref", "account_number", "account_name"},
	"till":          {"till_number"},
	"paybill":       {"paybill_number", "paybill_account_number"},
}

func (s *Sandbox) k2ParseDest(raw json.RawMessage) (*k2Dest, *reqError) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, refuse("a destination must be an object")
	}
	typ, err := optString(m, "type")
	if err != nil || typ == nil {
		return nil, refuse("type is required")
	}
	req, ok := k2Required[*typ]
	if !ok {
		return nil, refuse("destination type %q is not supported (mobile_wallet, bank_account, till, paybill)", *typ)
	}
	d := &k2Dest{raw: raw, typ: *typ, fields: map[string]string{}}
	for _, f := range req {
		v, err := optString(m, f)
		if err != nil {
			return nil, refuse("%s must be a string", f)
		}
		if v == nil || strings.TrimSpace(*v) == "" {
			return nil, refuse("%s is required for %s", f, *typ)
		}
		d.fields[f] = *v
	}
	switch *typ {
	case "mobile_wallet":
		if !k2PhoneRE.MatchString(d.fields["phone_number"]) {
			return nil, refuse("phone_number %q is an invalid number: use 254 followed by 9 digits, without +", d.fields["phone_number"])
		}
		if !strings.EqualFold(d.fields["network"], "Safaricom") {
			return nil, refuse("network %q is not supported; only Safaricom is", d.fields["network"])
		}
		d.identity = "mobile_wallet:" + d.fields["phone_number"]
		delete(d.fields, "network")
	case "bank_account":
		if !uuidRE.MatchString(d.fields["bank_branch_ref"]) {
			return nil, refuse("bank_branch_ref %q is not a valid reference", d.fields["bank_branch_ref"])
		}
		d.identity = "bank_account:" + strings.ToLower(d.fields["bank_branch_ref"]) + ":" + d.fields["account_number"]
	case "till":
		if !digitsRE.MatchString(d.fields["till_number"]) {
			return nil, refuse("till_number %q must be digits", d.fields["till_number"])
		}
		d.identity = "till:" + d.fields["till_number"]
	case "paybill":
		if !digitsRE.MatchString(d.fields["paybill_number"]) {
			return nil, refuse("paybill_number %q must be digits", d.fields["paybill_number"])
		}
		d.identity = "paybill:" + d.fields["paybill_number"] + ":" + d.fields["paybill_account_number"]
	}

	amount, rerr := s.k2Amount(m["amount"])
	if rerr != nil {
		return nil, rerr
	}
	d.amount = amount
	desc, err := optString(m, "description")
	if err != nil || desc == nil || strings.TrimSpace(*desc) == "" {
		return nil, refuse("description is required")
	}
	if d.nickname, err = optString(m, "nickname"); err != nil {
		return nil, refuse("nickname must be a string")
	}
	if f, ok := m["favourite"]; ok && !isNull(f) {
		if json.Unmarshal(f, &d.favourite) != nil {
			return nil, refuse("favourite must be true or false")
		}
	}
	// Kept for the request's life (status queries): the fields as a small
	// struct, not the parsing map (a map per destination was a third of
	// a 100,000-line run's memory).
	d.f = k2Fields{phone: d.fields["phone_number"], branch: d.fields["bank_branch_ref"], accName: d.fields["account_name"],
		accNum: d.fields["account_number"], till: d.fields["till_number"], paybill: d.fields["paybill_number"],
		paybillAcc: d.fields["paybill_account_number"]}
	d.fields = nil
	return d, nil
}

// k2Amount parses a destination amount: a JSON number or numeric string
// holding a whole number of shillings within the configured limits.
func (s *Sandbox) k2Amount(raw json.RawMessage) (int64, *reqError) {
	o := &s.opts.KopoKopo
	lo, hi := orInt(o.MinAmount, DefaultKopoKopoMinAmount), orInt(o.MaxAmount, DefaultKopoKopoMaxAmount)
	if raw == nil || isNull(raw) {
		return 0, refuse("amount is required")
	}
	text := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &text) != nil {
			return 0, refuse("amount must be a number")
		}
	}
	if !wholeNumRE.MatchString(text) {
		return 0, refuse("amount %s must be a whole number of shillings", raw)
	}
	whole, _, _ := strings.Cut(text, ".")
	v, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, refuse("Transfer amount must be between KSh %s and KSh %s", shillings(lo), shillings(hi))
	}
	return v, nil
}

// shillings formats n like "250,000.00".
func shillings(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String() + ".00"
}

// optString returns m[key] as a string: nil if absent or null, an error if
// it is another JSON type.
func optString(m map[string]json.RawMessage, key string) (*string, error) {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%s must be a string", key)
	}
	return &v, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func secretEqual(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// writeJSON writes v as the JSON response body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
