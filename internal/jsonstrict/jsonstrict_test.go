package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestCheck(t *testing.T) {
	fields := Rules{
		Fields: Fields{"": {"a", "list", "m"}, "list[]": {"k"}, "m.*": {"v"}},
	}
	tests := []struct {
		name string
		in   string
		r    Rules
		want string // "" for no error
		err  error
	}{
		{"scalar", `1`, Rules{}, "", nil},
		{"white space around", " \t\n{}\r\n", Rules{}, "", nil},
		{"exact keys differ by case", `{"a":1,"A":2}`, Rules{}, "", nil},
		{"exact duplicate", `{"a":1,"a":2}`, Rules{}, `duplicate JSON key "a" in the top level`, ErrDuplicateKey},
		{"duplicate through an escape", `{"x":[{"b":1,"\u0062":2}]}`, Rules{}, `duplicate JSON key "b" in x[0]`, ErrDuplicateKey},
		{"duplicate among many", `{` + keys(40) + `,"k7":0}`, Rules{}, `duplicate JSON key "k7"`, ErrDuplicateKey},
		{"folded duplicate", `{"x":[{"a":1,"A":2}]}`, Rules{FoldKeys: true}, `duplicate JSON key "A" in x[0] ("a" to a case-insensitive reader)`, ErrDuplicateKey},
		{"folded duplicate by Unicode folding", `{"s":1,"\u017f":2}`, Rules{FoldKeys: true}, `duplicate JSON key "ſ"`, ErrDuplicateKey},
		{"folded duplicate among many", `{` + keys(40) + `,"K7":0}`, Rules{FoldKeys: true}, `duplicate JSON key "K7"`, ErrDuplicateKey},
		{"Kelvin sign among many", `{` + keys(40) + `,"\u212a7":0}`, Rules{FoldKeys: true}, "duplicate JSON key \"\u212a7\"", ErrDuplicateKey},
		{"known key misspelled", `[0,{"y":{"Name":1}}]`, Rules{Known: []string{"name"}}, `key "Name" in [1].y, want "name"`, ErrKeySpelling},
		{"known key misspelled by Unicode folding", `{"\u017ftatus":1}`, Rules{Known: []string{"status"}}, `key "ſtatus" in the top level, want "status"`, ErrKeySpelling},
		{"known key spelled right", `{"name":{"name":1}}`, Rules{Known: []string{"name"}}, "", nil},
		{"unknown field", `{"a":1,"b":2}`, fields, `unknown field "b" in the top level (known: a, list, m)`, ErrUnknownField},
		{"unknown field in an array element", `{"list":[{"k":1},{"K":1}]}`, fields, `unknown field "K" in list[1] (known: k)`, ErrUnknownField},
		{"unknown field under any key", `{"m":{"x":{"v":1},"y":{"w":1}}}`, fields, `unknown field "w" in m.y`, ErrUnknownField},
		{"open object below a closed one", `{"a":{"anything":1}}`, fields, "", nil},
		{"named", `{"b":1}`, Rules{Fields: Fields{"": {"a"}}, Name: func(Path) string { return "statement" }}, `unknown field "b" in statement`, ErrUnknownField},
		{"too deep", `[[[[[[1]]]]]]`, Rules{MaxDepth: 4}, "JSON nested too deeply: [0][0][0][0][0] is deeper than 4 levels", ErrTooDeep},
		{"default depth", strings.Repeat("[", 66) + strings.Repeat("]", 66), Rules{}, "deeper than 64 levels", ErrTooDeep},
		{"depth at the bound", strings.Repeat("[", 65) + strings.Repeat("]", 65), Rules{}, "", nil},
		{"trailing data", `{} {}`, Rules{}, `invalid JSON: invalid character '{' after top-level value at offset 3`, ErrTrailingData},
		{"empty", ``, Rules{}, "invalid JSON: empty document", ErrSyntax},
		{"invalid", `{"a":}`, Rules{}, "invalid JSON: invalid character '}' looking for beginning of value at offset 5", ErrSyntax},
		{"unclosed", `[1`, Rules{}, "unexpected end of input in array", ErrSyntax},
		{"unclosed string", `"ab`, Rules{}, "unexpected end of input in string", ErrSyntax},
		{"not UTF-8", "\"\xff\"", Rules{}, "string is not UTF-8", ErrSyntax},
		{"lone surrogate", `"\ud800"`, Rules{}, "unpaired UTF-16 surrogate", ErrSyntax},
		{"reversed surrogates", `"\udc00\ud800"`, Rules{}, "unpaired UTF-16 surrogate", ErrSyntax},
		{"paired surrogates", `"\ud83d\ude00"`, Rules{}, "", nil},
		{"infinite number", `1e400`, Rules{}, "not a finite float64", ErrSyntax},
		{"long number", strings.Repeat("9", 400), Rules{}, "not a finite float64", ErrSyntax},
		{"control character", "\"\x01\"", Rules{}, "invalid control character", ErrSyntax},
		{"bad field pattern", `{}`, Rules{Fields: Fields{"a..b": {"x"}}}, `jsonstrict: field pattern "a..b" is not valid`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.in), tt.r)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check(%s) = %v, want nil", tt.in, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Check(%s) = %v, want %q", tt.in, err, tt.want)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Fatalf("Check(%s) = %v, want it to wrap %v", tt.in, err, tt.err)
			}
			// A stream read a byte at a time says the same.
			var out bytes.Buffer
			st := Stream{Rules: tt.r, Out: &out}
			n, serr := st.ReadFrom(iotest.OneByteReader(strings.NewReader(tt.in)))
			if got, want := errString(serr), errString(err); got != want {
				t.Fatalf("stream: %s, want %s", got, want)
			}
			if err == nil && (out.String() != tt.in || n != int64(len(tt.in))) {
				t.Fatalf("stream copied %d bytes %q, want %q", n, out.String(), tt.in)
			}
		})
	}
}

