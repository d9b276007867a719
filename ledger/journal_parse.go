package ledger

import (
	"encoding/base64"
	"strconv"
)

// parseLine decodes a journal line written by this package (journal.go)
// without encoding/json, which took 95% of a check's time. It accepts
// only that exact form (fields in order, strings without escapes) and
// returns false for anything else, which the caller then hands to
// encoding/json. Lenient only where the hash chain and the replay
// comparison already guard: the event and line values are sliced, not
// validated.
func parseLine(b []byte, l *jline) bool {
	p := &parser{b: b}
	if !p.lit(`{"seq":`) {
		return false
	}
	l.Seq = p.uint()
	if !p.lit(`,"prev":`) {
		return false
	}
	l.Prev = string(p.str())
	if !p.lit(`,"commit":`) {
		return false
	}
	l.Commit = p.uint()
	if !p.lit(`,"op":`) {
		return false
	}
	l.Op = string(p.str())
	if !p.lit(`,"at":`) {
		return false
	}
	l.At = string(p.str())
	if !p.lit(`,"ops":[`) {
		return false
	}
	l.Ops = l.Ops[:0]
	for !p.bad && p.peek() != ']' {
		if len(l.Ops) > 0 && !p.lit(",") {
			return false
		}
		var op jop
		if !p.op(&op) {
			return false
		}
		l.Ops = append(l.Ops, op)
	}
	if !p.lit("]") {
		return false
	}
	l.End = p.lit(`,"end":true`)
	return p.lit("}") && p.i == len(b) && !p.bad
}

type parser struct {
	b     []byte
	i     int
	bad   bool
	paths map[string][]string // bucket paths seen in this line, shared by its ops
}

// intern returns one shared slice per bucket path of a line: a line's
// hundreds of ops name a handful of buckets.
func (p *parser) intern(raw []byte, b []string) []string {
	if s, ok := p.paths[string(raw)]; ok {
		return s
	}
	if p.paths == nil {
		p.paths = map[string][]string{}
	}
	p.paths[string(raw)] = b
	return b
}

func (p *parser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	p.bad = true
	return 0
}

func (p *parser) lit(s string) bool {
	if p.bad || len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

func (p *parser) uint() uint64 {
	j := p.i
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	n, err := strconv.ParseUint(string(p.b[p.i:j]), 10, 64)
	if err != nil {
		p.bad = true
	}
	p.i = j
	return n
}

// str reads a string without escapes; it returns the bytes between the
// quotes (a slice of the line).
func (p *parser) str() []byte {
	if p.bad || p.peek() != '"' {
		p.bad = true
		return nil
	}
	j := p.i + 1
	for j < len(p.b) && p.b[j] != '"' {
		if p.b[j] == '\\' || p.b[j] < 0x20 || p.b[j] >= 0x80 {
			p.bad = true
			return nil
		}
		j++
	}
	if j == len(p.b) {
		p.bad = true
		return nil
	}
	s := p.b[p.i+1 : j]
	p.i = j + 1
	return s
}

func (p *parser) b64() []byte {
	s := p.str()
	if p.bad {
		return nil
	}
	out, err := base64.StdEncoding.AppendDecode(make([]byte, 0, base64.StdEncoding.DecodedLen(len(s))), s)
	if err != nil {
		p.bad = true
	}
	return out
}

// value skips one JSON value (an object, array, string or literal) and
// returns its bytes.
func (p *parser) value() []byte {
	start := p.i
	depth := 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '"':
			j := p.i + 1
			for j < len(p.b) && p.b[j] != '"' {
				if p.b[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(p.b) {
				p.bad = true
				return nil
			}
			p.i = j + 1
		case '{', '[':
			depth++
			p.i++
		case '}', ']':
			if depth == 0 {
				return p.b[start:p.i]
			}
			depth--
			p.i++
		case ',':
			if depth == 0 {
				return p.b[start:p.i]
			}
			p.i++
		default:
			p.i++
		}
		if depth == 0 && p.i > start && (p.b[start] == '{' || p.b[start] == '[' || p.b[start] == '"') {
			return p.b[start:p.i]
		}
	}
	p.bad = true
	return nil
}

func (p *parser) op(op *jop) bool {
	if !p.lit(`{"o":`) {
		return false
	}
	op.O = string(p.str())
	if !p.lit(`,"b":[`) {
		return false
	}
	start := p.i
	for !p.bad && p.peek() != ']' {
		if len(op.B) > 0 && !p.lit(",") {
			return false
		}
		op.B = append(op.B, string(p.str()))
	}
	if !p.lit("]") {
		return false
	}
	op.B = p.intern(p.b[start:p.i], op.B)
	for !p.bad && p.peek() == ',' {
		switch {
		case p.lit(`,"k":`):
			op.K = p.b64()
		case p.lit(`,"v":`):
			op.V = p.b64()
		case p.lit(`,"event":`):
			v := p.value()
			op.Event = append([]byte(nil), v...)
		case p.lit(`,"line":`):
			p.value()
		case p.lit(`,"n":`):
			op.N = p.uint()
		default:
			return false
		}
	}
	return p.lit("}") && !p.bad
}
