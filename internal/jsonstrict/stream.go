package jsonstrict

import "io"

// Stream reads one JSON document from a reader and checks it under Rules
// as [Check] does, holding in memory one chunk of the input, the keys of
// the objects open at the point read, and the key or number being read.
type Stream struct {
	Rules Rules
	// Out, if set, receives the document as it is read, but for the
	// characters of the diverted string.
	Out io.Writer
	// Divert is the path of a string value whose characters (between the
	// quotes, escapes as written) go to OnDivert in pieces, the last with
	// end set, and not to Out. A value there that is not a string is read
	// like any other.
	Divert   Path
	OnDivert func(p []byte, end bool) error
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
	err = s.document()
	return s.base + int64(len(s.data)), err
}

// atDivert reports whether the value being read is at s.divert.
func (s *scanner) atDivert() bool {
	if len(s.path) != len(s.divert) {
		return false
	}
	for i, st := range s.path {
		d := s.divert[i]
		if d.IsIndex != (st.key == nil) || (d.IsIndex && d.Index != st.index) || (!d.IsIndex && d.Key != string(st.key)) {
			return false
		}
	}
	return true
}