func keys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":0`)
	}
	return b.String()
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestErrorPath(t *testing.T) {
	err := Check([]byte(`{"a":[0,{"b":{"c":1,"c":2}}]}`), Rules{})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Check: %T %v, want *Error", err, err)
	}
	want := Path{{Key: "a"}, {Index: 1, IsIndex: true}, {Key: "b"}}
	if diff := cmp.Diff(want, e.Path); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
	if e.Key != "c" || e.Offset != 20 {
		t.Errorf("key %q at %d, want \"c\" at 20", e.Key, e.Offset)
	}
}

func TestUnmarshal(t *testing.T) {
	var v struct {
		A json.Number `json:"a"`
		B any         `json:"b"`
	}
	if err := Unmarshal([]byte(`{"a":1.50,"b":10}`), &v, Rules{UseNumber: true}); err != nil {
		t.Fatal(err)
	}
	if v.A != "1.50" || v.B != json.Number("10") {
		t.Errorf("got %q %v, want 1.50 and the number 10", v.A, v.B)
	}
	if err := Unmarshal([]byte(`{"a":1,"A":2}`), &v, Rules{FoldKeys: true}); !errors.Is(err, ErrDuplicateKey) {
		t.Errorf("got %v, want a duplicate key", err)
	}
	if err := Unmarshal([]byte(`{"a":"x"}`), &v, Rules{}); err == nil || !strings.Contains(err.Error(), "json: invalid number literal") {
		t.Errorf("got %v, want encoding/json's error", err)
	}
}

