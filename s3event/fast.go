package s3event

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a fast path for the body the daemon sees nearly every time: a
// plain S3 event notification, {"Records":[...]}. encoding/json validates
// the whole body in one pass and then decodes it by reflection, allocating
// every string of every field; decodeRecords reads such a body in one pass
// and fills only what (*Record).event reads, with one allocation for a
// record's strings. What that saves, and why no JSON library replaces it,
// is measured in BENCHMARKS.md ("Decoding events" and "Event decoding:
// hand-written or a library").
//
// It must give exactly what json.Unmarshal into message gives for Records,
// so it defers to encoding/json (returns ok=false) whenever it is unsure:
// any other top-level member, a member name that encoding/json would match
// to a field only case-insensitively, a duplicate field, a value of the
// wrong type, invalid JSON or UTF-8, deep nesting. FuzzDecodeRecords checks
// it against encoding/json.

// maxDepth bounds the nesting of objects and arrays the fast path accepts
// (encoding/json allows 10000; notifications need 6).
const maxDepth = 100

// decodeRecords decodes a body of the form {"Records":[{record},...]} into
// its records, filling the fields (*Record).event reads. ok is false when
// the body has any other form, or when encoding/json might decode it
// differently or fail on it.
func decodeRecords(body []byte) (records []Record, ok bool) {
	s := scanner{b: body}
	s.ws()
	if !s.open('{') {
		return nil, false
	}
	s.ws()
	if name, _, ok := s.name(); !ok || string(name) != "Records" {
		return nil, false // message has other fields, matched case-insensitively
	}
	s.ws()
	if !s.open('[') {
		return nil, false // null, or a type error
	}
	records = make([]Record, 0, 1) // S3 usually sends one record per message
	s.ws()
	if !s.close(']') {
		for {
			s.ws()
			records = append(records, Record{})
			if !s.record(&records[len(records)-1]) {
				return nil, false
			}
			s.ws()
			if s.close(']') {
				break
			}
			if !s.consume(',') {
				return nil, false
			}
		}
	}
	s.ws()
	if !s.close('}') { // a second member, or invalid
		return nil, false
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, false
	}
	return records, true
}

// scanner reads JSON from b at i. Its methods return false when the input
// is invalid or outside what the fast path handles, which ends the scan.
type scanner struct {
	b     []byte
	i     int
	depth int // objects and arrays open at i

	// The string fields of the record being scanned, made into one string
	// when it ends.
	kept  [numKept]keptString
	nkept int
}

// keptString is a string field of a record: the string raw (between the
// quotes, as in the input; see str for plain) goes to *dst.
type keptString struct {
	dst   *string
	raw   []byte
	plain bool
}

// numKept is the number of string fields event reads: each is kept at most
// once per record.
const numKept = 9

// ws skips JSON whitespace.
func (s *scanner) ws() {
	b, i := s.b, s.i
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	s.i = i
}

// consume skips c if it is the next byte.
func (s *scanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// open consumes '{' or '[' and counts the nesting depth.
func (s *scanner) open(c byte) bool {
	if s.depth >= maxDepth || !s.consume(c) {
		return false
	}
	s.depth++
	return true
}

// close consumes '}' or ']' if it is next.
func (s *scanner) close(c byte) bool {
	if !s.consume(c) {
		return false
	}
	s.depth--
	return true
}

// str scans a string (s.i on its opening quote) and returns its bytes
// between the quotes, as they are in the input, and whether they are plain:
// ASCII without escapes. It checks the escapes, and rejects control
// characters and invalid UTF-8 (which encoding/json would replace with
// U+FFFD).
func (s *scanner) str() (raw []byte, plain, ok bool) {
	b, i := s.b, s.i
	if i >= len(b) || b[i] != '"' {
		return nil, false, false
	}
	i++
	start := i
	plain = true
	for i < len(b) {
		c := b[i]
		switch {
		case plainByte[c]:
			i++
		case c == '"':
			s.i = i + 1
			return b[start:i], plain, true
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				return nil, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(b[i+2:]) < 0 {
					return nil, false, false
				}
				i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			plain = false
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return nil, false, false
			}
			i += n
		}
	}
	return nil, false, false
}

