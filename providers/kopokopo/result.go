package kopokopo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"payroll/batch"
	"payroll/providers"
)

// document is a send_money result (GET on the Location, or the callback
// body). It also decodes the older shapes found in the SDK fixtures: v1
// payment and settlement_transfer results (same data/attributes layout),
// the flat pre-2021 pay_request result, and the PHP SDK's processed view
// (attributes inlined in data, camelCased).
type document struct {
	Data *docData `json:"data"`

	// Flat legacy pay_request result.
	Topic       string               `json:"topic"`
	Status      string               `json:"status"`
	Reference   providers.FlexString `json:"reference"`
	Destination string               `json:"destination"`
	Amount      *struct {
		Value providers.Amount `json:"value"`
	} `json:"amount"`
	Links docLinks `json:"_links"`
}

type docData struct {
	ID         string      `json:"id"`
	Type       string      `json:"type"`
	Attributes *attributes `json:"attributes"`

	// The PHP SDK's processed view keeps the attributes in data.
	Status          string          `json:"status"`
	TransferBatches []transferBatch `json:"transferBatches"`
	LinkSelf        string          `json:"linkSelf"`
}

type attributes struct {
	Status          string          `json:"status"`
	Destinations    []echoedDest    `json:"destinations"`
	TransferBatches []transferBatch `json:"transfer_batches"`
	Errors          json.RawMessage `json:"errors"`
	Links           docLinks        `json:"_links"`
}

type docLinks struct {
	CallbackURL string `json:"callback_url"`
	Self        string `json:"self"`
}

// destFields are the destination fields a disbursement or an echoed
// destination may carry.
type destFields struct {
	PhoneNumber          providers.FlexString `json:"phone_number"`
	BankBranchRef        providers.FlexString `json:"bank_branch_ref"`
	AccountNumber        providers.FlexString `json:"account_number"`
	TillNumber           providers.FlexString `json:"till_number"`
	PaybillNumber        providers.FlexString `json:"paybill_number"`
	PaybillAccountNumber providers.FlexString `json:"paybill_account_number"`
}

// echoedDest is a request destination as the document echoes it.
type echoedDest struct {
	Type   string           `json:"type"`
	Amount providers.Amount `json:"amount"`
	destFields
}

type transferBatch struct {
	Status        string           `json:"status"`
	Amount        providers.Amount `json:"amount"`
	Disbursements []disbursement   `json:"disbursements"`
}

type disbursement struct {
	Amount               providers.Amount     `json:"amount"`
	Status               string               `json:"status"`
	Errors               json.RawMessage      `json:"errors"`
	DestinationType      string               `json:"destination_type"`
	DestinationReference string               `json:"destination_reference"`
	TransactionReference providers.FlexString `json:"transaction_reference"`
	destFields
}

// decodeDocument decodes a result document leniently: amounts as strings
// or numbers, transaction references as strings or integers, null lists.
func decodeDocument(body []byte) (*document, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("empty document")
	}
	var doc document
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if doc.Data == nil && doc.Topic == "" {
		return nil, errors.New("document has neither data nor topic")
	}
	return &doc, nil
}

// attrs returns the attributes wherever the document keeps them.
func (d *document) attrs() *attributes {
	if d.Data == nil {
		return &attributes{}
	}
	if d.Data.Attributes != nil {
		return d.Data.Attributes
	}
	return &attributes{Status: d.Data.Status, TransferBatches: d.Data.TransferBatches, Links: docLinks{Self: d.Data.LinkSelf}}
}

// status is the top-level status (Scheduled, Processed, ...).
func (d *document) status() string {
	if d.Data == nil {
		return d.Status
	}
	return d.attrs().Status
}

// reference is the reference a callback document names: its self link
// (the Location Send returned, on Kopo Kopo and the sandbox alike) when
// the link ends with the document's id, else the id itself.
func (d *document) reference() string {
	if d.Data == nil {
		if d.Links.Self != "" {
			return d.Links.Self
		}
		return string(d.Reference)
	}
	self := d.attrs().Links.Self
	switch {
	case self != "" && (d.Data.ID == "" || ReferenceFromLocation(self) == d.Data.ID):
		return self
	case d.Data.ID != "":
		return d.Data.ID
	}
	return self
}

// results maps the document's disbursements to batch results carrying
// reference and source.
func (d *document) results(reference, source string) []batch.Result {
	mk := func(identity string, amount batch.Money, st batch.State, receipt, reason, status string) batch.Result {
		r := batch.Result{Reference: reference, Identity: identity, Amount: amount, Status: st,
			Receipt: receipt, Reason: reason, Source: source, Provider: batch.KopoKopo}
		if !knownStatus(status) {
			r.Undocumented = status
		}
		return r
	}
	if d.Data == nil { // flat legacy pay_request: one payment to a recipient id
		var amt batch.Money
		if d.Amount != nil {
			amt = d.Amount.Value.Money
		}
		st, reason := mapStatus(d.Status, nil)
		return []batch.Result{mk("unknown:?:"+d.Destination, amt, st, "", reason, d.Status)}
	}
	a := d.attrs()
	type item struct {
		dis    *disbursement
		status string
		id     string
		ok     bool
	}
	var items []item
	for i := range a.TransferBatches {
		b := &a.TransferBatches[i]
		for j := range b.Disbursements {
			dis := &b.Disbursements[j]
			st := dis.Status
			if st == "" {
				st = b.Status
			}
			id, ok := identity(normType(dis.DestinationType), dis.destFields)
			items = append(items, item{dis, st, id, ok})
		}
	}
	// Disbursements that lack their destination's key fields (a bank
	// disbursement without bank_branch_ref, v1 documents) take them from
	// the echoed request destinations: the one unclaimed destination of the
	// same type and amount (and account or phone, when the disbursement has
	// it). Without exactly one candidate the identity stays unmatched.
	claimed := map[string]bool{}
	for _, it := range items {
		if it.ok {
			claimed[it.id] = true
		}
	}
	for k := range items {
		it := &items[k]
		if it.ok {
			continue
		}
		if id, ok := fillFromEcho(a.Destinations, it.dis, claimed); ok {
			it.id, it.ok = id, true
			claimed[id] = true
			continue
		}
		it.id = normType(it.dis.DestinationType) + ":?"
		if it.dis.DestinationReference != "" {
			it.id += ":" + it.dis.DestinationReference
		}
	}
	out := make([]batch.Result, 0, len(items))
	for _, it := range items {
		st, reason := mapStatus(it.status, it.dis.Errors)
		receipt := ""
		if st == batch.StatePaid {
			receipt = string(it.dis.TransactionReference)
		}
		out = append(out, mk(it.id, it.dis.Amount.Money, st, receipt, reason, it.status))
	}
	return out
}

// fillFromEcho finds the identity of an incomplete disbursement among the
// echoed destinations.
func fillFromEcho(echo []echoedDest, dis *disbursement, claimed map[string]bool) (string, bool) {
	typ := normType(dis.DestinationType)
	cands := map[string]bool{}
	for i := range echo {
		e := &echo[i]
		if normType(e.Type) != typ || !e.Amount.Present || !e.Amount.Money.Equal(dis.Amount.Money) {
			continue
		}
		if dis.AccountNumber != "" && e.AccountNumber != dis.AccountNumber {
			continue
		}
		if dis.PhoneNumber != "" && phoneDigits(string(e.PhoneNumber)) != phoneDigits(string(dis.PhoneNumber)) {
			continue
		}
		id, ok := identity(typ, e.destFields)
		if !ok || claimed[id] {
			continue
		}
		cands[id] = true
	}
	if len(cands) != 1 {
		return "", false
	}
	for id := range cands {
		return id, true
	}
	return "", false
}

// identity builds batch.Destination.Identity() from result fields; ok is
// false when a key field is missing.
func identity(typ string, f destFields) (string, bool) {
	switch typ {
	case string(batch.MobileWallet):
		p := phoneDigits(string(f.PhoneNumber))
		return "mobile_wallet:" + p, p != ""
	case string(batch.BankAccount):
		br, acct := strings.ToLower(strings.TrimSpace(string(f.BankBranchRef))), strings.TrimSpace(string(f.AccountNumber))
		return "bank_account:" + br + ":" + acct, br != "" && acct != ""
	case string(batch.Till):
		t := strings.TrimSpace(string(f.TillNumber))
		return "till:" + t, t != ""
	case string(batch.Paybill):
		n, acct := strings.TrimSpace(string(f.PaybillNumber)), strings.ToUpper(strings.TrimSpace(string(f.PaybillAccountNumber)))
		return "paybill:" + n + ":" + acct, n != "" && acct != ""
	}
	return "", false
}

// normType turns "Mobile Wallet" (v1) and "mobile_wallet" (v2) into the
// batch.DestType spelling.
func normType(s string) string {
	return strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(s)))
}

// phoneDigits strips a leading + and spaces: Kopo Kopo echoes phones as
// sent, and some SDKs send +254....
func phoneDigits(s string) string {
	return strings.TrimPrefix(strings.ReplaceAll(strings.TrimSpace(s), " ", ""), "+")
}

// knownStatus reports whether a disbursement status is one Kopo Kopo's
// documents, SDKs or this package's documented decisions name.
func knownStatus(status string) bool {
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "transferred", "failed", "cancelled", "canceled", "reversed", "scheduled", "pending", "processing", "processed", "sent":
		return true
	}
	return false
}

// mapStatus maps a disbursement status to a line state. Only
// "Transferred" (with no errors) is paid; "Failed", "Cancelled" and
// "Reversed" are failed; everything else (Scheduled, Pending, Processing,
// Sent, any undocumented value, or Transferred with errors) leaves the
// line accepted: an undocumented status never means paid.
func mapStatus(status string, errs json.RawMessage) (batch.State, string) {
	reason := providers.Text(errs)
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "transferred":
		if reason != "" {
			return batch.StateAccepted, ""
		}
		return batch.StatePaid, ""
	case "failed", "cancelled", "canceled", "reversed":
		if reason == "" {
			reason = "Kopo Kopo status " + status
		}
		return batch.StateFailed, reason
	}
	return batch.StateAccepted, ""
}

// ParseResult decodes a send_money result document: a callback body (after
// Verify) or a status response. It returns the document's reference and
// one result per disbursement (Source "callback"). A Scheduled document has
// no disbursements and gives no results.
//
// The reference is the document's _links.self when that link ends with its
// data.id (Kopo Kopo's self link is the Location Send returned), else the
// id. The ledger stores the Location; compare by id with
// ReferenceFromLocation when hosts may differ (app. and api.kopokopo.com).
func ParseResult(body []byte) (reference string, results []batch.Result, err error) {
	doc, err := decodeDocument(body)
	if err != nil {
		return "", nil, fmt.Errorf("kopokopo: result: %w", err)
	}
	ref := doc.reference()
	return ref, doc.results(ref, "callback"), nil
}

// ReferenceFromLocation returns the send_money id a Location (or self
// link) ends with: ".../api/v2/send_money/<id>" gives "<id>". A value
// without "/" is returned as is (it already is an id).
func ReferenceFromLocation(location string) string {
	s := strings.TrimSpace(location)
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		s = u.Path
	}
	s = strings.TrimRight(s, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}
