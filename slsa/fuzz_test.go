package slsa_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/attest"
	"hallmark.dev/slsa"
)

// payloadSeeds returns the statements of the vectors and of the unit tests.
func payloadSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	err := filepath.WalkDir(vecDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var doc struct {
			Payload      string `json:"payload"`
			DSSEEnvelope struct {
				Payload string `json:"payload"`
			} `json:"dsseEnvelope"`
		}
		if json.Unmarshal(data, &doc) != nil {
			return nil
		}
		for _, p := range []string{doc.Payload, doc.DSSEEnvelope.Payload} {
			if b, err := base64.StdEncoding.DecodeString(p); err == nil && len(b) > 0 {
				seeds = append(seeds, b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, pred := range []string{workflowV1, byobV1, otherV1} {
		p, err := attest.NewStatement(slsa.PredicateV1, json.RawMessage(pred), attest.Subject{Digest: map[string]string{"sha256": strings.Repeat("1", 64)}})
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, p)
	}
	if len(seeds) < 10 {
		t.Fatalf("seed corpus has %d statements", len(seeds))
	}
	return seeds
}

// FuzzCheck: Check never panics on a parsed statement; its error says
// exactly whether every check passed; and a statement that passes names the
// expected repository as its source, whatever else it says.
func FuzzCheck(f *testing.F) {
	for _, s := range payloadSeeds(f) {
		f.Add(s, "github.com/slsa-framework/example-package", "v13", "main")
	}
	f.Fuzz(func(t *testing.T, payload []byte, source, vtag, branch string) {
		st, err := attest.ParseStatement(payload)
		if err != nil {
			return
		}
		var art slsa.Artifact
		for _, s := range st.Subject {
			if d, ok := s.Digest["sha256"]; ok {
				art = slsa.Artifact{Name: "artifact", Digests: []string{"sha256:" + d}}
				break
			}
		}
		if art.Name == "" {
			return
		}
		req := slsa.Requirements{SourceURI: source, SourceVersionedTag: vtag, SourceBranch: branch, Artifacts: []slsa.Artifact{art}}
		if req.Validate() != nil {
			return
		}
		res, err := slsa.Check(st, payload, req)
		var ce *slsa.Error
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("unexpected error: %v", err)
		}
		if (err == nil) != res.Passed() {
			t.Fatalf("error %v but Passed() = %v", err, res.Passed())
		}
		if err != nil {
			return
		}
		want := normalize(source)
		for _, c := range res.Checks {
			if c.Name != slsa.CheckSourceURI {
				continue
			}
			got, _, _ := strings.Cut(normalize(c.Detail), "@")
			if got != want {
				t.Fatalf("passed with source %q, want %q", c.Detail, want)
			}
			return
		}
		t.Fatal("passed without a source uri check")
	})
}

func normalize(s string) string {
	if strings.HasPrefix(s, "git+") {
		return s
	}
	if !strings.Contains(s, "://") {
		return "git+https://" + s
	}
	return "git+" + s
}
