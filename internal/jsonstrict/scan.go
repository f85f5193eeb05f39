package jsonstrict

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner checks a JSON document in one pass over its bytes, without
// decoding values, under the rules of the package doc. It reads a window
// of the document: all of it for [Check], a chunk at a time for a
// [Stream], whose window keeps only what a key or number being read needs.
type scanner struct {
	rules    *Rules
	maxDepth int
	fields   *fieldNode
	known    map[string]string // folded key → its spelling

	// The window: data is the document from offset base, and pos the
	// next byte to read. mark (≥ 0) is a position the window keeps while
	// a key or a number is read.
	r    io.Reader
	data []byte
	pos  int
	base int64
	mark int
	eof  bool
	err  error // a read or output error, which ends the scan

	// Streams: what has been read is copied to out, but the characters of
	// the string at divert go to onDivert.
	out        io.Writer
	flushed    int
	divert     Path
	onDivert   func([]byte, bool) error
	divertNext bool // the string at s.pos is the diverted one
	diverting  bool
	// and the value at elide is read without being copied; out gets
	// placeholder instead, and elided records its first byte.
	elide       Path
	placeholder []byte
	eliding     bool
	elided      byte
	// maxHeld (> 0) bounds held, the bytes of keys kept for the objects
	// open (heldAt by depth), plus a key or number being read.
	maxHeld int64
	held    int64
	heldAt  []int64

	// path is where the scan is; keys are sub-slices as in keys below.
	path []step
	// keys[d] holds the keys of the object open at depth d, as written
	// when they have no escape and unescaped otherwise (in a stream,
	// always copies, into arena[d], which the next object at depth d
	// reuses); index[d] indexes them once there are many.
	keys    [][][]byte
	arena   [][]byte
	index   []map[string]int
	scratch []byte
	// top holds the spans of the top-level object's values by key (for
	// Spans), and topKind the first byte of the top-level value.
	top     map[string]Span
	topKind byte
}

// manyKeys is the number of keys from which an object's keys are indexed
// rather than searched.
const manyKeys = 16

func newScanner(data []byte, r *Rules) (*scanner, error) {
	fields, err := compileFields(r.Fields)
	if err != nil {
		return nil, err
	}
	s := &scanner{rules: r, maxDepth: r.maxDepth(), fields: fields, data: data, mark: -1}
	if len(r.Known) > 0 {
		s.known = make(map[string]string, len(r.Known))
		for _, k := range r.Known {
			s.known[string(appendFold(nil, []byte(k)))] = k
		}
	}
	return s, nil
}

// document scans one value and white space to the end of the input.
func (s *scanner) document() error {
	s.skipSpace()
	if !s.more() {
		if s.err != nil {
			return s.err
		}
		return s.syntax("empty document")
	}
	s.topKind = s.data[s.pos]
	if err := s.value(0, s.fields); err != nil {
		return err
	}
	s.skipSpace()
	if s.more() {
		return s.fail(ErrTrailingData, fmt.Sprintf("invalid character %q after top-level value", s.data[s.pos]))
	}
	if s.err != nil {
		return s.err
	}
	return s.flush()
}

// more reports whether a byte is there to read at s.pos, reading more of a
// stream when the window is used up.
func (s *scanner) more() bool {
	return s.pos < len(s.data) || s.fill()
}

// need reports whether n bytes are there to read from s.pos.
func (s *scanner) need(n int) bool {
	for len(s.data)-s.pos < n {
		if !s.fill() {
			return false
		}
	}
	return true
}

// readSize is how much of a stream is read at a time.
const readSize = 64 << 10

// fill reads more of a stream into the window, after handing on what has
// been read and dropping what no longer needs keeping.
func (s *scanner) fill() bool {
	if s.r == nil || s.eof || s.err != nil {
		return false
	}
	if err := s.flush(); err != nil {
		s.err = err
		return false
	}
	keep := s.pos
	if s.mark >= 0 && s.mark < keep {
		keep = s.mark
	}
	if keep > 0 {
		n := copy(s.data, s.data[keep:])
		s.data = s.data[:n]
		s.base += int64(keep)
		s.pos -= keep
		s.flushed -= keep
		if s.mark >= 0 {
			s.mark -= keep
		}
	}
	if s.maxHeld > 0 && s.mark >= 0 && s.held+int64(len(s.data)-s.mark) > s.maxHeld {
		s.err = s.fail(ErrTooLarge, fmt.Sprintf("a key or number over %d bytes", s.maxHeld-s.held))
		return false
	}
	if cap(s.data)-len(s.data) < readSize/2 {
		grown := make([]byte, len(s.data), 2*cap(s.data)+readSize)
		copy(grown, s.data)
		s.data = grown
	}
	for {
		n, err := s.r.Read(s.data[len(s.data):cap(s.data)])
		s.data = s.data[:len(s.data)+n]
		switch {
		case err == io.EOF:
			s.eof = true
		case err != nil:
			s.err = err
		}
		if n > 0 {
			return true
		}
		if s.eof || s.err != nil {
			return false
		}
	}
}

