package attest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"hallmark.dev/attest"
)

const hexA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestImageSignatureStatement(t *testing.T) {
	b, err := attest.ImageSignatureStatement("sha256:"+hexA, map[string]string{"repo": "org/app"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + hexA + `"},"annotations":{"repo":"org/app"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`
	if got := string(b); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	st, err := attest.ParseStatement(b)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	subj, ok := st.SubjectFor("sha256:" + strings.ToUpper(hexA))
	if !ok {
		t.Fatal("SubjectFor: not found (digest match must ignore hex case)")
	}
	ann, other := subj.StringAnnotations()
	if diff := cmp.Diff(map[string]string{"repo": "org/app"}, ann); diff != "" || len(other) != 0 {
		t.Errorf("annotations (-want +got):\n%s other=%v", diff, other)
	}
	if _, ok := st.SubjectFor("sha256:" + strings.Repeat("b", 64)); ok {
		t.Error("SubjectFor found another digest")
	}
	if _, err := attest.ImageSignatureStatement("sha256:abc", nil); err == nil {
		t.Error("short digest accepted")
	}
}

func TestParseStatementRejects(t *testing.T) {
	ok := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + hexA + `"}}],"predicateType":"x","predicate":{}}`
	if _, err := attest.ParseStatement([]byte(ok)); err != nil {
		t.Fatalf("valid statement rejected: %v", err)
	}
	tests := []struct {
		name, in, want string
	}{
		{"duplicate key", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","predicateType":"y","subject":[{"digest":{"sha256":"` + hexA + `"}}]}`, `duplicate JSON key "predicateType"`},
		{"duplicate nested key", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","subject":[{"digest":{"sha256":"` + hexA + `","sha256":"` + hexA + `"}}]}`, `duplicate JSON key "sha256"`},
		{"unknown field", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","subject":[{"digest":{"sha256":"` + hexA + `"}}],"extra":1}`, "unknown field"},
		{"field name in another case", strings.Replace(ok, `"_type"`, `"_TYPE"`, 1), `unknown field "_TYPE" in statement`},
		{"subject field in another case", strings.Replace(ok, `"digest"`, `"Digest"`, 1), `unknown field "Digest" in subject 0`},
		{"wrong type", strings.Replace(ok, "Statement/v1", "Statement/v9", 1), "is not an in-toto statement"},
		{"no predicate type", strings.Replace(ok, `"predicateType":"x"`, `"predicateType":""`, 1), "no predicateType"},
		{"no subject", `{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x"}`, "no subject"},
		{"short digest", strings.Replace(ok, hexA, "abc", 1), "has 3 hex characters, want 64"},
		{"non-hex digest", strings.Replace(ok, hexA, strings.Repeat("z", 64), 1), "is not hex"},
		{"trailing data", ok + `{}`, "after top-level value"},
		{"not JSON", `{"_type":`, "invalid JSON"},
		{"deep nesting", strings.Repeat("[", 200) + strings.Repeat("]", 200), "nested too deeply"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := attest.ParseStatement([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSimpleSigning(t *testing.T) {
	b, err := attest.NewSimpleSigning("registry.example/app", "sha256:"+hexA, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := attest.ParseSimpleSigning(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Critical.Image.DockerManifestDigest != "sha256:"+hexA || p.Critical.Identity.DockerReference != "registry.example/app" {
		t.Errorf("got %+v", p.Critical)
	}
	for name, in := range map[string]string{
		"wrong type":    `{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:` + hexA + `"},"type":"other"}}`,
		"bad digest":    `{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:1"},"type":"cosign container image signature"}}`,
		"duplicate key": `{"critical":{"type":"cosign container image signature","type":"cosign container image signature"}}`,
		"key case":      `{"CRITICAL":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:` + hexA + `"},"type":"cosign container image signature"}}`,
	} {
		if _, err := attest.ParseSimpleSigning([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParseStatement: never panics; a statement that parses re-encodes to
// one that parses to the same value.
func FuzzParseStatement(f *testing.F) {
	seed, err := attest.ImageSignatureStatement("sha256:"+hexA, map[string]string{"a": "b"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"x","digest":{"sha512":"` + strings.Repeat("c", 128) + `"}}],"predicateType":"p","predicate":{"k":[1,2,{"z":null}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := attest.ParseStatement(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(st)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		st2, err := attest.ParseStatement(again)
		if err != nil {
			t.Fatalf("re-encoded statement does not parse: %v\n%s", err, again)
		}
		if diff := cmp.Diff(st.Subject, st2.Subject, cmpopts.EquateEmpty()); diff != "" || st.PredicateType != st2.PredicateType || st.Type != st2.Type {
			t.Fatalf("round trip changed the statement:\n%s", diff)
		}
	})
}

// FuzzParseSimpleSigning: never panics; an accepted payload has the cosign
// type and a well-formed digest, and re-encodes to an accepted payload.
func FuzzParseSimpleSigning(f *testing.F) {
	seed, err := attest.NewSimpleSigning("registry.example/app", "sha256:"+hexA, map[string]string{"k": "v"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := attest.ParseSimpleSigning(data)
		if err != nil {
			return
		}
		if p.Critical.Type != attest.SimpleSigningType {
			t.Fatalf("accepted type %q", p.Critical.Type)
		}
		if _, _, err := attest.SplitDigest(p.Critical.Image.DockerManifestDigest); err != nil {
			t.Fatalf("accepted digest %q: %v", p.Critical.Image.DockerManifestDigest, err)
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := attest.ParseSimpleSigning(again); err != nil {
			t.Fatalf("re-encoded payload rejected: %v\n%s", err, again)
		}
	})
}
