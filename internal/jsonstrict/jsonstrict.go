// Package jsonstrict is hallmark's one strict reader of JSON documents: the
// in-toto statements, SBOMs, scanner reports, gate predicates, DSSE
// envelopes and request bodies it parses, and (through package yamlstrict)
// its YAML files.
//
// A document is one JSON value (RFC 8259) in the I-JSON profile (RFC 7493):
// UTF-8 text, \u escapes that pair UTF-16 surrogates, numbers that are
// finite float64 values, and no object that repeats a key. Beyond that,
// [Rules] bound its nesting, may compare keys through Unicode case folding
// (for documents read into Go structs, whose field names encoding/json
// matches without regard to case), may require exact spelling for known
// keys, and may list the only fields the objects at given paths hold. Data
// after the value is an error.
//
// Each rule closes a gap between two readers of one document: a repeated
// key, or a key in another case, is read by one parser and ignored by
// another, so that a verifier and a policy engine would see two
// statements. Protobuf's JSON parser, which Sigstore verifiers run over
// statements and bundles, rejects everything the I-JSON profile rejects.
//
// [Check] and [Spans] read a document held in memory in one pass that
// copies no value; [Unmarshal] checks it so, then decodes it with
// encoding/json. A [Stream] reads one from an [io.Reader] under the same
// rules, holding one chunk, the keys of the open objects and the key being
// read (within a bound, when one is set), and can hand one large string
// value to a callback in pieces, or check one large value without copying
// it, instead of keeping it.
package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultMaxDepth is the nesting bound of [Rules] whose MaxDepth is 0.
const DefaultMaxDepth = 64

// Rules are what a document must satisfy besides the I-JSON profile. The
// zero value refuses repeated keys (compared exactly) and nesting deeper
// than [DefaultMaxDepth].
type Rules struct {
	// MaxDepth bounds nesting: the top-level value is at depth 0, and a
	// value deeper than MaxDepth is refused. 0 means DefaultMaxDepth.
	MaxDepth int
	// FoldKeys compares keys for repetition under Unicode case folding
	// (bytes.EqualFold, the rule by which encoding/json matches keys to
	// struct fields): "Severity" and "ſeverity" are then the same key.
	FoldKeys bool
	// Known are keys that must be spelled exactly wherever they appear: a
	// key equal to one of them under case folding, but spelled otherwise,
	// is refused.
	Known []string
	// Fields lists, by path pattern, the only keys the objects there may
	// hold (see [Fields]); objects at other paths may hold any key.
	Fields Fields
	// Name names the object or value at a path in error messages; nil
	// names it by its path ("subject[0].digest"), or "the top level".
	Name func(Path) string
	// UseNumber makes [Unmarshal] decode numbers into interface values as
	// json.Number (encoding/json's Decoder.UseNumber).
	UseNumber bool
}

func (r *Rules) maxDepth() int {
	if r.MaxDepth == 0 {
		return DefaultMaxDepth
	}
	return r.MaxDepth
}

// Where names the object or value at p as errors name it.
func (r *Rules) Where(p Path) string {
	if r.Name != nil {
		return r.Name(p)
	}
	if len(p) == 0 {
		return "the top level"
	}
	return p.String()
}

// Check checks that data is one JSON value satisfying r.
func Check(data []byte, r Rules) error {
	s, err := newScanner(data, &r)
	if err != nil {
		return err
	}
	return s.document()
}

// Unmarshal checks data under r and decodes it into v with encoding/json.
// Errors of the check are [*Error]s; decoding errors are encoding/json's.
func Unmarshal(data []byte, v any, r Rules) error {
	if err := Check(data, r); err != nil {
		return err
	}
	if !r.UseNumber {
		return json.Unmarshal(data, v)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

// Span is where a value lies in a document: data[Start:End].
type Span struct{ Start, End int }

// Spans checks data like [Check] and, when it is an object, returns where
// the value of each of its keys lies (nil for another value).
func Spans(data []byte, r Rules) (map[string]Span, error) {
	s, err := newScanner(data, &r)
	if err != nil {
		return nil, err
	}
	s.top = map[string]Span{}
	if err := s.document(); err != nil {
		return nil, err
	}
	if s.topKind != '{' {
		return nil, nil
	}
	return s.top, nil
}

// Step is one step of a Path: an object key, or an array index when
// IsIndex is set.
type Step struct {
	Key     string
	Index   int
	IsIndex bool
}

// Path is where a value sits in a document, from the top.
type Path []Step

// String renders the path as "key[2].other" (empty at the top).
func (p Path) String() string {
	var b strings.Builder
	for i, s := range p {
		if s.IsIndex {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.Index))
			b.WriteByte(']')
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.Key)
	}
	return b.String()
}

