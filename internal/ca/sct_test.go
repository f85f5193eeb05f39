package ca_test

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"strings"
	"testing"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

var oidSCTList = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}

// TestEmbeddedSCT signs with sigstore-go against a CA that logs to a CT log
// and verifies with sigstore-go requiring an SCT from the trusted root's CT
// log, as cosign does by default; a CA without a CT log fails that check.
func TestEmbeddedSCT(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ct      bool
		wantErr string
	}{
		{name: "with ct log", ct: true},
		{name: "without ct log", ct: false, wantErr: "SCT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{ct: tc.ct})
			tr := s.trustedRoot(t)
			artifact := []byte("hello, transparent keyless")
			b := s.signBundle(t, &sign.PlainData{Data: artifact}, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, mint(t, s.email, "alice@example.com", "sigstore", nil), nil)
			if !tc.ct {
				// A trusted root that lists a CT log the CA never logged to.
				ctStack := newStack(t, stackOptions{ct: true})
				s.ctl = ctStack.ctl
				tr = s.trustedRoot(t)
			}
			v, err := verify.NewVerifier(tr, verify.WithCurrentTime(), verify.WithSignedCertificateTimestamps(1))
			if err != nil {
				t.Fatalf("verify.NewVerifier: %v", err)
			}
			id, err := verify.NewShortCertificateIdentity(s.email.URL(), "", "alice@example.com", "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithCertificateIdentity(id)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("verify: got %v, want an error about %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			leaf := s.last.Load()
			var n int
			for _, e := range leaf.Extensions {
				if e.Id.Equal(oidSCTList) {
					n++
					if e.Critical {
						t.Error("the SCT list extension is critical")
					}
				}
			}
			if n != 1 {
				t.Errorf("leaf has %d SCT list extensions, want 1", n)
			}
			if got := len(leaf.UnhandledCriticalExtensions); got != 0 {
				t.Errorf("leaf has %d unhandled critical extensions (a leftover poison?)", got)
			}
			if _, err := x509.ParseCertificate(leaf.Raw); err != nil {
				t.Fatal(err)
			}
		})
	}
}
