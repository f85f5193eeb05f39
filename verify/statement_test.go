package verify_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/attest"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

const provenanceStatement = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}],` +
	`"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"x"},"runDetails":{"builder":{"id":"y"}}}}`

// bareEnvelope returns the DSSE envelope of a bundle, as a .intoto.jsonl
// line holds it, with a certificate in each signature when cert is set.
func bareEnvelope(t *testing.T, bundle []byte, cert string) []byte {
	t.Helper()
	var b struct {
		DSSEEnvelope map[string]any `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	if cert != "" {
		for _, s := range b.DSSEEnvelope["signatures"].([]any) {
			s.(map[string]any)["cert"] = cert
		}
	}
	out, err := json.Marshal(b.DSSEEnvelope)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStatement(t *testing.T) {
	f := newFixture(t)
	bundle := statementBundle(t, f.signer, provenanceStatement)
	envelope := bareEnvelope(t, bundle, "")
	slsaTypes := []string{attest.PredicateSLSAProvenance1, attest.PredicateSLSAProvenance02}
	// No CA needed: a bare envelope is refused before any is consulted.
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	keyless, err := verify.NewKeyless(tr, verify.Identity{Issuer: "https://issuer", Subject: "me@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	const certPEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUBQ==\n-----END CERTIFICATE-----\n"
	for _, tc := range []struct {
		name      string
		data      []byte
		authority verify.Authority
		types     []string
		step      verify.Step // "" = verifies
		want      string
	}{
		{name: "bundle", data: bundle, authority: f.keys, types: slsaTypes},
		{name: "bare envelope", data: envelope, authority: f.keys, types: slsaTypes},
		{name: "bare envelope with a certificate, key given", data: bareEnvelope(t, bundle, certPEM), authority: f.keys, types: slsaTypes},
		{name: "bundle, other key", data: bundle, authority: f.otherKey, types: slsaTypes, step: verify.StepSignature, want: "does not verify with key"},
		{name: "bare envelope, other key", data: envelope, authority: f.otherKey, types: slsaTypes, step: verify.StepSignature},
		{name: "tampered bundle", data: tamperPayload(t, bundle), authority: f.keys, types: slsaTypes, step: verify.StepSignature},
		{name: "predicate type not allowed", data: bundle, authority: f.keys, types: []string{attest.PredicateCycloneDX}, step: verify.StepPayload,
			want: "predicate type https://slsa.dev/provenance/v1, want https://cyclonedx.org/bom"},
		{name: "message signature", data: blobBundle(t, f), authority: f.keys, types: slsaTypes, step: verify.StepBundle, want: "not a DSSE envelope"},
		{name: "not JSON", data: []byte("nope"), authority: f.keys, types: slsaTypes, step: verify.StepBundle},
		{name: "envelope with an unknown field", data: []byte(`{"payloadType":"x","payload":"","signatures":[],"extra":1}`), authority: f.keys, types: slsaTypes, step: verify.StepBundle, want: "unknown field"},
		{name: "envelope with a field in another case", data: []byte(`{"payloadType":"x","Payload":"","signatures":[]}`), authority: f.keys, types: slsaTypes, step: verify.StepBundle, want: `unknown field "Payload"`},
		{name: "envelope with a repeated key", data: []byte(`{"payloadType":"x","payloadType":"y","payload":"","signatures":[]}`), authority: f.keys, types: slsaTypes, step: verify.StepBundle, want: `duplicate JSON key "payloadType"`},
		{name: "envelope without signatures", data: []byte(`{"payloadType":"x","payload":"","signatures":[]}`), authority: f.keys, types: slsaTypes, step: verify.StepBundle, want: "no signature"},
		{name: "keyless, envelope with a certificate", data: bareEnvelope(t, bundle, certPEM), authority: keyless, types: slsaTypes, step: verify.StepTimestamp,
			want: "no signing time can be established offline"},
		{name: "keyless, envelope without a certificate", data: envelope, authority: keyless, types: slsaTypes, step: verify.StepCertificate,
			want: "carries no signing certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.Statement("prov", tc.data, verify.StatementPolicy{Authority: tc.authority, PredicateTypes: tc.types})
			if tc.step == "" {
				if err != nil {
					t.Fatal(err)
				}
				if v.Statement.PredicateType != attest.PredicateSLSAProvenance1 || string(v.Payload) != provenanceStatement || v.Signer.KeyFingerprint == "" {
					t.Errorf("got %+v", v)
				}
				return
			}
			var se *verify.SignatureError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SignatureError", err)
			}
			if se.Step != tc.step || se.Source != "prov" || !strings.Contains(se.Err.Error(), tc.want) {
				t.Errorf("got %v (step %s), want step %s and %q", err, se.Step, tc.step, tc.want)
			}
		})
	}
	if _, err := verify.Statement("prov", bundle, verify.StatementPolicy{PredicateTypes: slsaTypes}); !errors.Is(err, verify.ErrNoAuthority) {
		t.Errorf("no authority: got %v", err)
	}
	if _, err := verify.Statement("prov", bundle, verify.StatementPolicy{Authority: f.keys}); err == nil {
		t.Error("no predicate types: got no error")
	}
}

func blobBundle(t *testing.T, f *fixture) []byte {
	t.Helper()
	k, err := sign.NewKeySigner(f.signer)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sign.Blob(context.Background(), k, []byte("x"), sign.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
