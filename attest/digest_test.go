package attest_test

import (
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/attest"
)

// TestMatchReader: content is matched with a subject by any digest
// algorithm both use (in-toto: any acceptable field matching), read once,
// and hashed only with the algorithms the subjects use.
func TestMatchReader(t *testing.T) {
	content := "content\n"
	h := func(b []byte) string { return hex.EncodeToString(b) }
	s256, s384, s512 := sha256.Sum256([]byte(content)), sha512.Sum384([]byte(content)), sha512.Sum512([]byte(content))
	s3a, s3b := sha3.Sum256([]byte(content)), sha3.Sum384([]byte(content))
	subj := func(digests ...string) attest.Subject {
		s := attest.Subject{Digest: map[string]string{}}
		for _, d := range digests {
			alg, hx, _ := strings.Cut(d, ":")
			s.Digest[alg] = hx
		}
		return s
	}
	other := strings.Repeat("0", 128)
	for _, c := range []struct {
		name     string
		subjects []attest.Subject
		algs     []string
		want     string
		ok       bool
	}{
		{"sha256", []attest.Subject{subj("sha256:" + h(s256[:]))}, []string{"sha256"}, "sha256:" + h(s256[:]), true},
		{"sha512 alone (npm)", []attest.Subject{subj("sha512:" + h(s512[:]))}, []string{"sha512"}, "sha512:" + h(s512[:]), true},
		{"sha384", []attest.Subject{subj("sha384:" + h(s384[:]))}, []string{"sha384"}, "sha384:" + h(s384[:]), true},
		{"sha3_256", []attest.Subject{subj("sha3_256:" + h(s3a[:]))}, []string{"sha3_256"}, "sha3_256:" + h(s3a[:]), true},
		{"sha3_384", []attest.Subject{subj("sha3_384:" + h(s3b[:]))}, []string{"sha3_384"}, "sha3_384:" + h(s3b[:]), true},
		{"upper-case hex", []attest.Subject{subj("sha512:" + strings.ToUpper(h(s512[:])))}, []string{"sha512"}, "sha512:" + h(s512[:]), true},
		{"another subject's sha256, this one's sha512", []attest.Subject{subj("sha256:" + other[:64]), subj("sha512:" + h(s512[:]))}, []string{"sha256", "sha512"}, "sha512:" + h(s512[:]), true},
		{"none of them", []attest.Subject{subj("sha512:" + other)}, []string{"sha512"}, "sha512:" + h(s512[:]), false},
		{"no acceptable algorithm", []attest.Subject{subj("md5:"+other[:32], "gitCommit:"+other[:40])}, []string{"sha256"}, "sha256:" + h(s256[:]), false},
		{"no subjects", nil, []string{"sha256"}, "sha256:" + h(s256[:]), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.algs, attest.SubjectAlgorithms(c.subjects)); diff != "" {
				t.Errorf("algorithms (-want +got):\n%s", diff)
			}
			got, ok, err := attest.MatchReader(strings.NewReader(content), c.subjects)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want || ok != c.ok {
				t.Errorf("got %s, %v; want %s, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

func TestDigestReaderUnknownAlgorithm(t *testing.T) {
	_, err := attest.DigestReader(strings.NewReader(""), []string{"md5"})
	if err == nil || !strings.Contains(err.Error(), `digest algorithm "md5" is not one of sha256, sha512, sha384, sha3_256, sha3_384`) {
		t.Errorf("got %v, want the algorithm refused", err)
	}
}

func TestSplitDigestSHA3(t *testing.T) {
	for _, c := range []struct{ digest, want string }{
		{"sha3_256:" + strings.Repeat("a", 64), ""},
		{"sha3_384:" + strings.Repeat("a", 96), ""},
		{"sha3_256:" + strings.Repeat("a", 63), "sha3_256 digest \"" + strings.Repeat("a", 63) + "\" has 63 hex characters, want 64"},
	} {
		_, _, err := attest.SplitDigest(c.digest)
		if got := errString(err); got != c.want {
			t.Errorf("%s: got %q, want %q", c.digest, got, c.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPreferredDigest(t *testing.T) {
	for _, c := range []struct {
		digest map[string]string
		want   string
	}{
		{map[string]string{"sha512": "b", "sha256": "a"}, "sha256:a"},
		{map[string]string{"sha512": "b", "dirHash": "c"}, "sha512:b"},
		{map[string]string{"gitCommit": "c", "dirHash": "d"}, "dirHash:d"},
		{nil, ""},
	} {
		if got := (attest.Subject{Digest: c.digest}).PreferredDigest(); got != c.want {
			t.Errorf("%v: got %q, want %q", c.digest, got, c.want)
		}
	}
}
