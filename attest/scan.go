package attest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner checks a JSON document (RFC 8259) in one pass over its bytes,
// without copying or decoding values, and records where the values of the
// top-level object's keys are. Beyond the grammar it enforces what strict
// parsing needs and what protobuf's JSON parser (which sigstore verifiers
// run over statements) would reject: no object repeats a key, nesting is
// at most maxDepth, the text is UTF-8, \u escapes pair surrogates, and
// every number is a finite float64.
type scanner struct {
	data []byte
	pos  int
	// keys[d] holds the keys of the object open at depth d, as written
	// when they have no escape and unescaped otherwise.
	keys [][][]byte
	// top holds the spans of the top-level object's values by key.
	top map[string]span
}

// span is a value's [start, end) in the document.
type span struct{ start, end int }

func (s *scanner) fail(format string, args ...any) error {
	return fmt.Errorf("invalid JSON: "+format+" at offset %d", append(args, s.pos)...)
}

// scanDocument checks data and returns the spans of the top-level
// object's values (nil when the document is not an object).
func scanDocument(data []byte) (map[string]span, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("invalid JSON: not UTF-8")
	}
	s := &scanner{data: data}
	s.skipSpace()
	if s.pos == len(data) {
		return nil, errors.New("invalid JSON: empty document")
	}
	if err := s.value(0); err != nil {
		return nil, err
	}
	s.skipSpace()
	if s.pos != len(data) {
		return nil, s.fail("invalid character %q after top-level value", data[s.pos])
	}
	return s.top, nil
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value scans the value at s.pos (after whitespace), at nesting depth.
func (s *scanner) value(depth int) error {
	if depth > maxDepth {
		return errors.New("JSON nested too deeply")
	}
	if s.pos == len(s.data) {
		return s.fail("unexpected end of input")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth)
	case c == '[':
		return s.array(depth)
	case c == '"':
		_, err := s.str(false)
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.fail("invalid character %q looking for beginning of value", c)
	}
}

func (s *scanner) literal(lit string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		return s.fail("invalid literal, want %s", lit)
	}
	s.pos += len(lit)
	return nil
}

func (s *scanner) object(depth int) error {
	s.pos++ // '{'
	for len(s.keys) <= depth {
		s.keys = append(s.keys, nil)
	}
	s.keys[depth] = s.keys[depth][:0]
	var seen map[string]bool // for objects with many keys
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		s.skipSpace()
		if s.pos == len(s.data) || s.data[s.pos] != '"' {
			return s.fail("object key is not a string")
		}
		key, err := s.str(true)
		if err != nil {
			return err
		}
		ks := s.keys[depth]
		switch {
		case seen != nil:
			if seen[string(key)] {
				return fmt.Errorf("duplicate JSON key %q", key)
			}
			seen[string(key)] = true
		default:
			for _, k := range ks {
				if bytes.Equal(k, key) {
					return fmt.Errorf("duplicate JSON key %q", key)
				}
			}
			if len(ks) == 16 {
				seen = make(map[string]bool, 32)
				for _, k := range ks {
					seen[string(k)] = true
				}
				seen[string(key)] = true
			}
		}
		s.keys[depth] = append(ks, key)
		s.skipSpace()
		if s.pos == len(s.data) || s.data[s.pos] != ':' {
			return s.fail("missing colon after object key")
		}
		s.pos++
		s.skipSpace()
		start := s.pos
		if err := s.value(depth + 1); err != nil {
			return err
		}
		if depth == 0 {
			if s.top == nil {
				s.top = map[string]span{}
			}
			s.top[string(key)] = span{start, s.pos}
		}
		s.skipSpace()
		if s.pos == len(s.data) {
			return s.fail("unexpected end of input in object")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.fail("invalid character %q after object key:value pair", s.data[s.pos])
		}
	}
}

func (s *scanner) array(depth int) error {
	s.pos++ // '['
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for {
		s.skipSpace()
		if err := s.value(depth + 1); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos == len(s.data) {
			return s.fail("unexpected end of input in array")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.fail("invalid character %q after array element", s.data[s.pos])
		}
	}
}

// str scans a string. For a key it returns the string's value: a
// sub-slice of the document when it has no escape, else a decoded copy.
func (s *scanner) str(key bool) ([]byte, error) {
	s.pos++ // '"'
	start := s.pos
	var out []byte // decoded value, only for keys with escapes
	escaped := false
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			if key && !escaped {
				v := s.data[start:s.pos]
				s.pos++
				return v, nil
			}
			s.pos++
			return out, nil
		case c < 0x20:
			return nil, s.fail("invalid control character %q in string", c)
		case c == '\\':
			if key && !escaped {
				out = append([]byte(nil), s.data[start:s.pos]...)
			}
			escaped = true
			r, err := s.escape()
			if err != nil {
				return nil, err
			}
			if key {
				out = utf8.AppendRune(out, r)
			}
		default:
			if key && escaped {
				out = append(out, c)
			}
			s.pos++
		}
	}
	return nil, s.fail("unexpected end of input in string")
}

// escape scans one escape sequence at s.pos and returns the rune it
// stands for. A \u escape of a UTF-16 surrogate must be a high surrogate
// followed by an escaped low one.
func (s *scanner) escape() (rune, error) {
	if s.pos+1 >= len(s.data) {
		return 0, s.fail("unexpected end of input in string escape")
	}
	c := s.data[s.pos+1]
	s.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, ok := s.hex4()
		if !ok {
			return 0, s.fail("invalid \\u escape in string")
		}
		if !utf16.IsSurrogate(r) {
			return r, nil
		}
		if s.pos+1 >= len(s.data) || s.data[s.pos] != '\\' || s.data[s.pos+1] != 'u' {
			return 0, s.fail("unpaired UTF-16 surrogate in string")
		}
		s.pos += 2
		r2, ok := s.hex4()
		if !ok {
			return 0, s.fail("invalid \\u escape in string")
		}
		pair := utf16.DecodeRune(r, r2)
		if pair == utf8.RuneError {
			return 0, s.fail("unpaired UTF-16 surrogate in string")
		}
		return pair, nil
	default:
		return 0, s.fail("invalid escape character %q in string", c)
	}
}

func (s *scanner) hex4() (rune, bool) {
	if s.pos+4 > len(s.data) {
		return 0, false
	}
	var r rune
	for _, c := range s.data[s.pos : s.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.pos += 4
	return r, true
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and checks
// that it is a finite float64.
func (s *scanner) number() error {
	start := s.pos
	if s.data[s.pos] == '-' {
		s.pos++
	}
	if s.pos == len(s.data) {
		return s.fail("unexpected end of input in number")
	}
	switch c := s.data[s.pos]; {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return s.fail("invalid character %q in numeric literal", c)
	}
	exp := false
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.fail("missing digits after decimal point")
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		exp = true
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return s.fail("missing digits in exponent")
		}
	}
	// Without an exponent, fewer than 300 characters is always finite
	// (the largest float64 has 309 integer digits).
	if exp || s.pos-start >= 300 {
		if _, err := strconv.ParseFloat(string(s.data[start:s.pos]), 64); err != nil {
			return s.fail("number %.40s is not a finite float64", s.data[start:s.pos])
		}
	}
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}
