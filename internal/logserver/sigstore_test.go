package logserver_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

	"hallmark.dev/internal/logserver"
	"hallmark.dev/tlog"
)

// signer is an ephemeral key trusted by the verifier, as with cosign
// --key: sigstore-go rebuilds the Rekor v2 entry from the bundle with it.
type signer struct {
	kp *sign.EphemeralKeypair
	tm root.TrustedMaterial
}

func newSigner(t *testing.T) *signer {
	t.Helper()
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatalf("NewEphemeralKeypair: %v", err)
	}
	v, err := signature.LoadVerifier(kp.GetPublicKey(), crypto.SHA256)
	if err != nil {
		t.Fatalf("LoadVerifier: %v", err)
	}
	keys := root.NewTrustedPublicKeyMaterialFromMapping(map[string]*root.ExpiringKey{
		string(kp.GetHint()): root.NewExpiringKey(v, time.Time{}, time.Time{}),
	})
	return &signer{kp: kp, tm: keys}
}

// bundle signs content with sigstore-go v1.3.0, logging it in tl through
// the real Rekor v2 client over HTTP.
func (s *signer) bundle(t *testing.T, tl *testLog, content sign.Content) *protobundle.Bundle {
	t.Helper()
	b, err := sign.Bundle(content, s.kp, sign.BundleOptions{
		TransparencyLogs: []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: tl.srv.URL, Version: 2})},
	})
	if err != nil {
		t.Fatalf("sign.Bundle: %v", err)
	}
	return b
}

// verifyBundle verifies b with sigstore-go, trusting tr and the signer's key.
func (s *signer) verifyBundle(tr *root.TrustedRoot, b *protobundle.Bundle, artifact []byte) error {
	v, err := verify.NewVerifier(root.TrustedMaterialCollection{tr, s.tm},
		verify.WithTransparencyLog(1), verify.WithCurrentTime())
	if err != nil {
		return fmt.Errorf("NewVerifier: %w", err)
	}
	sb, err := bundle.NewBundle(b)
	if err != nil {
		return fmt.Errorf("NewBundle: %w", err)
	}
	_, err = v.Verify(sb, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithKey()))
	return err
}

