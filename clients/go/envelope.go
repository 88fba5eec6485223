// Package switchyard is the Go client of switchyard: publish domain events
// in the canonical envelope, run workers for its task queues and consume
// its outcome events (docs/worker-protocol.md, docs/outcome-events.md), on
// the official NATS client.
package switchyard

// envelope.go: the canonical envelope's validation, ported rule for rule
// from envelope/envelope.c, common/json.c and common/timefmt.c, so that
// Validate answers exactly what `switchyard validate` answers (same code,
// path and message) for the same bytes. Payload schemas and signatures are
// checked by the router only.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultMaxBytes is the router's default limit on an event's size.
const DefaultMaxBytes = 1024 * 1024

const maxDepth = 32

// Problem is why an event is invalid: what `switchyard validate` prints in
// "error". Code is one of missing_field, bad_field, bad_type,
// bad_timestamp, bad_trace_id, unknown_field, duplicate_key, bad_json,
// bad_utf8, too_deep, too_large.
type Problem struct {
	Code    string `json:"code"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

// EnvelopeError is returned when an event fails local validation.
type EnvelopeError struct{ Problem }

func (e *EnvelopeError) Error() string { return e.Message }

// Envelope is the canonical event. Payload is the payload's JSON text.
type Envelope struct {
	EventID       string
	Type          string
	Source        string
	OccurredAt    string
	Subject       *string
	TraceID       string
	SchemaVersion int64
	Payload       json.RawMessage
}

type fail struct{ p Problem }

// ---- strict JSON (common/json.c) ----------------------------------------------

type frame struct {
	key     *string
	index   int
	isArray bool
}

type parser struct {
	b      []byte
	p      int
	depth  int
	frames [maxDepth + 1]frame
}

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '$') {
			return false
		}
	}
	return true
}

// quote writes s as common/json.c's sy_json_append_string does.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// pathKey appends a member key to a JSON path as common/json.c writes it.
func pathKey(prefix, key string) string {
	if plainKey(key) {
		if prefix == "" {
			return key
		}
		return prefix + "." + key
	}
	return prefix + "[" + quote(key) + "]"
}

func (ps *parser) fail(at int, code, what string) {
	line, col := 1, 1
	for q := 0; q < at && q < len(ps.b); q++ {
		if ps.b[q] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	path := ""
	for i := 0; i < ps.depth; i++ {
		f := ps.frames[i]
		if f.isArray {
			path += "[" + strconv.Itoa(f.index) + "]"
		} else if f.key != nil {
			path = pathKey(path, *f.key)
		}
	}
	panic(fail{Problem{code, path, fmt.Sprintf("%s at byte %d (line %d, column %d)", what, at, line, col)}})
}

func (ps *parser) skipWS() {
	for ps.p < len(ps.b) {
		switch ps.b[ps.p] {
		case ' ', '\n', '\r', '\t':
			ps.p++
		default:
			return
		}
	}
}

// seqLen is the length of the valid UTF-8 sequence at s (< end), or 0.
func (ps *parser) seqLen(s, end int) int {
	b := ps.b
	c := b[s]
	n := end - s
	cont := func(i int) bool { return b[s+i]&0xC0 == 0x80 }
	switch {
	case c >= 0xC2 && c <= 0xDF:
		if n >= 2 && cont(1) {
			return 2
		}
	case c >= 0xE0 && c <= 0xEF:
		if n < 3 || !cont(1) || !cont(2) || (c == 0xE0 && b[s+1] < 0xA0) || (c == 0xED && b[s+1] >= 0xA0) {
			return 0
		}
		return 3
	case c >= 0xF0 && c <= 0xF4:
		if n < 4 || !cont(1) || !cont(2) || !cont(3) || (c == 0xF0 && b[s+1] < 0x90) || (c == 0xF4 && b[s+1] >= 0x90) {
			return 0
		}
		return 4
	}
	return 0
}

func (ps *parser) hex4(s int) int {
	if len(ps.b)-s < 4 {
		return -1
	}
	v := 0
	for i := 0; i < 4; i++ {
		c := ps.b[s+i]
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= int(c - '0')
		case c >= 'a' && c <= 'f':
			v |= int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			v |= int(c-'A') + 10
		default:
			return -1
		}
	}
	return v
}

func (ps *parser) uEscape(out []byte) []byte {
	cp := ps.hex4(ps.p)
	if cp < 0 {
		ps.fail(ps.p, "bad_json", `bad \u escape in string`)
	}
	ps.p += 4
	if cp >= 0xDC00 && cp <= 0xDFFF {
		ps.fail(ps.p, "bad_utf8", `lone low surrogate \u escape in string`)
	}
	if cp >= 0xD800 && cp <= 0xDBFF {
		lo := -1
		if len(ps.b)-ps.p >= 6 && ps.b[ps.p] == '\\' && ps.b[ps.p+1] == 'u' {
			lo = ps.hex4(ps.p + 2)
		}
		if lo < 0xDC00 || lo > 0xDFFF {
			ps.fail(ps.p, "bad_utf8", `lone high surrogate \u escape in string`)
		}
		ps.p += 6
		cp = 0x10000 + (cp-0xD800)<<10 + (lo - 0xDC00)
	}
	if cp == 0 {
		ps.fail(ps.p, "bad_json", `\u0000 is not allowed in strings`)
	}
	return utf8.AppendRune(out, rune(cp))
}

func (ps *parser) str() string {
	b := ps.b
	ps.p++
	q := ps.p
	for q < len(b) && b[q] != '"' {
		if b[q] == '\\' && q+1 < len(b) {
			q += 2
		} else {
			q++
		}
	}
	if q >= len(b) {
		ps.fail(ps.p, "bad_json", "unterminated string")
	}
	out := make([]byte, 0, q-ps.p)
	for ps.p < q {
		c := b[ps.p]
		switch {
		case c >= 0x20 && c < 0x80 && c != '\\':
			out = append(out, c)
			ps.p++
		case c == '\\':
			ps.p++
			e := b[ps.p]
			ps.p++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				out = ps.uEscape(out)
			default:
				ps.p--
				ps.fail(ps.p, "bad_json", "bad escape in string")
			}
		case c < 0x20:
			ps.fail(ps.p, "bad_json", "control character in string")
		default:
			n := ps.seqLen(ps.p, q)
			if n == 0 {
				ps.fail(ps.p, "bad_utf8", "invalid UTF-8 in string")
			}
			out = append(out, b[ps.p:ps.p+n]...)
			ps.p += n
		}
	}
	ps.p = q + 1
	return string(out)
}

func (ps *parser) digits() int {
	s := ps.p
	for ps.p < len(ps.b) && ps.b[ps.p] >= '0' && ps.b[ps.p] <= '9' {
		ps.p++
	}
	return ps.p - s
}

func (ps *parser) number() float64 {
	b := ps.b
	s := ps.p
	if b[ps.p] == '-' {
		ps.p++
	}
	if ps.p >= len(b) || b[ps.p] < '0' || b[ps.p] > '9' {
		ps.fail(ps.p, "bad_json", "bad number")
	}
	nint := ps.digits()
	lead := s
	if b[s] == '-' {
		lead++
	}
	if nint > 1 && b[lead] == '0' {
		ps.fail(s, "bad_json", "leading zero in number")
	}
	if ps.p < len(b) && b[ps.p] == '.' {
		ps.p++
		if ps.digits() == 0 {
			ps.fail(ps.p, "bad_json", "bad number: digits expected after '.'")
		}
	}
	if ps.p < len(b) && (b[ps.p] == 'e' || b[ps.p] == 'E') {
		ps.p++
		if ps.p < len(b) && (b[ps.p] == '+' || b[ps.p] == '-') {
			ps.p++
		}
		if ps.digits() == 0 {
			ps.fail(ps.p, "bad_json", "bad number: digits expected in exponent")
		}
	}
	d, _ := strconv.ParseFloat(string(b[s:ps.p]), 64) // syntax checked above; range below
	if math.IsInf(d, 0) || math.IsNaN(d) {
		ps.fail(s, "bad_json", "number out of range")
	}
	return d
}

func (ps *parser) literal() interface{} {
	for _, l := range []struct {
		w string
		v interface{}
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if len(ps.b)-ps.p >= len(l.w) && string(ps.b[ps.p:ps.p+len(l.w)]) == l.w {
			ps.p += len(l.w)
			return l.v
		}
	}
	ps.fail(ps.p, "bad_json", "unexpected character")
	return nil
}

func (ps *parser) enter(isArray bool) *frame {
	if ps.depth >= maxDepth {
		ps.fail(ps.p, "too_deep", "nesting is deeper than the limit")
	}
	f := &ps.frames[ps.depth]
	*f = frame{isArray: isArray}
	ps.depth++
	return f
}

type member struct {
	key   string
	value interface{}
	start int // the value's byte range, for the payload's raw text
	end   int
}

func (ps *parser) object() []member {
	f := ps.enter(false)
	b := ps.b
	var members []member
	seen := map[string]bool{}
	ps.p++
	ps.skipWS()
	if ps.p < len(b) && b[ps.p] == '}' {
		ps.p++
		ps.depth--
		return members
	}
	for {
		f.key = nil
		if ps.p >= len(b) || b[ps.p] != '"' {
			ps.fail(ps.p, "bad_json", "expected a string key")
		}
		keyAt := ps.p
		key := ps.str()
		f.key = &key
		ps.skipWS()
		if ps.p >= len(b) || b[ps.p] != ':' {
			ps.fail(ps.p, "bad_json", "expected ':'")
		}
		ps.p++
		ps.skipWS()
		start := ps.p
		v := ps.value()
		if seen[key] {
			ps.fail(keyAt, "duplicate_key", "duplicate key")
		}
		seen[key] = true
		members = append(members, member{key, v, start, ps.p})
		ps.skipWS()
		if ps.p < len(b) && b[ps.p] == ',' {
			ps.p++
			ps.skipWS()
			continue
		}
		if ps.p < len(b) && b[ps.p] == '}' {
			ps.p++
			break
		}
		ps.fail(ps.p, "bad_json", "expected ',' or '}'")
	}
	ps.depth--
	return members
}

func (ps *parser) array() []interface{} {
	f := ps.enter(true)
	b := ps.b
	out := []interface{}{}
	ps.p++
	ps.skipWS()
	if ps.p < len(b) && b[ps.p] == ']' {
		ps.p++
		ps.depth--
		return out
	}
	for ; ; f.index++ {
		out = append(out, ps.value())
		ps.skipWS()
		if ps.p < len(b) && b[ps.p] == ',' {
			ps.p++
			ps.skipWS()
			continue
		}
		if ps.p < len(b) && b[ps.p] == ']' {
			ps.p++
			break
		}
		ps.fail(ps.p, "bad_json", "expected ',' or ']'")
	}
	ps.depth--
	return out
}

type object []member // a parsed JSON object, members in order

func (ps *parser) value() interface{} {
	b := ps.b
	if ps.p >= len(b) {
		ps.fail(ps.p, "bad_json", "unexpected end of input")
	}
	switch c := b[ps.p]; {
	case c == '{':
		return object(ps.object())
	case c == '[':
		return ps.array()
	case c == '"':
		return ps.str()
	case c == '-' || c >= '0' && c <= '9':
		return ps.number()
	case c >= 0x80 && ps.seqLen(ps.p, len(b)) == 0:
		ps.fail(ps.p, "bad_utf8", "invalid UTF-8")
	}
	return ps.literal()
}

func (ps *parser) top() (object, bool) {
	ps.skipWS()
	if ps.p >= len(ps.b) {
		ps.fail(ps.p, "bad_json", "empty input")
	}
	v := ps.value()
	ps.skipWS()
	if ps.p < len(ps.b) {
		ps.fail(ps.p, "bad_json", "trailing characters after the JSON value")
	}
	o, ok := v.(object)
	return o, ok
}

// ---- RFC 3339 (common/timefmt.c) ----------------------------------------------

type timeCursor struct {
	s    string
	pos  int
	path string
}

func (c *timeCursor) bad(format string, a ...interface{}) {
	panic(fail{Problem{"bad_timestamp", c.path,
		fmt.Sprintf("could not parse %q as an RFC 3339 timestamp: ", c.path) + fmt.Sprintf(format, a...)}})
}

func (c *timeCursor) digits(n int, what string) int {
	v := 0
	for i := 0; i < n; i++ {
		if c.pos >= len(c.s) || c.s[c.pos] < '0' || c.s[c.pos] > '9' {
			c.bad("%s: expected %d digits", what, n)
		}
		v = v*10 + int(c.s[c.pos]-'0')
		c.pos++
	}
	return v
}

func (c *timeCursor) expect(ch, alt byte, what string) {
	if c.pos < len(c.s) && (c.s[c.pos] == ch || (alt != 0 && c.s[c.pos] == alt)) {
		c.pos++
		return
	}
	c.bad("expected %s at character %d", what, c.pos+1)
}

func daysInMonth(y, m int) int {
	if m == 2 && (y%4 == 0 && y%100 != 0 || y%400 == 0) {
		return 29
	}
	return [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m-1]
}

func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mm := m - 3
	if m <= 2 {
		mm = m + 9
	}
	doy := (153*mm+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func parseTimestamp(s, path string) int64 {
	c := &timeCursor{s: s, path: path}
	y := c.digits(4, "year")
	c.expect('-', 0, "'-' after the year")
	mo := c.digits(2, "month")
	c.expect('-', 0, "'-' after the month")
	d := c.digits(2, "day")
	c.expect('T', 't', "'T' between date and time")
	h := c.digits(2, "hour")
	c.expect(':', 0, "':' after the hour")
	mi := c.digits(2, "minute")
	c.expect(':', 0, "':' after the minute")
	sec := c.digits(2, "second")
	switch {
	case mo < 1 || mo > 12:
		c.bad("month %02d is out of range", mo)
	case d < 1 || d > daysInMonth(y, mo):
		c.bad("day %02d is out of range for its month", d)
	case h > 23:
		c.bad("hour %02d is out of range", h)
	case mi > 59:
		c.bad("minute %02d is out of range", mi)
	case sec > 59:
		c.bad("second %02d is out of range (leap seconds are not accepted)", sec)
	}
	ms := 0
	if c.pos < len(c.s) && c.s[c.pos] == '.' {
		c.pos++
		n := 0
		for c.pos < len(c.s) && c.s[c.pos] >= '0' && c.s[c.pos] <= '9' {
			if n < 3 {
				ms = ms*10 + int(c.s[c.pos]-'0')
			}
			n++
			c.pos++
		}
		if n == 0 {
			c.bad("fraction: expected digits after '.'")
		}
		for ; n < 3; n++ {
			ms *= 10
		}
	}
	off := 0
	if c.pos >= len(c.s) {
		c.bad("zone: missing (expected 'Z' or +hh:mm)")
	}
	switch z := c.s[c.pos]; z {
	case 'Z', 'z':
		c.pos++
	case '+', '-':
		c.pos++
		hh := c.digits(2, "zone hour")
		c.expect(':', 0, "':' in the zone offset")
		mm := c.digits(2, "zone minute")
		if hh > 23 {
			c.bad("zone hour %02d is out of range", hh)
		}
		if mm > 59 {
			c.bad("zone minute %02d is out of range", mm)
		}
		off = hh*60 + mm
		if z == '-' {
			off = -off
		}
	default:
		c.bad("zone: expected 'Z' or +hh:mm at character %d", c.pos+1)
	}
	if c.pos != len(c.s) {
		c.bad("unexpected characters after the zone at character %d", c.pos+1)
	}
	days := daysFromCivil(int64(y), int64(mo), int64(d))
	return (days*86400+int64(h*3600+mi*60+sec)-int64(off)*60)*1000 + int64(ms)
}

// ParseTimestamp parses an RFC 3339 timestamp as switchyard does (a zone is
// required, leap seconds are not accepted) and returns Unix milliseconds.
func ParseTimestamp(s string) (ms int64, err error) {
	defer recoverProblem(&err)
	return parseTimestamp(s, "occurred_at"), nil
}

// ---- field rules (envelope/envelope.c) ------------------------------------------

var fieldNames = []string{"event_id", "type", "source", "occurred_at", "subject", "trace_id", "schema_version", "payload"}
var requiredNames = []string{"event_id", "type", "source", "occurred_at", "trace_id", "schema_version", "payload"}

func bad(code, path, msg string) {
	panic(fail{Problem{code, path, fmt.Sprintf("%q %s", path, msg)}})
}

func idChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
}

func checkEventID(s string) {
	for i := 0; i < len(s); i++ {
		if !idChar(s[i]) {
			bad("bad_field", "event_id", "may contain only letters, digits and . _ : -")
		}
	}
	if len(s) == 0 || len(s) > 128 {
		bad("bad_field", "event_id", "must be 1 to 128 characters long")
	}
}

func checkType(s string) {
	seg := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if seg == 0 {
				bad("bad_type", "type", "has an empty segment")
			}
			seg = 0
		case idChar(c) && c != ':':
			seg++
		default:
			bad("bad_type", "type", "segments may contain only letters, digits, _ and -")
		}
	}
	if len(s) == 0 || len(s) > 255 {
		bad("bad_type", "type", "must be 1 to 255 characters long")
	}
	if seg == 0 {
		bad("bad_type", "type", "has an empty segment")
	}
}

func checkText(s, path string, nonempty bool) {
	chars := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7F || (c == 0xC2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9F) {
			bad("bad_field", path, "must not contain control characters")
		}
		if c&0xC0 != 0x80 {
			chars++
		}
	}
	if nonempty && chars == 0 {
		bad("bad_field", path, "must not be empty")
	}
	if chars > 255 {
		bad("bad_field", path, "must be at most 255 characters long")
	}
}

func checkTraceID(s string) {
	nonzero := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			bad("bad_trace_id", "trace_id", "must be 32 lowercase hexadecimal digits")
		}
		nonzero = nonzero || c != '0'
	}
	if len(s) != 32 {
		bad("bad_trace_id", "trace_id", "must be 32 lowercase hexadecimal digits")
	}
	if !nonzero {
		bad("bad_trace_id", "trace_id", "must not be all zeros")
	}
}

func checkMembers(body []byte, top object) *Envelope {
	f := map[string]member{}
	for _, m := range top {
		known := false
		for _, n := range fieldNames {
			known = known || n == m.key
		}
		if !known {
			panic(fail{Problem{"unknown_field", m.key, fmt.Sprintf("unknown envelope member %q", m.key)}})
		}
		f[m.key] = m
	}
	for _, r := range requiredNames {
		if _, ok := f[r]; !ok {
			panic(fail{Problem{"missing_field", r, fmt.Sprintf("required member %q is missing", r)}})
		}
	}
	for _, k := range fieldNames[:6] {
		if m, ok := f[k]; ok {
			if _, isStr := m.value.(string); !isStr {
				bad("bad_field", k, "must be a string")
			}
		}
	}
	p := f["payload"]
	if _, ok := p.value.(object); !ok {
		bad("bad_field", "payload", "must be a JSON object")
	}
	str := func(k string) string { return f[k].value.(string) }
	env := &Envelope{EventID: str("event_id"), Type: str("type"), Source: str("source"),
		OccurredAt: str("occurred_at"), TraceID: str("trace_id"),
		Payload: json.RawMessage(body[p.start:p.end])}
	checkEventID(env.EventID)
	checkType(env.Type)
	checkText(env.Source, "source", true)
	parseTimestamp(env.OccurredAt, "occurred_at")
	if _, ok := f["subject"]; ok {
		s := str("subject")
		env.Subject = &s
		checkText(s, "subject", false)
	}
	checkTraceID(env.TraceID)
	v, ok := f["schema_version"].value.(float64)
	if !ok {
		bad("bad_field", "schema_version", "must be an integer")
	}
	if v != math.Floor(v) || v < 1 || v > 2147483647 {
		bad("bad_field", "schema_version", "must be an integer from 1 to 2147483647")
	}
	env.SchemaVersion = int64(v)
	return env
}

func recoverProblem(err *error) {
	if r := recover(); r != nil {
		f, ok := r.(fail)
		if !ok {
			panic(r)
		}
		*err = &EnvelopeError{f.p}
	}
}

// ParseEnvelope validates one JSON body as `switchyard validate` does
// (without payload schemas or signatures); maxBytes <= 0 means
// DefaultMaxBytes. An invalid body is an *EnvelopeError.
func ParseEnvelope(body []byte, maxBytes int) (env *Envelope, err error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	defer recoverProblem(&err)
	if len(body) > maxBytes {
		panic(fail{Problem{"too_large", "", fmt.Sprintf("the event is %d bytes, over the limit of %d", len(body), maxBytes)}})
	}
	ps := &parser{b: body}
	top, ok := ps.top()
	if !ok {
		panic(fail{Problem{"bad_json", "", "the event must be a JSON object"}})
	}
	return checkMembers(body, top), nil
}

// Validate returns nil when body is a valid envelope, else the problem with
// the code, path and message that `switchyard validate` reports.
func Validate(body []byte) *Problem {
	_, err := ParseEnvelope(body, 0)
	if e, ok := err.(*EnvelopeError); ok {
		return &e.Problem
	}
	return nil
}

// Encode writes the canonical body: compact JSON with the members in the
// envelope's order (envelope_to_json). These exact bytes are signed and sent.
func (e *Envelope) Encode() []byte {
	var b bytes.Buffer
	put := func(k, v string, comma bool) {
		if comma {
			b.WriteByte(',')
		}
		b.WriteString(quote(k))
		b.WriteByte(':')
		b.WriteString(quote(v))
	}
	b.WriteByte('{')
	put("event_id", e.EventID, false)
	put("type", e.Type, true)
	put("source", e.Source, true)
	put("occurred_at", e.OccurredAt, true)
	if e.Subject != nil {
		put("subject", *e.Subject, true)
	}
	put("trace_id", e.TraceID, true)
	fmt.Fprintf(&b, `,"schema_version":%d,"payload":`, e.SchemaVersion)
	b.Write(e.Payload)
	b.WriteByte('}')
	return b.Bytes()
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }
