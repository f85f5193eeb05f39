package ca_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/google/go-cmp/cmp"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// signBundle signs content with sigstore-go's own Fulcio client against
// the stack's CA: a new key of alg, certified for token. With tr set,
// sign.Bundle verifies what it made against it.
func (s *stack) signBundle(t *testing.T, content sign.Content, alg protocommon.PublicKeyDetails, token string, tr root.TrustedMaterial) *bundle.Bundle {
	t.Helper()
	kp, err := sign.NewEphemeralKeypair(&sign.EphemeralKeypairOptions{Algorithm: alg})
	if err != nil {
		t.Fatalf("NewEphemeralKeypair: %v", err)
	}
	pb, err := sign.Bundle(content, kp, sign.BundleOptions{
		CertificateProvider:        sign.NewFulcio(&sign.FulcioOptions{BaseURL: s.caSrv.URL}),
		CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: token},
		TrustedRoot:                tr,
		Context:                    t.Context(),
	})
	if err != nil {
		t.Fatalf("sign.Bundle: %v", err)
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		t.Fatalf("bundle.NewBundle: %v", err)
	}
	return b
}

// TestSigstoreGoKeyless signs with sigstore-go's own Fulcio client against
// the CA, for each key type sigstore-go can request a certificate for,
// and verifies the bundle with sigstore-go's verifier.
func TestSigstoreGoKeyless(t *testing.T) {
	s := newStack(t, stackOptions{})
	tr := s.trustedRoot(t)
	const subject = "alice@example.com"
	artifact := []byte("hello, keyless")
	digest := sha256.Sum256(artifact)
	statement := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"hello","digest":{"sha256":"` +
		hex.EncodeToString(digest[:]) + `"}}],"predicateType":"https://example.com/test","predicate":{}}`)
	contents := map[string]sign.Content{
		"message": &sign.PlainData{Data: artifact},
		"dsse":    &sign.DSSEData{Data: statement, PayloadType: "application/vnd.in-toto+json"},
	}
	issued := int64(0)
	for _, alg := range []protocommon.PublicKeyDetails{
		protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
		protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384,
		protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512,
		protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256,
		protocommon.PublicKeyDetails_PKIX_ED25519,
	} {
		for _, kind := range []string{"message", "dsse"} {
			if alg == protocommon.PublicKeyDetails_PKIX_ED25519 && kind == "message" {
				continue // sigstore-go verifies pure Ed25519 only over DSSE
			}
			issued++
			t.Run(alg.String()+"/"+kind, func(t *testing.T) {
				b := s.signBundle(t, contents[kind], alg, mint(t, s.email, subject, "sigstore", nil), tr)
				v, err := verify.NewVerifier(tr, verify.WithCurrentTime())
				if err != nil {
					t.Fatalf("verify.NewVerifier: %v", err)
				}
				id, err := verify.NewShortCertificateIdentity(s.email.URL(), "", subject, "")
				if err != nil {
					t.Fatal(err)
				}
				res, err := v.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithCertificateIdentity(id)))
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if got := res.Signature.Certificate.SubjectAlternativeName; got != subject {
					t.Errorf("verified SAN %q, want %q", got, subject)
				}

				// A policy naming someone else must fail.
				other, err := verify.NewShortCertificateIdentity(s.email.URL(), "", "mallory@example.com", "")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := v.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithCertificateIdentity(other))); err == nil {
					t.Error("verification succeeded for the wrong identity")
				}
			})
		}
	}
	if got := s.issued.Load(); got != issued {
		t.Errorf("issued %d certificates, want %d", got, issued)
	}
}

// TestGitHubExtensions has the CA certify a GitHub-Actions-shaped token and
// checks the extensions through sigstore-go's parser and verifier.
func TestGitHubExtensions(t *testing.T) {
	s := newStack(t, stackOptions{})
	claims := map[string]any{
		"job_workflow_ref":      "octo/hello/.github/workflows/release.yml@refs/tags/v1",
		"job_workflow_sha":      "1111111111111111111111111111111111111111",
		"runner_environment":    "github-hosted",
		"repository":            "octo/hello",
		"repository_id":         "123",
		"repository_owner":      "octo",
		"repository_owner_id":   "456",
		"repository_visibility": "public",
		"ref":                   "refs/tags/v1",
		"sha":                   "2222222222222222222222222222222222222222",
		"workflow":              "Release",
		"workflow_ref":          "octo/hello/.github/workflows/build.yml@refs/tags/v1",
		"workflow_sha":          "3333333333333333333333333333333333333333",
		"event_name":            "push",
		"run_id":                "789",
		"run_attempt":           "2",
	}
	tok := mint(t, s.github, "repo:octo/hello:ref:refs/tags/v1", "sigstore", claims)
	artifact := []byte("release artifact")
	tr := s.trustedRoot(t)
	b := s.signBundle(t, &sign.PlainData{Data: artifact}, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, tok, tr)
	leaf := s.last.Load()
	got, err := certificate.ParseExtensions(leaf.Extensions)
	if err != nil {
		t.Fatalf("ParseExtensions: %v", err)
	}
	want := certificate.Extensions{
		Issuer:                              s.github.URL(),
		GithubWorkflowTrigger:               "push",
		GithubWorkflowSHA:                   "2222222222222222222222222222222222222222",
		GithubWorkflowName:                  "Release",
		GithubWorkflowRepository:            "octo/hello",
		GithubWorkflowRef:                   "refs/tags/v1",
		BuildSignerURI:                      "https://github.com/octo/hello/.github/workflows/release.yml@refs/tags/v1",
		BuildSignerDigest:                   "1111111111111111111111111111111111111111",
		RunnerEnvironment:                   "github-hosted",
		SourceRepositoryURI:                 "https://github.com/octo/hello",
		SourceRepositoryDigest:              "2222222222222222222222222222222222222222",
		SourceRepositoryRef:                 "refs/tags/v1",
		SourceRepositoryIdentifier:          "123",
		SourceRepositoryOwnerURI:            "https://github.com/octo",
		SourceRepositoryOwnerIdentifier:     "456",
		BuildConfigURI:                      "https://github.com/octo/hello/.github/workflows/build.yml@refs/tags/v1",
		BuildConfigDigest:                   "3333333333333333333333333333333333333333",
		BuildTrigger:                        "push",
		RunInvocationURI:                    "https://github.com/octo/hello/actions/runs/789/attempts/2",
		SourceRepositoryVisibilityAtSigning: "public",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("extensions (-want +got):\n%s", diff)
	}
	const san = "https://github.com/octo/hello/.github/workflows/release.yml@refs/tags/v1"
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != san || len(leaf.EmailAddresses) != 0 {
		t.Errorf("SAN URIs %v emails %v, want only %s", leaf.URIs, leaf.EmailAddresses, san)
	}

	// The policy a consumer would write for this workflow passes.
	v, err := verify.NewVerifier(tr, verify.WithCurrentTime())
	if err != nil {
		t.Fatal(err)
	}
	sanMatcher, err := verify.NewSANMatcher(san, "")
	if err != nil {
		t.Fatal(err)
	}
	issMatcher, err := verify.NewIssuerMatcher(s.github.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	id, err := verify.NewCertificateIdentity(sanMatcher, issMatcher,
		certificate.Extensions{
			SourceRepositoryURI: "https://github.com/octo/hello",
			SourceRepositoryRef: "refs/tags/v1",
			RunnerEnvironment:   "github-hosted",
		})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithCertificateIdentity(id))); err != nil {
		t.Fatalf("verify with workflow policy: %v", err)
	}
}
