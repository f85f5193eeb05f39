// Package admissiontest helps the admission webhook's tests: it signs and
// attests images with hallmark (with a key, or keyless against hallmark's
// own stack), makes gate attestations, and reads policies written as YAML.
package admissiontest

import (
	"context"
	"crypto"
	"fmt"
	"testing"
	"time"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"sigs.k8s.io/yaml"

	"hallmark.dev/gate"
	"hallmark.dev/internal/admission/cip"
	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/keys"
	"hallmark.dev/oci/store"
	"hallmark.dev/sign"
	"hallmark.dev/signpolicy"
)

// Signer signs images with a key of its own.
type Signer struct {
	Key crypto.Signer
	// PublicKeyPEM is the key as a ClusterImagePolicy's key.data holds it.
	PublicKeyPEM string
	kp           sgsign.Keypair
}

// NewSigner generates a P-256 key.
func NewSigner(t testing.TB) *Signer {
	t.Helper()
	k, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := keys.MarshalPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sign.NewKeySigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{Key: k, PublicKeyPEM: string(pub), kp: kp}
}

// Sign signs the image (repository@sha256:… or a tag) as cosign would,
// storing the signature as a referrer.
func (s *Signer) Sign(t testing.TB, image string) {
	t.Helper()
	if _, err := ops.SignImage(context.Background(), store.New(store.Options{}), ops.SignImageRequest{Reference: image, Signer: s.kp}); err != nil {
		t.Fatalf("sign %s: %v", image, err)
	}
}

// Attest attaches a signed attestation of the predicate type to the image.
func (s *Signer) Attest(t testing.TB, image, predicateType string, predicate []byte) {
	t.Helper()
	_, err := ops.AttestImage(context.Background(), store.New(store.Options{}), ops.AttestImageRequest{
		Reference: image, PredicateType: predicateType, Predicate: predicate, Signer: s.kp, Now: time.Now,
	})
	if err != nil {
		t.Fatalf("attest %s: %v", image, err)
	}
}

// Policy parses a ClusterImagePolicy written as YAML.
func Policy(t testing.TB, doc string) *cip.ClusterImagePolicy {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cip.ParseClusterImagePolicy(j)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Stack is hallmark's own Sigstore stack (CA with its CT log, Rekor v2
// log, timestamp authority, development OIDC issuer and registry), in
// process (testkit.Stack).
type Stack struct {
	*testkit.Stack
	// Host is the stack's host:port, the registry's.
	Host string
	// TrustedRoot is its trusted_root.json, which lists the CT log: keyless
	// signatures carry an SCT.
	TrustedRoot []byte
}

// StartStack starts the stack until the test ends.
func StartStack(t testing.TB) *Stack {
	t.Helper()
	s := testkit.StartStack(t, nil)
	return &Stack{Stack: s, Host: s.Server.Addr().String(), TrustedRoot: s.Server.TrustedRoot()}
}

// Issuer is the development OIDC issuer's URL.
func (s *Stack) Issuer() string { return s.Stack.Issuer }

// options returns signing options for a keyless signature as subject:
// a certificate from the stack's CA, a log entry and a signed timestamp.
func (s *Stack) options(t testing.TB, subject string) (sgsign.Keypair, sign.Options) {
	t.Helper()
	return s.KeylessOptions(t, subject)
}

// SignKeyless signs the image as subject.
func (s *Stack) SignKeyless(t testing.TB, image, subject string) {
	t.Helper()
	kp, opts := s.options(t, subject)
	if _, err := ops.SignImage(context.Background(), store.New(store.Options{}), ops.SignImageRequest{Reference: image, Signer: kp, Options: opts}); err != nil {
		t.Fatalf("sign %s: %v", image, err)
	}
}

// AttestKeyless attaches an attestation signed as subject.
func (s *Stack) AttestKeyless(t testing.TB, image, subject, predicateType string, predicate []byte) {
	t.Helper()
	kp, opts := s.options(t, subject)
	_, err := ops.AttestImage(context.Background(), store.New(store.Options{}), ops.AttestImageRequest{
		Reference: image, PredicateType: predicateType, Predicate: predicate, Signer: kp, Options: opts, Now: time.Now,
	})
	if err != nil {
		t.Fatalf("attest %s: %v", image, err)
	}
}

// GatePredicate returns a passing gate attestation predicate for the image
// digest (sha256:…), from a clean trivy report, and the digest of the gate
// policy it passed under.
func GatePredicate(t testing.TB, digest string, scannedAt time.Time) (predicate []byte, policyDigest string) {
	t.Helper()
	report := fmt.Sprintf(`{"SchemaVersion":2,"Trivy":{"Version":"0.70.0"},"CreatedAt":%q,"ArtifactName":"app@%s","ArtifactType":"container_image","Metadata":{"RepoDigests":["app@%s"]},"Results":[]}`,
		scannedAt.UTC().Format(time.RFC3339), digest, digest)
	parsed, err := gate.ParseReport([]byte(report))
	if err != nil {
		t.Fatal(err)
	}
	res, err := gate.Evaluate(parsed, gate.DefaultPolicy(), nil, digest, scannedAt)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed {
		t.Fatalf("the gate blocked a clean report")
	}
	p, err := res.Predicate(gate.Invocation{URI: "https://ci.example/run/1"})
	if err != nil {
		t.Fatal(err)
	}
	return p, res.PolicyDigest
}

// ProvenancePredicate returns SLSA v1 provenance of a GitHub workflow build
// of source (https://github.com/…) at tag, and, when record is not nil, the
// signing policy's release record in it (signpolicy.AddToProvenance), as
// hallmark release writes it.
func ProvenancePredicate(t testing.TB, source, tag string, record *signpolicy.ReleaseRecord) []byte {
	t.Helper()
	p := []byte(fmt.Sprintf(`{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1",
"externalParameters":{"workflow":{"ref":"refs/tags/%[2]s","repository":%[1]q,"path":".github/workflows/release.yml"}},
"internalParameters":{"github":{"event_name":"push"}},
"resolvedDependencies":[{"uri":"git+%[1]s@refs/tags/%[2]s","digest":{"gitCommit":"0123456789abcdef0123456789abcdef01234567"}}]},
"runDetails":{"builder":{"id":"https://github.com/org/builder/.github/workflows/build.yml@refs/tags/v2.0.0"}}}`, source, tag))
	if record == nil {
		return p
	}
	p, err := signpolicy.AddToProvenance(p, *record)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
