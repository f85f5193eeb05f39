package ops_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"hallmark.dev/attest"
	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/keys"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// TestVerifyBlobAttestationDigests: a statement whose subjects name an
// artifact by another digest than SHA-256 (npm's provenance names a
// package by its SHA-512 alone) verifies against the file, and against
// that digest; a file that is none of the subjects is refused at the
// subject step.
func TestVerifyBlobAttestationDigests(t *testing.T) {
	dir := t.TempDir()
	content := []byte("package contents\n")
	pkg := lite.WriteFile(t, dir, "pkg.tgz", content)
	other := lite.WriteFile(t, dir, "other.tgz", []byte("other contents\n"))
	s256, s512, s384 := sha256.Sum256(content), sha512.Sum512(content), sha512.Sum384(content)
	s3 := sha3.Sum256(content)
	hexOf := func(b []byte) string { return hex.EncodeToString(b) }

	s, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sign.NewKeySigner(s)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := verify.NewKeys(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	policy := verify.AttestationPolicy{Authority: ks, PredicateType: "https://slsa.dev/provenance/v1"}
	bundleOf := func(name string, subjects ...attest.Subject) string {
		t.Helper()
		st, err := attest.NewStatement(policy.PredicateType, json.RawMessage(`{}`), subjects...)
		if err != nil {
			t.Fatal(err)
		}
		b, err := sign.Statement(context.Background(), kp, st, sign.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return lite.WriteFile(t, dir, name, b)
	}
	subject := func(alg, h string) attest.Subject {
		return attest.Subject{Name: "pkg:npm/pkg@1.0.0", Digest: map[string]string{alg: h}}
	}
	unrelated := attest.Subject{Name: "x", Digest: map[string]string{"sha256": strings.Repeat("a", 64)}}
	for _, c := range []struct {
		name     string
		bundle   string
		artifact ops.Artifact
		want     string // "" when verified, else the error's text
	}{
		{"sha512 subject, the file", bundleOf("512.json", subject("sha512", hexOf(s512[:]))), ops.Artifact{Path: pkg}, ""},
		{"sha512 subject, its digest", bundleOf("512d.json", subject("sha512", hexOf(s512[:]))), ops.Artifact{Digest: "sha512:" + hexOf(s512[:])}, ""},
		{"sha384 subject, the file", bundleOf("384.json", subject("sha384", hexOf(s384[:]))), ops.Artifact{Path: pkg}, ""},
		{"sha3_256 subject, the file", bundleOf("sha3.json", subject("sha3_256", hexOf(s3[:]))), ops.Artifact{Path: pkg}, ""},
		{"sha256 subject among sha512 ones, the file", bundleOf("mixed.json", subject("sha512", strings.Repeat("b", 128)), subject("sha256", hexOf(s256[:]))), ops.Artifact{Path: pkg}, ""},
		{"sha512 subject after a sha256 one, the file", bundleOf("mixed2.json", unrelated, subject("sha512", hexOf(s512[:]))), ops.Artifact{Path: pkg}, ""},
		{"sha512 subject, another file", bundleOf("512o.json", subject("sha512", hexOf(s512[:]))), ops.Artifact{Path: other},
			"subject check failed: signature is for sha512:" + hexOf(s512[:]) + ", not sha512:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := ops.VerifyBlobAttestation(c.bundle, c.artifact, policy)
			if c.want == "" {
				if err != nil {
					t.Fatalf("got %v, want verified", err)
				}
				if len(res.Verified) != 1 {
					t.Errorf("got %d verified, want 1", len(res.Verified))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestVerifyBlobAttestationNpm: npm's provenance of a package (a Sigstore
// bundle from the public-good instance, subject named by SHA-512 only)
// verifies against the package's SHA-512 digest.
func TestVerifyBlobAttestationNpm(t *testing.T) {
	const vectors = "../../slsa/testdata/slsa-verifier"
	data, err := os.ReadFile(filepath.Join(vectors, "npm/gha/gundam-visor-cli-v1-tag.tgz.json"))
	if err != nil {
		t.Fatal(err)
	}
	atts := lite.NpmAttestations(t, data)
	if len(atts) != 2 || atts[1].PredicateType != "https://slsa.dev/provenance/v1" {
		t.Fatalf("unexpected vector: %d attestations", len(atts))
	}
	bundle := filepath.Join(t.TempDir(), "provenance.sigstore.json")
	if err := os.WriteFile(bundle, atts[1].Bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	trJSON, err := os.ReadFile(filepath.Join(vectors, "public-good-trusted_root.json"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := verify.ParseTrustedRoot(trJSON)
	if err != nil {
		t.Fatal(err)
	}
	k, err := verify.NewKeyless(tr, verify.Identity{Issuer: "https://token.actions.githubusercontent.com",
		SubjectRegexp: regexp.QuoteMeta("https://github.com/ramonpetgrave64/gundam-visor/") + ".+"})
	if err != nil {
		t.Fatal(err)
	}
	// From artifacts.txt: the package's SHA-512.
	const sum = "sha512:8d9d7972f676516c75014aa074e11ae604d98f0b64ec6725a61e2838ff3dab162118fa71433fb31e1550d30bd0dec9d086ce032b94457b583900c507acf39c40"
	res, err := ops.VerifyBlobAttestation(bundle, ops.Artifact{Digest: sum}, verify.AttestationPolicy{Authority: k, PredicateType: "https://slsa.dev/provenance/v1"})
	if err != nil {
		t.Fatalf("got %v, want verified", err)
	}
	if got := res.Verified[0].Statement.Subject[0].Name; got != "pkg:npm/gundam-visor@1.0.1" {
		t.Errorf("subject %q, want pkg:npm/gundam-visor@1.0.1", got)
	}
	// Another package's digest is refused at the subject step.
	_, err = ops.VerifyBlobAttestation(bundle, ops.Artifact{Digest: "sha512:" + strings.Repeat("0", 128)}, verify.AttestationPolicy{Authority: k, PredicateType: "https://slsa.dev/provenance/v1"})
	var nv *verify.NoValidSignatureError
	if !errors.As(err, &nv) || nv.Rejected[0].Step != verify.StepSubject {
		t.Errorf("got %v, want a refusal at the subject step", err)
	}
}