func statement(t *testing.T, artifact []byte) []byte {
	t.Helper()
	d := sha256.Sum256(artifact)
	return fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"artifact","digest":{"sha256":%q}}],"predicateType":"https://hallmark.dev/test/v1","predicate":{"n":1}}`,
		hex.EncodeToString(d[:]))
}

// TestSigstoreGoEndToEnd signs a blob and a DSSE statement with
// sigstore-go v1.3.0 against the log over HTTP and verifies both bundles
// with sigstore-go, for each log key type. This pins everything
// sigstore-go checks: the canonical body it rebuilds from the bundle, the
// log ID, the checkpoint origin and signature, and the inclusion proof.
func TestSigstoreGoEndToEnd(t *testing.T) {
	for _, keyType := range []string{logserver.KeyEd25519, logserver.KeyECDSAP256} {
		t.Run(keyType, func(t *testing.T) {
			tl := startLog(t, "", func(c *logserver.Config) { c.KeyType = keyType })
			tr := tl.trustedRoot(t)
			s := newSigner(t)
			blob := []byte("hello, transparency")
			for _, tc := range []struct {
				name    string
				content sign.Content
			}{
				{"blob", &sign.PlainData{Data: blob}},
				{"dsse statement", &sign.DSSEData{Data: statement(t, blob), PayloadType: "application/vnd.in-toto+json"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					b := s.bundle(t, tl, tc.content)
					if err := s.verifyBundle(tr, b, blob); err != nil {
						t.Fatalf("sigstore-go Verify: %v", err)
					}
					tles := b.GetVerificationMaterial().GetTlogEntries()
					if len(tles) != 1 {
						t.Fatalf("got %d tlog entries, want 1", len(tles))
					}
					tle := tles[0]
					if got, want := tle.GetLogId().GetKeyId(), tl.LogID(); !bytes.Equal(got, want) {
						t.Errorf("logId.keyId = %x, want %x", got, want)
					}
					if got := tle.GetKindVersion(); got.GetKind() != "hashedrekord" || got.GetVersion() != "0.0.2" {
						t.Errorf("kindVersion = %v, want hashedrekord 0.0.2", got)
					}
					if got := tle.GetIntegratedTime(); got != 0 {
						t.Errorf("integratedTime = %d, want 0 (Rekor v2 has none)", got)
					}
					cp := tle.GetInclusionProof().GetCheckpoint().GetEnvelope()
					if !strings.HasPrefix(cp, testOrigin+"\n") {
						t.Errorf("checkpoint %q does not start with origin %q", cp, testOrigin)
					}
				})
			}
		})
	}
}

// TestSigstoreGoRejects shows that sigstore-go's checks bite on this log's
// entries: a tampered proof, a checkpoint signed by another key, a
// checkpoint for another tree and a trusted root with another origin all
// fail.
func TestSigstoreGoRejects(t *testing.T) {
	tl := startLog(t, "", nil)
	tr := tl.trustedRoot(t)
	s := newSigner(t)
	blob := []byte("tamper with me")
	// A few entries first, so that the proof is not empty.
	for i := range 3 {
		s.bundle(t, tl, &sign.PlainData{Data: fmt.Appendf(nil, "filler %d", i)})
	}
	good := s.bundle(t, tl, &sign.PlainData{Data: blob})
	if err := s.verifyBundle(tr, good, blob); err != nil {
		t.Fatalf("untampered bundle: %v", err)
	}

	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, ed25519.SeedSize))
	otherSigner, err := tlog.NewNoteSigner(testOrigin, otherKey)
	if err != nil {
		t.Fatalf("NewNoteSigner: %v", err)
	}
	resign := func(t *testing.T, text string) string {
		signed, err := note.Sign(&note.Note{Text: text}, otherSigner)
		if err != nil {
			t.Fatalf("note.Sign: %v", err)
		}
		return string(signed)
	}
	cpText := func(t *testing.T, b *protobundle.Bundle) string {
		env := b.GetVerificationMaterial().GetTlogEntries()[0].GetInclusionProof().GetCheckpoint().GetEnvelope()
		text, _, ok := strings.Cut(env, "\n\n")
		if !ok {
			t.Fatalf("checkpoint %q has no signature block", env)
		}
		return text + "\n"
	}
	otherHost, err := tl.TransparencyLogInstance(tl.srv.URL, time.Now())
	if err != nil {
		t.Fatalf("TransparencyLogInstance: %v", err)
	}
	otherHost.BaseUrl = strings.Replace(tl.srv.URL, "127.0.0.1", "localhost", 1)

	tests := []struct {
		name   string
		tamper func(t *testing.T, b *protobundle.Bundle)
		root   *root.TrustedRoot
	}{
		{"proof hash flipped", func(t *testing.T, b *protobundle.Bundle) {
			b.VerificationMaterial.TlogEntries[0].InclusionProof.Hashes[0][0] ^= 1
		}, tr},
		{"proof hash dropped", func(t *testing.T, b *protobundle.Bundle) {
			p := b.VerificationMaterial.TlogEntries[0].InclusionProof
			p.Hashes = p.Hashes[1:]
		}, tr},
		{"log index changed", func(t *testing.T, b *protobundle.Bundle) {
			b.VerificationMaterial.TlogEntries[0].LogIndex++
		}, tr},
		{"checkpoint signed by another key", func(t *testing.T, b *protobundle.Bundle) {
			cp := b.VerificationMaterial.TlogEntries[0].InclusionProof.Checkpoint
			cp.Envelope = resign(t, cpText(t, b))
		}, tr},
		{"checkpoint text changed", func(t *testing.T, b *protobundle.Bundle) {
			cp := b.VerificationMaterial.TlogEntries[0].InclusionProof.Checkpoint
			cp.Envelope = strings.Replace(cp.Envelope, "\n4\n", "\n5\n", 1)
		}, tr},
		{"trusted root names another host", func(t *testing.T, b *protobundle.Bundle) {}, trustedRootWith(t, otherHost)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := proto.Clone(good).(*protobundle.Bundle)
			tt.tamper(t, b)
			if err := s.verifyBundle(tt.root, b, blob); err == nil {
				t.Fatal("sigstore-go verified the tampered bundle")
			} else {
				t.Logf("rejected: %v", err)
			}
		})
	}
}