func TestSpans(t *testing.T) {
	in := `{"a": [1, 2] , "b":"x"}`
	got, err := Spans([]byte(in), Rules{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Span{"a": {6, 12}, "b": {19, 22}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got, err := Spans([]byte(`[1]`), Rules{}); err != nil || got != nil {
		t.Errorf("Spans of an array: %v, %v, want nil, nil", got, err)
	}
}

type embedded struct {
	E   string `json:"e"`
	Dup int    `json:"x"`
}

type Inner struct {
	In string
}

type recursive struct {
	Name     string      `json:"name"`
	Children []recursive `json:"children"`
}

func TestFieldsOf(t *testing.T) {
	type doc struct {
		embedded
		*Inner
		X        string `json:"x"` // shallower than embedded.Dup
		Skip     string `json:"-"`
		Dash     string `json:"-,"`
		hidden   string
		List     []struct{ K int } `json:"list,omitempty"`
		Map      map[string]struct{ V int }
		Raw      json.RawMessage `json:"raw"`
		Bytes    []byte          `json:"bytes"`
		Any      any             `json:"any"`
		Tree     recursive       `json:"tree"`
		Array    [2]struct{ A int }
		PtrSlice *[]*struct{ P int } `json:"ptrs"`
	}
	got := FieldsOf(&doc{})
	want := Fields{
		"":        {"-", "Array", "In", "Map", "any", "bytes", "e", "list", "ptrs", "raw", "tree", "x"},
		"list[]":  {"K"},
		"Map.*":   {"V"},
		"tree":    {"children", "name"},
		"Array[]": {"A"},
		"ptrs[]":  {"P"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// What FieldsOf allows is what encoding/json reads.
	in := `{"e":"1","In":"2","x":"3","-":"4","list":[{"K":1}],"Map":{"m":{"V":1}},"tree":{"name":"n","children":[{"name":"c","other":1}]}}`
	if err := Unmarshal([]byte(in), &doc{}, Rules{Fields: got}); err != nil {
		t.Errorf("Unmarshal: %v", err)
	}
	if err := Check([]byte(`{"Skip":"1"}`), Rules{Fields: got}); !errors.Is(err, ErrUnknownField) {
		t.Errorf("a field json ignores: %v, want unknown", err)
	}
}

func TestStreamDivert(t *testing.T) {
	in := `{"a":{"p":"abc\"d","q":"x"},"p":"top"}`
	var out, got bytes.Buffer
	ends := 0
	st := Stream{
		Out:    &out,
		Divert: Path{{Key: "a"}, {Key: "p"}},
		OnDivert: func(p []byte, end bool) error {
			got.Write(p)
			if end {
				ends++
			}
			return nil
		},
	}
	if _, err := st.ReadFrom(iotest.HalfReader(strings.NewReader(in))); err != nil {
		t.Fatal(err)
	}
	if got.String() != `abc\"d` || ends != 1 {
		t.Errorf("diverted %q (%d ends), want %q once", got.String(), ends, `abc\"d`)
	}
	if want := `{"a":{"p":"","q":"x"},"p":"top"}`; out.String() != want {
		t.Errorf("out %s, want %s", out.String(), want)
	}

	stop := errors.New("stop")
	st.OnDivert = func([]byte, bool) error { return stop }
	if _, err := st.ReadFrom(strings.NewReader(in)); err != stop {
		t.Errorf("got %v, want the callback's error", err)
	}
	read := errors.New("read")
	if _, err := st.ReadFrom(io.MultiReader(strings.NewReader(`{"a"`), iotest.ErrReader(read))); err != read {
		t.Errorf("got %v, want the reader's error", err)
	}
}

func TestStreamElide(t *testing.T) {
	tests := []struct {
		name, in, out string
		elided        byte
	}{
		{"object", `{"a":1,"p":{"x":[1,{"y":"z"}],"d":"s"},"b":2}`, `{"a":1,"p":{},"b":2}`, '{'},
		{"null", `{"p":null}`, `{"p":{}}`, 'n'},
		{"number", `{"p":-12.5e3 }`, `{"p":{} }`, '-'},
		{"string", `{"p":"x\"y"}`, `{"p":{}}`, '"'},
		{"absent", `{"q":{"p":1}}`, `{"q":{"p":1}}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			st := Stream{Out: &out, Elide: Path{{Key: "p"}}, Placeholder: []byte("{}"),
				Divert: Path{{Key: "p"}, {Key: "d"}}, OnDivert: func([]byte, bool) error {
					t.Error("a string inside the elided value was diverted")
					return nil
				}}
			n, err := st.ReadFrom(iotest.OneByteReader(strings.NewReader(tt.in)))
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.out || st.Elided != tt.elided || n != int64(len(tt.in)) {
				t.Errorf("got %q, elided %q, %d bytes read; want %q, %q, %d", out.String(), st.Elided, n, tt.out, tt.elided, len(tt.in))
			}
		})
	}
	// The elided value is checked like the rest.
	st := Stream{Elide: Path{{Key: "p"}}, Placeholder: []byte("{}")}
	if _, err := st.ReadFrom(strings.NewReader(`{"p":{"x":1,"x":2}}`)); !errors.Is(err, ErrDuplicateKey) {
		t.Errorf("duplicate key in the elided value: %v, want %v", err, ErrDuplicateKey)
	}
}

func TestStreamMaxHeld(t *testing.T) {
	long := strings.Repeat("k", 2000)
	tests := []struct {
		name, in string
		want     error
	}{
		{"many keys", `{"p":{` + keys(100) + `}}`, ErrTooLarge},
		{"many keys in turn", `[` + strings.Repeat(`{`+keys(10)+`},`, 100) + `{}]`, nil},
		{"long key", `{"` + long + `":1}`, ErrTooLarge},
		{"long key with an escape", `{"\u0041` + long + `":1}`, ErrTooLarge},
		{"long key with an escape at its end", `{"` + long + `\u0041":1}`, ErrTooLarge},
		{"long value", `{"k":"` + long + `"}`, nil},
		{"long number", `[0.` + strings.Repeat("1", 2000) + `]`, ErrTooLarge},
		{"nested", `{` + keys(10) + `,"n":{` + keys(10) + `,"m":{` + keys(10) + `}}}`, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Stream{MaxHeld: 1500}
			if tt.name == "long key with an escape" {
				// Inside an elided value nothing is written out, so only
				// MaxHeld bounds a key that is decoded as it is read.
				st.Elide, st.Placeholder = Path{{Key: "p"}}, []byte("{}")
				tt.in = `{"p":` + tt.in + `}`
			}
			_, err := st.ReadFrom(iotest.OneByteReader(strings.NewReader(tt.in)))
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), "too large to read as a stream") {
				t.Errorf("message %q does not say why", err)
			}
			// Without the bound, the document is good.
			if err := Check([]byte(tt.in), Rules{}); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

// TestStreamMaxHeldEscapedKey: a key with an escape is decoded as it is
// read; MaxHeld stops it there, not once the whole key is held, also inside
// an elided value, which nothing else bounds.
func TestStreamMaxHeldEscapedKey(t *testing.T) {
	const size = 8 << 20
	for _, elide := range []bool{false, true} {
		in := `{"\u0041` + strings.Repeat("A", size) + `":1}`
		st := Stream{MaxHeld: 1500}
		if elide {
			in = `{"p":` + in + `}`
			st.Elide, st.Placeholder = Path{{Key: "p"}}, []byte("{}")
		}
		r := &countingReader{r: strings.NewReader(in)}
		_, err := st.ReadFrom(r)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("elide %v: got %v, want %v", elide, err, ErrTooLarge)
		}
		if r.n > 1<<20 {
			t.Errorf("elide %v: read %d bytes of a %d-byte key before refusing it, want it refused within 1 MiB", elide, r.n, size)
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// FuzzCheck checks the rules against encoding/json, and the stream
// against Check:
//   - a document Check accepts, encoding/json decodes, to the value
//     Unmarshal gives;
//   - a document refused for a key names the object holding the key, as a
//     path to it in the document's decoded value;
//   - a stream read in pieces gives Check's verdict, copies the document,
//     and hands on the diverted string exactly.
func FuzzCheck(f *testing.F) {
	seeds := []string{
		`{}`, `[]`, `"x"`, `-0.5e-3`, `null`, ``, ` {"a":1} `, `{"a":1} {}`,
		`{"a":{"x":1,"y":[true,false,null]},"b":[{"k":"v"},{"k":"w"}],"d":"ZGl2ZXJ0"}`,
		`{"a":{"x":1,"X":2}}`, `{"b":[{"k":1,"z":2}]}`, `{"Name":1}`, `{"\u017fa":1,"Sa":2}`,
		`{"d":"\ud83d\ude00 \u00e9 \/ \n"}`, `[[[[[[[[[[1]]]]]]]]]]`, `{"a":1e400}`, "\"\xff\"",
		`{` + keys(20) + `,"K3":1}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), byte(0))
		f.Add([]byte(s), byte(1))
	}
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		r := Rules{
			MaxDepth: 8,
			FoldKeys: mode&1 != 0,
			Known:    []string{"name"},
			Fields:   Fields{"a": {"x", "y"}, "b[]": {"k"}},
		}
		err := Check(data, r)
		var want any
		jsonErr := json.Unmarshal(data, &want)
		var e *Error
		switch {
		case err == nil:
			if jsonErr != nil {
				t.Fatalf("accepted what encoding/json rejects (%v)", jsonErr)
			}
			var got any
			if err := Unmarshal(data, &got, r); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("Unmarshal differs from encoding/json (-want +got):\n%s", diff)
			}
		case !errors.As(err, &e):
			t.Fatalf("error %T %v, want *Error", err, err)
		case e.Err == ErrDuplicateKey || e.Err == ErrKeySpelling || e.Err == ErrUnknownField:
			if jsonErr != nil {
				break // the key rule struck before a syntax error
			}
			keys, ok := keysAt(json.NewDecoder(bytes.NewReader(data)), e.Path)
			if !ok {
				t.Fatalf("%v: %q is not an object in %q", err, e.Path, data)
			}
			found := false
			for _, k := range keys {
				found = found || k == e.Key
			}
			if !found {
				t.Fatalf("%v: no key %q at %q in %q", err, e.Key, e.Path, data)
			}
		case e.Err == ErrTooDeep:
			if len(e.Path) != r.MaxDepth+1 {
				t.Fatalf("%v: path %q, want one %d deep", err, e.Path, r.MaxDepth+1)
			}
		}

		var out, diverted bytes.Buffer
		st := Stream{
			Rules:  r,
			Out:    &out,
			Divert: Path{{Key: "d"}},
			OnDivert: func(p []byte, end bool) error {
				diverted.Write(p)
				return nil
			},
		}
		_, serr := st.ReadFrom(iotest.OneByteReader(bytes.NewReader(data)))
		if errString(serr) != errString(err) {
			t.Fatalf("stream: %v, want %v", serr, err)
		}
		// A bound on what it holds refuses, or gives the same verdict.
		held := Stream{Rules: r, MaxHeld: 1 + int64(mode)%128}
		if _, herr := held.ReadFrom(bytes.NewReader(data)); !errors.Is(herr, ErrTooLarge) && errString(herr) != errString(err) {
			t.Fatalf("stream holding at most %d bytes: %v, want %v or %v", held.MaxHeld, herr, err, ErrTooLarge)
		}
		var elided bytes.Buffer
		el := Stream{Rules: r, Out: &elided, Elide: Path{{Key: "a"}}, Placeholder: []byte("{}")}
		if _, eerr := el.ReadFrom(iotest.HalfReader(bytes.NewReader(data))); errString(eerr) != errString(err) {
			t.Fatalf("stream eliding: %v, want %v", eerr, err)
		}
		if err != nil {
			return
		}
		spans, err := Spans(data, r)
		if err != nil {
			t.Fatalf("Spans: %v", err)
		}
		wantOut, wantDiverted := data, []byte(nil)
		if sp, ok := spans["d"]; ok && data[sp.Start] == '"' {
			wantOut = append(bytes.Clone(data[:sp.Start+1]), data[sp.End-1:]...)
			wantDiverted = data[sp.Start+1 : sp.End-1]
		}
		if !bytes.Equal(out.Bytes(), wantOut) || !bytes.Equal(diverted.Bytes(), wantDiverted) {
			t.Fatalf("stream copied %q and diverted %q, want %q and %q", out.Bytes(), diverted.Bytes(), wantOut, wantDiverted)
		}
		wantElided, wantKind := data, byte(0)
		if sp, ok := spans["a"]; ok {
			wantElided = append(append(bytes.Clone(data[:sp.Start]), "{}"...), data[sp.End:]...)
			wantKind = data[sp.Start]
		}
		if !bytes.Equal(elided.Bytes(), wantElided) || el.Elided != wantKind {
			t.Fatalf("stream eliding copied %q (elided %q), want %q (%q)", elided.Bytes(), el.Elided, wantElided, wantKind)
		}
	})
}

// keysAt returns the keys of the object at p in a document encoding/json
// reads, all of them, in order, finding each key of p at its first
// occurrence.
func keysAt(dec *json.Decoder, p Path) ([]string, bool) {
	tok, err := dec.Token()
	if err != nil {
		return nil, false
	}
	d, _ := tok.(json.Delim)
	switch {
	case len(p) == 0 && d == '{':
		var keys []string
		for dec.More() {
			k, err := dec.Token()
			if err != nil || skip(dec) != nil {
				return nil, false
			}
			keys = append(keys, k.(string))
		}
		return keys, true
	case len(p) == 0:
		return nil, false
	case d == '{':
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, false
			}
			if !p[0].IsIndex && k == p[0].Key {
				return keysAt(dec, p[1:])
			}
			if skip(dec) != nil {
				return nil, false
			}
		}
	case d == '[':
		for i := 0; dec.More(); i++ {
			if p[0].IsIndex && i == p[0].Index {
				return keysAt(dec, p[1:])
			}
			if skip(dec) != nil {
				return nil, false
			}
		}
	}
	return nil, false
}

func skip(dec *json.Decoder) error {
	var raw json.RawMessage
	return dec.Decode(&raw)
}
