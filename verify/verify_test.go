package verify_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/attest"
	"hallmark.dev/keys"
	"hallmark.dev/oci"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

type fixture struct {
	signer   crypto.Signer
	other    crypto.Signer
	keys     *verify.Keys
	otherKey *verify.Keys
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{signer: genKey(t, keys.ECDSAP256), other: genKey(t, keys.ECDSAP256)}
	var err error
	if f.keys, err = verify.NewKeys(f.signer.Public()); err != nil {
		t.Fatal(err)
	}
	if f.otherKey, err = verify.NewKeys(f.other.Public()); err != nil {
		t.Fatal(err)
	}
	return f
}

func genKey(t *testing.T, alg keys.Algorithm) crypto.Signer {
	t.Helper()
	s, err := keys.Generate(alg)
	if err != nil {
		t.Fatalf("generate %s: %v", alg, err)
	}
	return s
}

func imageBundle(t *testing.T, s crypto.Signer, digest string, ann map[string]string) []byte {
	t.Helper()
	k, err := sign.NewKeySigner(s)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := sign.Image(context.Background(), k, digest, ann, sign.Options{})
	if err != nil {
		t.Fatalf("sign image: %v", err)
	}
	return b
}

func statementBundle(t *testing.T, s crypto.Signer, statement string) []byte {
	t.Helper()
	k, err := sign.NewKeySigner(s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sign.Statement(context.Background(), k, []byte(statement), sign.Options{})
	if err != nil {
		t.Fatalf("sign statement: %v", err)
	}
	return b
}

func legacySignature(t *testing.T, s crypto.Signer, digest string, ann map[string]string) *oci.Legacy {
	t.Helper()
	payload, err := attest.NewSimpleSigning("registry.example/app", digest, ann)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	sig, err := s.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &oci.Legacy{Payload: payload, Signature: base64.StdEncoding.EncodeToString(sig)}
}

func TestImage(t *testing.T) {
	f := newFixture(t)
	ann := map[string]string{"repo": "org/app", "ref": "abc"}
	good := imageBundle(t, f.signer, digestA, ann)
	blobBundle := blobBundle(t, f)
	otherPredicate := statementBundle(t, f.signer, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"`+digestA[7:]+`"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`)

	tests := []struct {
		name     string
		digest   string
		sig      oci.Signature
		policy   verify.ImagePolicy
		wantStep verify.Step
		wantErr  string
		wantAnn  map[string]string
	}{
		{name: "bundle verifies", digest: digestA, sig: oci.Signature{Bundle: good}, policy: verify.ImagePolicy{Authority: f.keys}, wantAnn: ann},
		{name: "required annotations present", digest: digestA, sig: oci.Signature{Bundle: good}, policy: verify.ImagePolicy{Authority: f.keys, Annotations: map[string]string{"repo": "org/app"}}, wantAnn: ann},
		{name: "wrong key", digest: digestA, sig: oci.Signature{Bundle: good}, policy: verify.ImagePolicy{Authority: f.otherKey}, wantStep: verify.StepSignature, wantErr: "does not verify with key SHA256:"},
		{name: "copied onto another digest", digest: digestB, sig: oci.Signature{Bundle: good}, policy: verify.ImagePolicy{Authority: f.keys}, wantStep: verify.StepSubject, wantErr: "signature is for " + digestA + ", not " + digestB},
		{name: "annotation missing", digest: digestA, sig: oci.Signature{Bundle: good}, policy: verify.ImagePolicy{Authority: f.keys, Annotations: map[string]string{"team": "x"}}, wantStep: verify.StepAnnotations, wantErr: "team=x is not signed"},
		{name: "annotation differs", digest: digestA, sig: oci.Signature{Bundle: good}, policy: verify.ImagePolicy{Authority: f.keys, Annotations: map[string]string{"repo": "evil"}}, wantStep: verify.StepAnnotations, wantErr: `repo is signed as "org/app", want "evil"`},
		{name: "tampered payload", digest: digestA, sig: oci.Signature{Bundle: tamperPayload(t, good)}, policy: verify.ImagePolicy{Authority: f.keys}, wantStep: verify.StepSignature},
		{name: "other predicate type", digest: digestA, sig: oci.Signature{Bundle: otherPredicate}, policy: verify.ImagePolicy{Authority: f.keys}, wantStep: verify.StepPayload, wantErr: "is not an image signature"},
		{name: "message signature is not an image signature", digest: digestA, sig: oci.Signature{Bundle: blobBundle}, policy: verify.ImagePolicy{Authority: f.keys}, wantStep: verify.StepBundle, wantErr: "not a DSSE envelope"},
		{name: "malformed bundle", digest: digestA, sig: oci.Signature{Bundle: []byte(`{"mediaType":`)}, policy: verify.ImagePolicy{Authority: f.keys}, wantStep: verify.StepBundle, wantErr: "malformed bundle"},
		{name: "unreadable", digest: digestA, sig: oci.Signature{}, policy: verify.ImagePolicy{Authority: f.keys}, wantStep: verify.StepBundle, wantErr: "could not be read"},
		{name: "legacy verifies", digest: digestA, sig: oci.Signature{Legacy: legacySignature(t, f.signer, digestA, ann)}, policy: verify.ImagePolicy{Authority: f.keys, Annotations: ann}, wantAnn: ann},
		{name: "legacy other digest", digest: digestB, sig: oci.Signature{Legacy: legacySignature(t, f.signer, digestA, nil)}, policy: verify.ImagePolicy{Authority: f.keys}, wantStep: verify.StepSubject, wantErr: "signature is for " + digestA},
		{name: "legacy wrong key", digest: digestA, sig: oci.Signature{Legacy: legacySignature(t, f.other, digestA, nil)}, policy: verify.ImagePolicy{Authority: f.keys}, wantStep: verify.StepSignature},
		{name: "legacy bad signature encoding", digest: digestA, sig: oci.Signature{Legacy: &oci.Legacy{Payload: []byte("{}"), Signature: "%%%"}}, policy: verify.ImagePolicy{Authority: f.keys}, wantStep: verify.StepBundle, wantErr: "not base64"},
		{name: "legacy with a malformed certificate", digest: digestA, sig: oci.Signature{Legacy: &oci.Legacy{Payload: []byte("{}"), Signature: "AA==", Certificate: []byte("x")}}, policy: verify.ImagePolicy{Authority: f.keys}, wantStep: verify.StepBundle, wantErr: "holds 0 PEM certificates, want 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.sig.Source = "sig1"
			res, err := verify.Image(tc.digest, []oci.Signature{tc.sig}, tc.policy)
			if tc.wantStep == "" {
				if err != nil {
					t.Fatalf("Image: %v", err)
				}
				if got := len(res.Verified); got != 1 {
					t.Fatalf("got %d verified, want 1", got)
				}
				if diff := cmp.Diff(tc.wantAnn, res.Verified[0].Annotations); diff != "" {
					t.Errorf("annotations (-want +got):\n%s", diff)
				}
				return
			}
			var nv *verify.NoValidSignatureError
			if !errors.As(err, &nv) {
				t.Fatalf("got error %v, want NoValidSignatureError", err)
			}
			if len(nv.Rejected) != 1 {
				t.Fatalf("got %d rejected, want 1", len(nv.Rejected))
			}
			r := nv.Rejected[0]
			if r.Step != tc.wantStep {
				t.Errorf("got step %q, want %q (error: %v)", r.Step, tc.wantStep, r)
			}
			if r.Source != "sig1" {
				t.Errorf("got source %q, want sig1", r.Source)
			}
			if !strings.Contains(r.Error(), tc.wantErr) {
				t.Errorf("got error %q, want it to contain %q", r.Error(), tc.wantErr)
			}
		})
	}
}

func TestImageOneGoodAmongBad(t *testing.T) {
	f := newFixture(t)
	sigs := []oci.Signature{
		{Source: "bad", Bundle: imageBundle(t, f.other, digestA, nil)},
		{Source: "good", Bundle: imageBundle(t, f.signer, digestA, nil)},
	}
	res, err := verify.Image(digestA, sigs, verify.ImagePolicy{Authority: f.keys})
	if err != nil {
		t.Fatalf("Image: %v", err)
	}
	if len(res.Verified) != 1 || res.Verified[0].Source != "good" {
		t.Errorf("got verified %+v, want only good", res.Verified)
	}
	if len(res.Rejected) != 1 || res.Rejected[0].Source != "bad" {
		t.Errorf("got rejected %+v, want only bad", res.Rejected)
	}
}

func TestImageErrors(t *testing.T) {
	f := newFixture(t)
	if _, err := verify.Image(digestA, nil, verify.ImagePolicy{Authority: f.keys}); !errors.Is(err, verify.ErrNoSignatures) {
		t.Errorf("no signatures: got %v, want ErrNoSignatures", err)
	}
	if _, err := verify.Image(digestA, []oci.Signature{{Bundle: []byte("{}")}}, verify.ImagePolicy{}); !errors.Is(err, verify.ErrNoAuthority) {
		t.Errorf("no keys: got %v, want ErrNoKeys", err)
	}
	if _, err := verify.Image("sha256:abc", nil, verify.ImagePolicy{Authority: f.keys}); err == nil {
		t.Error("bad digest: got nil error")
	}
	if _, err := verify.NewKeys(); !errors.Is(err, verify.ErrNoKeys) {
		t.Errorf("NewKeys(): got %v, want ErrNoKeys", err)
	}
}

// TestKeyTypes signs with every key type hallmark generates and verifies
// with the matching public key, and with a second trusted key beside it.
func TestKeyTypes(t *testing.T) {
	for _, alg := range []keys.Algorithm{keys.ECDSAP256, keys.ECDSAP384, keys.ECDSAP521, keys.Ed25519, keys.RSA3072} {
		t.Run(string(alg), func(t *testing.T) {
			s := genKey(t, alg)
			decoy := genKey(t, keys.ECDSAP256)
			ks, err := verify.NewKeys(decoy.Public(), s.Public())
			if err != nil {
				t.Fatal(err)
			}
			b := imageBundle(t, s, digestA, nil)
			if _, err := verify.Image(digestA, []oci.Signature{{Source: "s", Bundle: b}}, verify.ImagePolicy{Authority: ks}); err != nil {
				t.Fatalf("image: %v", err)
			}
			k, err := sign.NewKeySigner(s)
			if err != nil {
				t.Fatal(err)
			}
			data := []byte("release artifact")
			bb, err := sign.Blob(context.Background(), k, data, sign.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verify.Blob("b", bb, verify.Artifact{Content: strings.NewReader(string(data))}, verify.BlobPolicy{Authority: ks}); err != nil {
				t.Fatalf("blob: %v", err)
			}
		})
	}
}

// TestPureEd25519 accepts DSSE signatures made with pure Ed25519, as other
// tools (and cosign for images) make them.
func TestPureEd25519(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := attest.ImageSignatureStatement(digestA, nil)
	if err != nil {
		t.Fatal(err)
	}
	pae := dssePAE(attest.PayloadType, st)
	sig := ed25519.Sign(priv, pae)
	b := `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":""}},"dsseEnvelope":{"payload":"` +
		base64.StdEncoding.EncodeToString(st) + `","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"` + base64.StdEncoding.EncodeToString(sig) + `"}]}}`
	ks, err := verify.NewKeys(pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.Image(digestA, []oci.Signature{{Source: "s", Bundle: []byte(b)}}, verify.ImagePolicy{Authority: ks}); err != nil {
		t.Fatalf("Image: %v", err)
	}
}

// dssePAE is DSSE's pre-authentication encoding.
func dssePAE(payloadType string, payload []byte) []byte {
	return []byte(fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload))
}

func TestBlob(t *testing.T) {
	f := newFixture(t)
	k, err := sign.NewKeySigner(f.signer)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("checksums\n")
	b, err := sign.Blob(context.Background(), k, data, sign.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	tests := []struct {
		name     string
		bundle   []byte
		artifact verify.Artifact
		keys     *verify.Keys
		wantStep verify.Step
	}{
		{name: "content", bundle: b, artifact: verify.Artifact{Content: strings.NewReader(string(data))}, keys: f.keys},
		{name: "digest", bundle: b, artifact: verify.Artifact{Digest: digest}, keys: f.keys},
		{name: "other content", bundle: b, artifact: verify.Artifact{Content: strings.NewReader("other")}, keys: f.keys, wantStep: verify.StepSignature},
		{name: "other digest", bundle: b, artifact: verify.Artifact{Digest: digestB}, keys: f.keys, wantStep: verify.StepSignature},
		{name: "wrong key", bundle: b, artifact: verify.Artifact{Digest: digest}, keys: f.otherKey, wantStep: verify.StepSignature},
		{name: "no artifact", bundle: b, artifact: verify.Artifact{}, keys: f.keys, wantStep: verify.StepSubject},
		{name: "malformed digest", bundle: b, artifact: verify.Artifact{Digest: "sha256:xyz"}, keys: f.keys, wantStep: verify.StepSubject},
		{name: "tampered signature", bundle: tamperSignature(t, b), artifact: verify.Artifact{Digest: digest}, keys: f.keys, wantStep: verify.StepSignature},
		{name: "empty bundle", bundle: nil, artifact: verify.Artifact{Digest: digest}, keys: f.keys, wantStep: verify.StepBundle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify.Blob("b.json", tc.bundle, tc.artifact, verify.BlobPolicy{Authority: tc.keys})
			if tc.wantStep == "" {
				if err != nil {
					t.Fatalf("Blob: %v", err)
				}
				return
			}
			var se *verify.SignatureError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a SignatureError", err)
			}
			if se.Step != tc.wantStep || se.Source != "b.json" {
				t.Errorf("got step %q source %q, want %q b.json (%v)", se.Step, se.Source, tc.wantStep, se)
			}
		})
	}
}

// TestCosignVectors verifies bundles the real cosign v3.1.3 wrote.
func TestCosignVectors(t *testing.T) {
	pemBytes, err := os.ReadFile("testdata/cosign-v3.1.3.pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := keys.ParsePublicKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := verify.NewKeys(pub)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/cosign-v3.1.3-image.sigstore.json")
	if err != nil {
		t.Fatal(err)
	}
	const digest = "sha256:e3b3213d1c80d1f3bf985cf1154c8b2db1f94aaec27bbf1a2ac42c74f9d3028e"
	res, err := verify.Image(digest, []oci.Signature{{Source: "cosign", Bundle: b}}, verify.ImagePolicy{Authority: ks, Annotations: map[string]string{"repo": "y"}})
	if err != nil {
		t.Fatalf("cosign's image bundle: %v", err)
	}
	if got := res.Verified[0].Annotations["repo"]; got != "y" {
		t.Errorf("got annotation repo=%q, want y", got)
	}
	if _, err := verify.Image(digestA, []oci.Signature{{Source: "cosign", Bundle: b}}, verify.ImagePolicy{Authority: ks}); err == nil {
		t.Error("cosign's bundle verified for another digest")
	}
}

func TestAttestations(t *testing.T) {
	f := newFixture(t)
	statement := func(predicateType, digest string) string {
		return `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"r","digest":{"sha256":"` + digest[7:] + `"}}],"predicateType":"` + predicateType + `","predicate":{"k":"v"}}`
	}
	prov := statementBundle(t, f.signer, statement("https://slsa.dev/provenance/v1", digestA))
	sbom := statementBundle(t, f.signer, statement("https://cyclonedx.org/bom", digestA))
	other := statementBundle(t, f.signer, statement("https://slsa.dev/provenance/v1", digestB))
	sigs := []oci.Signature{{Source: "prov", Bundle: prov}, {Source: "sbom", Bundle: sbom}, {Source: "other", Bundle: other}}
	res, err := verify.Attestations(digestA, sigs, verify.AttestationPolicy{Authority: f.keys, PredicateType: "https://slsa.dev/provenance/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Verified) != 1 || res.Verified[0].Source != "prov" {
		t.Fatalf("verified %+v, want prov only", res.Verified)
	}
	steps := map[string]verify.Step{}
	for _, r := range res.Rejected {
		steps[r.Source] = r.Step
	}
	if steps["sbom"] != verify.StepPayload || steps["other"] != verify.StepSubject {
		t.Errorf("rejections %v, want sbom at payload and other at subject", steps)
	}
	_, err = verify.Attestations(digestA, sigs, verify.AttestationPolicy{Authority: f.otherKey, PredicateType: "https://slsa.dev/provenance/v1"})
	var nv *verify.NoValidSignatureError
	if !errors.As(err, &nv) {
		t.Errorf("wrong key: got %v", err)
	}
	if _, err := verify.Attestations(digestA, nil, verify.AttestationPolicy{Authority: f.keys, PredicateType: "x"}); !errors.Is(err, verify.ErrNoSignatures) {
		t.Errorf("none: got %v", err)
	}
}