// The rules a document can break; an [*Error] wraps one of them.
var (
	// ErrSyntax: the text is not JSON in the I-JSON profile.
	ErrSyntax = errors.New("invalid JSON")
	// ErrTrailingData: something other than white space follows the value.
	ErrTrailingData = errors.New("data after the JSON value")
	// ErrTooDeep: nesting deeper than Rules.MaxDepth.
	ErrTooDeep = errors.New("nested too deeply")
	// ErrDuplicateKey: an object repeats a key.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrKeySpelling: a Rules.Known key is spelled in another case.
	ErrKeySpelling = errors.New("key spelled in another case")
	// ErrUnknownField: a key not among Rules.Fields for its object.
	ErrUnknownField = errors.New("unknown field")
	// ErrTooLarge: a [Stream] would hold more than its MaxHeld bytes.
	ErrTooLarge = errors.New("too large to read as a stream")
)

// Error is a document's breach of a rule.
type Error struct {
	// Err is the rule: ErrSyntax, ErrTrailingData, ErrTooDeep,
	// ErrDuplicateKey, ErrKeySpelling, ErrUnknownField or ErrTooLarge.
	Err error
	// Path is the object holding Key for the key rules, else the value
	// where the error is.
	Path Path
	// Where is Path as Rules.Name names it.
	Where string
	// Key is the offending key: the repeated one (its second spelling),
	// the misspelled or the unknown one.
	Key string
	// Prev is the first spelling of a repeated key; Want the spelling of
	// a misspelled one.
	Prev, Want string
	// Known lists the fields of the object, for ErrUnknownField.
	Known []string
	// Offset is the byte offset in a JSON document; Line and PrevLine
	// (of Prev) are lines in a YAML document (0 for JSON).
	Offset         int64
	Line, PrevLine int
	// Depth is the nesting bound, for ErrTooDeep.
	Depth int
	// Detail says what is wrong, for ErrSyntax, ErrTrailingData and
	// ErrTooLarge.
	Detail string
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	known := ""
	if len(e.Known) > 0 {
		known = " (known: " + strings.Join(e.Known, ", ") + ")"
	}
	if e.Line > 0 {
		switch e.Err {
		case ErrDuplicateKey:
			return fmt.Sprintf("line %d: %s: key %q repeats the one on line %d", e.Line, e.Where, e.Key, e.PrevLine)
		case ErrKeySpelling:
			return fmt.Sprintf("line %d: %s: key %q, want %q", e.Line, e.Where, e.Key, e.Want)
		case ErrUnknownField:
			return fmt.Sprintf("line %d: %s: unknown field %q%s", e.Line, e.Where, e.Key, known)
		case ErrTooDeep:
			return fmt.Sprintf("line %d: %s: nested deeper than %d levels", e.Line, e.Where, e.Depth)
		}
		return fmt.Sprintf("line %d: %s", e.Line, e.Detail)
	}
	switch e.Err {
	case ErrDuplicateKey:
		if e.Prev != e.Key {
			return fmt.Sprintf("duplicate JSON key %q in %s (%q to a case-insensitive reader)", e.Key, e.Where, e.Prev)
		}
		return fmt.Sprintf("duplicate JSON key %q in %s", e.Key, e.Where)
	case ErrKeySpelling:
		return fmt.Sprintf("key %q in %s, want %q", e.Key, e.Where, e.Want)
	case ErrUnknownField:
		return fmt.Sprintf("unknown field %q in %s%s", e.Key, e.Where, known)
	case ErrTooDeep:
		return fmt.Sprintf("JSON nested too deeply: %s is deeper than %d levels", e.Where, e.Depth)
	case ErrTooLarge:
		return fmt.Sprintf("JSON too large to read as a stream: %s at offset %d", e.Detail, e.Offset)
	}
	return fmt.Sprintf("invalid JSON: %s at offset %d", e.Detail, e.Offset)
}
