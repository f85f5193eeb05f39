package jsonstrict

import "io"

// Stream reads one JSON document from a reader and checks it under Rules
// as [Check] does, holding in memory one chunk of the input, the keys of
// the objects open at the point read, and the key or number being read.
type Stream struct {
	Rules Rules
	// Out, if set, receives the document as it is read, but for the
	// characters of the diverted string and the elided value.
	Out io.Writer
	// Divert is the path of a string value whose characters (between the
	// quotes, escapes as written) go to OnDivert in pieces, the last with
	// end set, and not to Out. A value there that is not a string is read
	// like any other.
	Divert   Path
	OnDivert func(p []byte, end bool) error
	// Elide is the path of a value that is checked like the rest of the
	// document but not written to Out: Out gets Placeholder in its place.
	// A diverted string inside it is elided, not diverted.
	Elide       Path
	Placeholder []byte
	// Elided is set by ReadFrom to the first byte of the value found at
	// Elide ('{', '[', '"', 't', 'f', 'n' or a number's first byte), or 0
	// when there was none.
	Elided byte
	// MaxHeld, when above 0, bounds what the stream holds besides its
	// chunk of the input: the keys of the objects open at the point read
	// (which the duplicate-key rule needs) and the key or number being
	// read. A document that needs more is refused with [ErrTooLarge],
	// so that memory does not grow with the document whatever its shape.
	MaxHeld int64
}

// ReadFrom reads r to its end, or to the first error, and returns how many
// bytes it read. An error of r, Out or OnDivert is returned as it is; a
// breach of the rules is an [*Error].
func (st *Stream) ReadFrom(r io.Reader) (int64, error) {
	s, err := newScanner(nil, &st.Rules)
	if err != nil {
		return 0, err
	}
	s.r, s.out = r, st.Out
	s.divert, s.onDivert = st.Divert, st.OnDivert
	s.elide, s.placeholder = st.Elide, st.Placeholder
	s.maxHeld = st.MaxHeld
	err = s.document()
	st.Elided = s.elided
	return s.base + int64(len(s.data)), err
}

// at reports whether the value being read is at p.
func (s *scanner) at(p Path) bool {
	if len(s.path) != len(p) {
		return false
	}
	for i, st := range s.path {
		d := p[i]
		if d.IsIndex != (st.key == nil) || (d.IsIndex && d.Index != st.index) || (!d.IsIndex && d.Key != string(st.key)) {
			return false
		}
	}
	return true
}