// plainByte says which bytes stand for themselves in a JSON string: ASCII
// other than control characters, '"' and '\\'.
var plainByte = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// hex4 returns the value of the four hex digits b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unescape writes the string raw (checked by str) to sb with its escapes
// decoded as encoding/json decodes them: a \u escape of a surrogate that is
// not followed by the other half of a pair is U+FFFD.
func unescape(sb *strings.Builder, raw []byte) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			sb.WriteByte(c)
			i++
			continue
		}
		switch c = raw[i+1]; c {
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = hex4(raw[i+2:])
				}
				if r = utf16.DecodeRune(r, r2); r != utf8.RuneError {
					i += 6 // a pair
				}
			}
			sb.WriteRune(r)
			continue
		default: // " \ /
			sb.WriteByte(c)
		}
		i += 2
	}
}

// name scans a member name and the colon after it. plain is false when the
// name has escapes or non-ASCII bytes: encoding/json unescapes names and
// matches them to fields with Unicode case folding (the Kelvin sign matches
// 'k'), which the fast path does not attempt.
func (s *scanner) name() (raw []byte, plain, ok bool) {
	if raw, plain, ok = s.str(); !ok {
		return nil, false, false
	}
	s.ws()
	return raw, plain, s.consume(':')
}

// object scans an object that decodes into a struct whose fields have the
// JSON names fields (nil for an object that decodes into nothing, whose
// names do not matter). It calls member with the name of each known member,
// s.i on its value, which member must consume, and skips the values of
// other members. It rejects a known member that appears twice,
// and a name that encoding/json would match to a field case-insensitively.
// A known member whose value is null is skipped: encoding/json leaves the
// field as it is, zero since the member appears once.
func (s *scanner) object(fields []string, member func(name string) bool) bool {
	if !s.open('{') {
		return false
	}
	s.ws()
	if s.close('}') {
		return true
	}
	var seen uint64
	for {
		s.ws()
		name, plain, ok := s.name()
		if !ok || !plain && fields != nil {
			return false
		}
		s.ws()
		f := fieldIndex(fields, name)
		switch {
		case f == unknownField:
			if !s.skip() {
				return false
			}
		case f < 0 || seen&(1<<f) != 0:
			return false
		default:
			seen |= 1 << f
			if s.literal("null") {
				break
			}
			if !member(fields[f]) {
				return false
			}
		}
		s.ws()
		if s.close('}') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

const (
	unknownField = -1
	foldedField  = -2 // not a field name, but one case-insensitively
)

// fieldIndex returns the index of name in fields, unknownField, or
// foldedField.
func fieldIndex(fields []string, name []byte) int {
	for i, f := range fields {
		if string(name) == f {
			return i
		}
	}
	for _, f := range fields {
		if asciiEqualFold(name, f) {
			return foldedField
		}
	}
	return unknownField
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// literal consumes word (true, false or null) if it is next.
func (s *scanner) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// number scans a JSON number and reports whether it is an integer (no
// fraction or exponent).
func (s *scanner) number() (integer, ok bool) {
	s.consume('-')
	switch {
	case s.consume('0'):
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return false, false
	}
	integer = true
	if s.consume('.') {
		integer = false
		if s.digits() == 0 {
			return false, false
		}
	}
	if s.consume('e') || s.consume('E') {
		integer = false
		if !s.consume('+') {
			s.consume('-')
		}
		if s.digits() == 0 {
			return false, false
		}
	}
	return integer, true
}

// digits skips decimal digits and returns how many.
func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

// skip scans any JSON value.
func (s *scanner) skip() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; c {
	case '"':
		_, _, ok := s.str()
		return ok
	case '{':
		return s.object(nil, nil)
	case '[':
		if !s.open('[') {
			return false
		}
		s.ws()
		if s.close(']') {
			return true
		}
		for {
			s.ws()
			if !s.skip() {
				return false
			}
			s.ws()
			if s.close(']') {
				return true
			}
			if !s.consume(',') {
				return false
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		_, ok := s.number()
		return ok
	}
}

// skipString scans a string value that the fast path does not keep (a
// field of Record that event does not read).
func (s *scanner) skipString() bool {
	_, _, ok := s.str()
	return ok
}

// keep scans a string value and notes that it goes to *dst when the record
// ends.
func (s *scanner) keep(dst *string) bool {
	raw, plain, ok := s.str()
	if !ok {
		return false
	}
	s.kept[s.nkept] = keptString{dst, raw, plain}
	s.nkept++
	return true
}

// size scans an integer that fits in int64, as Size decodes it (it fails
// on a fraction or an exponent). A size sent as a string is left to
// encoding/json.
func (s *scanner) size(dst **Size) bool {
	start := s.i
	if integer, ok := s.number(); !ok || !integer {
		return false
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	if err != nil {
		return false
	}
	size := Size(n)
	*dst = &size
	return true
}

// The JSON names of the fields of Record and of the structs in it.
var (
	recordFields   = []string{"eventVersion", "eventSource", "awsRegion", "eventTime", "eventName", "userIdentity", "requestParameters", "responseElements", "s3"}
	identityFields = []string{"principalId"}
	requestFields  = []string{"sourceIPAddress"}
	responseFields = []string{"x-amz-request-id", "x-amz-id-2"}
	s3Fields       = []string{"s3SchemaVersion", "configurationId", "bucket", "object"}
	bucketFields   = []string{"name", "ownerIdentity", "arn"}
	objectFields   = []string{"key", "size", "eTag", "versionId", "sequencer"}
)

// record scans one record into r. Of the fields event does not read, it
// checks only that encoding/json would decode them without error.
func (s *scanner) record(r *Record) bool {
	s.nkept = 0
	ok := s.object(recordFields, func(name string) bool {
		switch name {
		case "eventVersion":
			return s.keep(&r.EventVersion)
		case "eventSource":
			return s.keep(&r.EventSource)
		case "eventTime":
			return s.keep(&r.EventTime)
		case "eventName":
			return s.keep(&r.EventName)
		case "userIdentity":
			return s.stringsObject(identityFields)
		case "requestParameters":
			return s.stringsObject(requestFields)
		case "responseElements":
			return s.stringsObject(responseFields)
		case "s3":
			return s.s3(&r.S3)
		}
		return s.skipString() // awsRegion
	})
	if !ok {
		return false
	}
	s.setKept()
	return true
}

func (s *scanner) s3(e *S3Entity) bool {
	return s.object(s3Fields, func(name string) bool {
		switch name {
		case "bucket":
			return s.object(bucketFields, func(name string) bool {
				switch name {
				case "name":
					return s.keep(&e.Bucket.Name)
				case "ownerIdentity":
					return s.stringsObject(identityFields)
				}
				return s.skipString() // arn
			})
		case "object":
			o := &e.Object
			return s.object(objectFields, func(name string) bool {
				switch name {
				case "key":
					return s.keep(&o.Key)
				case "size":
					return s.size(&o.Size)
				case "eTag":
					return s.keep(&o.ETag)
				case "versionId":
					return s.keep(&o.VersionID)
				}
				return s.keep(&o.Sequencer)
			})
		}
		return s.skipString() // s3SchemaVersion, configurationId
	})
}

// stringsObject scans an object that decodes into a struct of string
// fields the fast path does not keep (Identity, RequestParameters,
// ResponseElements).
func (s *scanner) stringsObject(fields []string) bool {
	return s.object(fields, func(string) bool { return s.skipString() })
}

// setKept sets the string fields of the record just scanned, with one
// allocation for all of them.
func (s *scanner) setKept() {
	kept := s.kept[:s.nkept]
	n := 0
	for _, k := range kept {
		n += len(k.raw) // unescaping only shortens
	}
	var sb strings.Builder
	sb.Grow(n)
	var ends [numKept]int
	for i, k := range kept {
		if k.plain {
			sb.Write(k.raw)
		} else {
			unescape(&sb, k.raw)
		}
		ends[i] = sb.Len()
	}
	all, start := sb.String(), 0
	for i, k := range kept {
		*k.dst = all[start:ends[i]]
		start = ends[i]
	}
}
