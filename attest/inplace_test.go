package attest

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"hallmark.dev/internal/jsonstrict"
)

const scanHex = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// okStatement returns a valid statement with the predicate given.
func okStatement(predicate string) string {
	return `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + scanHex + `"}}],"predicateType":"p","predicate":` + predicate + `}`
}

// TestParseStatementInPlace: the predicate is a sub-slice of the input,
// and the statement equals what decoding the whole document gives.
func TestParseStatementInPlace(t *testing.T) {
	in := []byte(okStatement(`{"components":[{"name":"x","version":"1"}], "n": 1.5e3}`))
	st, err := ParseStatementInPlace(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Predicate) == 0 || &st.Predicate[0] != &in[bytes.Index(in, []byte(`{"components"`))] {
		t.Error("predicate is not a sub-slice of the payload")
	}
	whole, err := parseStatementDoc(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(whole, st); diff != "" {
		t.Errorf("in place differs from a whole decode (-whole +in place):\n%s", diff)
	}
	copied, err := ParseStatement(in)
	if err != nil {
		t.Fatal(err)
	}
	if &copied.Predicate[0] == &st.Predicate[0] {
		t.Error("ParseStatement's predicate aliases the payload")
	}
}

// TestParseStatementProtobufRules: what protobuf's JSON parser rejects in an
// in-toto statement is rejected here too.
func TestParseStatementProtobufRules(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"predicate is an array", okStatement(`[1]`), "predicate is not a JSON object"},
		{"predicate is a string", okStatement(`"x"`), "predicate is not a JSON object"},
		{"invalid UTF-8", okStatement(`{"a":"` + "\xff" + `"}`), "not UTF-8"},
		{"lone high surrogate", okStatement(`{"a":"\ud800"}`), "unpaired UTF-16 surrogate"},
		{"lone low surrogate", okStatement(`{"a":"\udc00x"}`), "unpaired UTF-16 surrogate"},
		{"reversed surrogates", okStatement(`{"a":"\udc00\ud800"}`), "unpaired UTF-16 surrogate"},
		{"infinite number", okStatement(`{"a":1e400}`), "not a finite float64"},
		{"long number", okStatement(`{"a":` + strings.Repeat("9", 400) + `}`), "not a finite float64"},
		{"null digest", strings.Replace(okStatement(`{}`), `"digest":{`, `"digest":{"x":null,`, 1), "digest is not a string"},
		{"content not canonical", strings.Replace(okStatement(`{}`), `"name":"a"`, `"content":"QQ==\n"`, 1), "canonical base64"},
		{"duplicate key deep in the predicate", okStatement(`{"a":[{"b":1,"\u0062":2}]}`), `duplicate JSON key "b"`},
		{"duplicate key among many", okStatement(`{` + manyKeys(40) + `,"k7":0}`), `duplicate JSON key "k7"`},
		{"deep predicate", okStatement(strings.Repeat(`{"a":`, 130) + "1" + strings.Repeat("}", 130)), "nested too deeply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseStatement([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{
		okStatement(`null`),
		okStatement(`{"a":"\ud83d\ude00 \u00e9 \/ \n","b":-0.5E-3,"c":[true,false,null,{}]}`),
		okStatement(`{` + manyKeys(40) + `}`),
		strings.Replace(okStatement(`{}`), `"name":"a"`, `"content":"QQ=="`, 1),
	} {
		if _, err := ParseStatement([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":0`)
	}
	return b.String()
}

// FuzzParseStatementInPlace checks the one-pass parser against decoding the
// whole document (the parser hallmark had before it) and against protobuf's
// JSON parser of the in-toto Statement that sigstore verifiers run:
//   - what it accepts, the whole decode accepts, with the same value;
//   - what it accepts, protobuf accepts;
//   - what both of those accept (without subject content, whose base64 this
//     parser requires to be canonical), it accepts.
func FuzzParseStatementInPlace(f *testing.F) {
	for _, s := range []string{
		okStatement(`{}`), okStatement(`null`), okStatement(`[1]`), okStatement(`{"a":1e400}`),
		okStatement(`{"a":"\ud83d\ude00","b":[1,2,{"c":null}]}`),
		`{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"digest":{"sha512":"` + strings.Repeat("c", 128) + `","dirHash":"x"},"annotations":{"k":1}}],"predicateType":"p"}`,
		strings.Replace(okStatement(`{}`), `"name":"a"`, `"content":"QQ=="`, 1),
		`[]`, `{}`, `"x"`, ``, ` {"predicate":{}} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStatementInPlace(data)
		// The streaming reader gives the same verdict, error and
		// statement, without the predicate.
		// (Messages from the subject checks may differ: they walk maps.)
		streamed, serr := ReadStatement(iotest.HalfReader(bytes.NewReader(data)))
		_, scanErr := errors.AsType[*jsonstrict.Error](err)
		if (serr == nil) != (err == nil) || (scanErr && errString(serr) != errString(err)) {
			t.Fatalf("ReadStatement: %v, want %v", serr, err)
		}
		if err == nil {
			without := *st
			without.Predicate = nil
			if diff := cmp.Diff(&without, streamed); diff != "" {
				t.Fatalf("ReadStatement differs (-in place +streamed):\n%s", diff)
			}
		}
		whole, wholeErr := parseStatementDoc(data)
		var pb intoto.Statement
		pbErr := protojson.Unmarshal(data, &pb)
		if err == nil {
			if wholeErr != nil {
				t.Fatalf("accepted what a whole decode rejects (%v)", wholeErr)
			}
			if diff := cmp.Diff(whole, st); diff != "" {
				t.Fatalf("differs from a whole decode (-whole +in place):\n%s", diff)
			}
			if pbErr != nil {
				t.Fatalf("accepted what protobuf rejects (%v)", pbErr)
			}
			return
		}
		if wholeErr == nil && pbErr == nil && !bytes.Contains(data, []byte("content")) {
			t.Fatalf("rejected what a whole decode and protobuf accept: %v", err)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// predicateReader returns a statement whose predicate holds n components,
// generated as it is read.
func predicateReader(subjects string, n int) io.Reader {
	head := `{"_type":"https://in-toto.io/Statement/v1","subject":[` + subjects + `],"predicateType":"p","predicate":{"components":[`
	i := 0
	next := func() []byte {
		if i == n {
			return nil
		}
		i++
		sep := ","
		if i == 1 {
			sep = ""
		}
		return []byte(sep + `{"name":"pkg-` + strconv.Itoa(i) + `","version":"1.0.` + strconv.Itoa(i%97) + `","purl":"pkg:npm/pkg-` + strconv.Itoa(i) + `"}`)
	}
	return io.MultiReader(strings.NewReader(head), &genReader{next: next}, strings.NewReader(`]}}`))
}

type genReader struct {
	next func() []byte
	buf  []byte
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.buf = g.next(); g.buf == nil {
			return 0, io.EOF
		}
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// TestReadStatement: a statement whose predicate is larger than what the
// reader may hold is read; one whose subjects are is refused, saying so.
func TestReadStatement(t *testing.T) {
	subject := `{"name":"a","digest":{"sha256":"` + scanHex + `"}}`
	st, err := ReadStatement(predicateReader(subject, 400_000)) // about 30 MB
	if err != nil {
		t.Fatal(err)
	}
	if st.Predicate != nil || st.PredicateType != "p" || len(st.Subject) != 1 {
		t.Errorf("got %+v, want the statement without its predicate", st)
	}
	many := strings.Repeat(subject+",", maxStatementWithout/len(subject)) + subject
	if _, err := ReadStatement(predicateReader(many, 1)); err == nil || !strings.Contains(err.Error(), "statement without its predicate is over 16777216 bytes") {
		t.Errorf("subjects over the bound: %v", err)
	}
	if _, err := ReadStatement(predicateReader(subject, 400)); err != nil {
		t.Errorf("small statement: %v", err)
	}
	broken := io.MultiReader(strings.NewReader(`{"_type":`), iotest.ErrReader(errors.New("disk")))
	if _, err := ReadStatement(broken); err == nil || err.Error() != "attest: read statement: disk" {
		t.Errorf("read error: %v", err)
	}
}

// TestCheckStatement: a statement to sign over the limit of one parsed in
// memory is checked as a stream would be, up to the limit of a streamed
// statement: what hallmark verifies without holding it, hallmark signs.
func TestCheckStatement(t *testing.T) {
	subject := `{"name":"a","digest":{"sha256":"` + scanHex + `"}}`
	big, err := io.ReadAll(predicateReader(subject, 2_000_000))
	if err != nil {
		t.Fatal(err)
	}
	if len(big) <= MaxPayloadSize {
		t.Fatalf("statement of %d bytes, want one over %d", len(big), MaxPayloadSize)
	}
	if _, err := ParseStatement(big); err == nil || !strings.Contains(err.Error(), "over the 134217728 byte limit") {
		t.Fatalf("ParseStatement: %v, want the in-memory limit", err)
	}
	st, err := CheckStatement(big)
	if err != nil {
		t.Fatal(err)
	}
	if st.PredicateType != "p" || len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] != scanHex {
		t.Errorf("got %+v, want the statement", st)
	}
	big[len(big)-3] = '['
	if _, err := CheckStatement(big); err == nil || !strings.Contains(err.Error(), "attest: statement: ") {
		t.Errorf("broken statement: %v, want a statement error", err)
	}
	small := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[` + subject + `],"predicateType":"p","predicate":{"a":1}}`)
	if st, err := CheckStatement(small); err != nil || string(st.Predicate) != `{"a":1}` {
		t.Errorf("small statement: %+v, %v; want it with its predicate", st, err)
	}
}