// flush hands on what has been read since the last flush: to onDivert
// inside the diverted string, else to out.
func (s *scanner) flush() error {
	if s.flushed >= s.pos {
		return nil
	}
	chunk := s.data[s.flushed:s.pos]
	s.flushed = s.pos
	if s.eliding {
		return nil
	}
	if s.diverting {
		return s.onDivert(chunk, false)
	}
	if s.out != nil {
		_, err := s.out.Write(chunk)
		return err
	}
	return nil
}

func (s *scanner) offset() int64 { return s.base + int64(s.pos) }

func (s *scanner) syntax(format string, args ...any) error {
	return s.fail(ErrSyntax, fmt.Sprintf(format, args...))
}

func (s *scanner) fail(kind error, detail string) error {
	p := s.publicPath()
	return &Error{Err: kind, Path: p, Where: s.rules.Where(p), Offset: s.offset(), Detail: detail}
}

// step is a Step whose key is a sub-slice of the document or a copy; an
// index step has a nil key.
type step struct {
	key   []byte
	index int
}

func (s *scanner) publicPath() Path {
	if len(s.path) == 0 {
		return nil
	}
	p := make(Path, len(s.path))
	for i, st := range s.path {
		if st.key == nil {
			p[i] = Step{Index: st.index, IsIndex: true}
		} else {
			p[i] = Step{Key: string(st.key)}
		}
	}
	return p
}

// end is the error for input that ends inside a value: a read or output
// error if there was one.
func (s *scanner) end(in string) error {
	if s.err != nil {
		return s.err
	}
	return s.syntax("unexpected end of input%s", in)
}

func (s *scanner) keyError(kind error, key, prev string, at int64) *Error {
	p := s.publicPath()
	e := &Error{Err: kind, Path: p, Where: s.rules.Where(p), Key: key, Offset: at}
	switch kind {
	case ErrDuplicateKey:
		e.Prev = prev
	case ErrKeySpelling:
		e.Want = prev
	}
	return e
}

func (s *scanner) skipSpace() {
	for {
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return
			}
		}
		if !s.fill() {
			return
		}
	}
}

// value scans the value at s.pos (after white space), at nesting depth,
// under the field rules f.
func (s *scanner) value(depth int, f *fieldNode) error {
	if depth > s.maxDepth {
		p := s.publicPath()
		return &Error{Err: ErrTooDeep, Path: p, Where: s.rules.Where(p), Depth: s.maxDepth, Offset: s.offset()}
	}
	if !s.more() {
		return s.end("")
	}
	if s.elide != nil && !s.eliding && s.at(s.elide) {
		return s.elideValue(depth, f)
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth, f)
	case c == '[':
		return s.array(depth, f)
	case c == '"':
		s.divertNext = s.onDivert != nil && !s.eliding && s.at(s.divert)
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
		return s.syntax("invalid character %q looking for beginning of value", c)
	}
}

// elideValue scans the value at s.pos without copying it to out, and
// writes the placeholder there instead.
func (s *scanner) elideValue(depth int, f *fieldNode) error {
	if err := s.flush(); err != nil {
		return err
	}
	s.elided = s.data[s.pos]
	s.eliding = true
	err := s.value(depth, f)
	s.eliding = false
	if err != nil {
		return err
	}
	s.flushed = s.pos
	if s.out != nil {
		if _, err := s.out.Write(s.placeholder); err != nil {
			return err
		}
	}
	return nil
}

func (s *scanner) literal(lit string) error {
	if !s.need(len(lit)) || !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		if s.err != nil {
			return s.err
		}
		return s.syntax("invalid literal, want %s", lit)
	}
	s.pos += len(lit)
	return nil
}

func (s *scanner) object(depth int, f *fieldNode) error {
	s.pos++ // '{'
	for len(s.keys) <= depth {
		s.keys = append(s.keys, nil)
		s.index = append(s.index, nil)
		s.arena = append(s.arena, nil)
	}
	s.keys[depth] = s.keys[depth][:0]
	s.arena[depth] = s.arena[depth][:0]
	s.index[depth] = nil
	if s.maxHeld > 0 {
		for len(s.heldAt) <= depth {
			s.heldAt = append(s.heldAt, 0)
		}
		defer func() {
			s.held -= s.heldAt[depth]
			s.heldAt[depth] = 0
		}()
	}
	s.skipSpace()
	if s.more() && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		s.skipSpace()
		if !s.more() {
			return s.end(" in object")
		}
		if s.data[s.pos] != '"' {
			return s.syntax("object key is not a string")
		}
		keyAt := s.offset()
		key, err := s.str(true)
		if err != nil {
			return err
		}
		if s.r != nil {
			// A key in the window lasts until the next read: keep a copy.
			a := s.arena[depth]
			n := len(a)
			a = append(a, key...)
			key, s.arena[depth] = a[n:len(a):len(a)], a
		}
		if err := s.checkKey(depth, f, key, keyAt); err != nil {
			return err
		}
		s.skipSpace()
		if !s.more() {
			return s.end(" in object")
		}
		if s.data[s.pos] != ':' {
			return s.syntax("missing colon after object key")
		}
		s.pos++
		s.skipSpace()
		start := s.offset()
		if key == nil {
			key = []byte{} // a key step has a non-nil key
		}
		s.path = append(s.path, step{key: key})
		err = s.value(depth+1, f.child(string(key)))
		s.path = s.path[:len(s.path)-1]
		if err != nil {
			return err
		}
		if depth == 0 && s.top != nil {
			s.top[string(key)] = Span{int(start), int(s.offset())}
		}
		s.skipSpace()
		if !s.more() {
			return s.end(" in object")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.syntax("invalid character %q after object key:value pair", s.data[s.pos])
		}
	}
}

// checkKey applies the key rules to key, read at offset at in the object
// open at depth.
func (s *scanner) checkKey(depth int, f *fieldNode, key []byte, at int64) error {
	ks := s.keys[depth]
	if idx := s.index[depth]; idx != nil {
		k := key
		if s.rules.FoldKeys {
			s.scratch = appendFold(s.scratch[:0], key)
			k = s.scratch
		}
		if i, dup := idx[string(k)]; dup {
			return s.keyError(ErrDuplicateKey, string(key), string(ks[i]), at)
		}
		idx[string(k)] = len(ks)
	} else {
		for _, k := range ks {
			if bytes.Equal(k, key) || (s.rules.FoldKeys && bytes.EqualFold(k, key)) {
				return s.keyError(ErrDuplicateKey, string(key), string(k), at)
			}
		}
		if len(ks) == manyKeys {
			idx := make(map[string]int, 2*manyKeys)
			for i, k := range append(ks, key) {
				if s.rules.FoldKeys {
					k = appendFold(nil, k)
				}
				idx[string(k)] = i
			}
			s.index[depth] = idx
		}
	}
	s.keys[depth] = append(ks, key)
	if s.maxHeld > 0 {
		// A key costs its bytes, its slice header and its index entry.
		n := int64(len(key)) + keyOverhead
		s.heldAt[depth] += n
		s.held += n
		if s.held > s.maxHeld {
			p := s.publicPath()
			return &Error{Err: ErrTooLarge, Path: p, Where: s.rules.Where(p), Offset: at,
				Detail: fmt.Sprintf("the keys of the open objects hold over %d bytes", s.maxHeld)}
		}
	}
	if s.known != nil {
		s.scratch = appendFold(s.scratch[:0], key)
		if want, ok := s.known[string(s.scratch)]; ok && want != string(key) {
			return s.keyError(ErrKeySpelling, string(key), want, at)
		}
	}
	if f != nil && f.allowed != nil && !f.allowed[string(key)] {
		e := s.keyError(ErrUnknownField, string(key), "", at)
		e.Known = f.known
		return e
	}
	return nil
}

// keyOverhead is what a held key costs besides its bytes.
const keyOverhead = 64

// appendFold appends key with every rune replaced by the smallest rune of
// its Unicode case-folding orbit: two keys fold alike exactly when
// bytes.EqualFold holds ("ſ" is "S", "k" and the Kelvin sign "K").
func appendFold(dst, key []byte) []byte {
	for i := 0; i < len(key); {
		c := key[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(key[i:])
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		dst = utf8.AppendRune(dst, least)
		i += n
	}
	return dst
}

func (s *scanner) array(depth int, f *fieldNode) error {
	s.pos++ // '['
	s.skipSpace()
	if s.more() && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		s.skipSpace()
		s.path = append(s.path, step{index: i})
		err := s.value(depth+1, f.element())
		s.path = s.path[:len(s.path)-1]
		if err != nil {
			return err
		}
		s.skipSpace()
		if !s.more() {
			return s.end(" in array")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.syntax("invalid character %q after array element", s.data[s.pos])
		}
	}
}

// str scans a string. For a key it returns the string's value: a
// sub-slice of the window when it has no escape (in a stream, valid until
// the window is next filled), else a decoded copy.
func (s *scanner) str(key bool) ([]byte, error) {
	s.pos++ // '"'
	if key {
		s.mark = s.pos
	}
	if s.divertNext {
		s.divertNext = false
		if err := s.flush(); err != nil {
			return nil, err
		}
		s.diverting = true
	}
	var out []byte // decoded value, only for keys with escapes
	escaped := false
	for {
		start := s.pos
		for s.pos < len(s.data) {
			c := s.data[s.pos]
			if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				break
			}
			s.pos++
		}
		if escaped {
			out = append(out, s.data[start:s.pos]...)
			// A key decoded as it is read is held in out, not in the
			// buffer that fill bounds: bound it here.
			if s.maxHeld > 0 && s.held+int64(len(out)) > s.maxHeld {
				return nil, s.fail(ErrTooLarge, fmt.Sprintf("a key over %d bytes", s.maxHeld-s.held))
			}
		}
		if !s.more() {
			s.mark = -1
			return nil, s.end(" in string")
		}
		switch c := s.data[s.pos]; {
		case c == '"':
			if key && !escaped {
				v := s.data[s.mark:s.pos]
				s.mark = -1
				s.pos++
				return v, nil
			}
			if s.diverting {
				chunk := s.data[s.flushed:s.pos]
				s.flushed, s.diverting = s.pos, false
				if err := s.onDivert(chunk, true); err != nil {
					return nil, err
				}
			}
			s.pos++
			return out, nil
		case c < 0x20:
			s.mark = -1
			return nil, s.syntax("invalid control character %q in string", c)
		case c == '\\':
			if key && !escaped {
				out = append([]byte(nil), s.data[s.mark:s.pos]...)
				escaped = true
				s.mark = -1
			}
			r, err := s.escape()
			if err != nil {
				return nil, err
			}
			if escaped {
				out = utf8.AppendRune(out, r)
			}
		default:
			if !utf8.FullRune(s.data[s.pos:]) {
				s.need(utf8.UTFMax)
			}
			r, n := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && n <= 1 {
				s.mark = -1
				if s.err != nil {
					return nil, s.err
				}
				return nil, s.syntax("string is not UTF-8")
			}
			if escaped {
				out = append(out, s.data[s.pos:s.pos+n]...)
			}
			s.pos += n
		}
	}
}

// escape scans one escape sequence at s.pos and returns the rune it
// stands for. A \u escape of a UTF-16 surrogate must be a high surrogate
// followed by an escaped low one.
func (s *scanner) escape() (rune, error) {
	if !s.need(2) {
		return 0, s.end(" in string escape")
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
			return 0, s.syntax("invalid \\u escape in string")
		}
		if !utf16.IsSurrogate(r) {
			return r, nil
		}
		if !s.need(2) || s.data[s.pos] != '\\' || s.data[s.pos+1] != 'u' {
			return 0, s.syntax("unpaired UTF-16 surrogate in string")
		}
		s.pos += 2
		r2, ok := s.hex4()
		if !ok {
			return 0, s.syntax("invalid \\u escape in string")
		}
		pair := utf16.DecodeRune(r, r2)
		if pair == utf8.RuneError {
			return 0, s.syntax("unpaired UTF-16 surrogate in string")
		}
		return pair, nil
	default:
		return 0, s.syntax("invalid escape character %q in string", c)
	}
}

func (s *scanner) hex4() (rune, bool) {
	if !s.need(4) {
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
	s.mark = s.pos
	defer func() { s.mark = -1 }()
	if s.data[s.pos] == '-' {
		s.pos++
	}
	if !s.more() {
		return s.end(" in number")
	}
	switch c := s.data[s.pos]; {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return s.syntax("invalid character %q in numeric literal", c)
	}
	exp := false
	if s.more() && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.syntax("missing digits after decimal point")
		}
	}
	if s.more() && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		exp = true
		s.pos++
		if s.more() && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return s.syntax("missing digits in exponent")
		}
	}
	if s.err != nil {
		return s.err
	}
	// Without an exponent, fewer than 300 characters is always finite
	// (the largest float64 has 309 integer digits).
	if text := s.data[s.mark:s.pos]; exp || len(text) >= 300 {
		if _, err := strconv.ParseFloat(string(text), 64); err != nil {
			return s.syntax("number %.40s is not a finite float64", text)
		}
	}
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for {
		for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
			s.pos++
			n++
		}
		if s.pos < len(s.data) || !s.fill() {
			return n
		}
	}
}
