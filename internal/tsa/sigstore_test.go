package tsa_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"hallmark.dev/internal/tsa"
)

// trustedRoot returns a trusted root that lists a as its only timestamp
// authority, read back from its trusted_root.json form, and that form.
func trustedRoot(t testing.TB, a *tsa.TSA, uri string) (*root.TrustedRoot, []byte) {
	t.Helper()
	chain := a.CertChain()
	authority := &root.SigstoreTimestampingAuthority{
		Leaf:                chain[0],
		Intermediates:       chain[1 : len(chain)-1],
		Root:                chain[len(chain)-1],
		URI:                 uri,
		ValidityPeriodStart: chain[0].NotBefore,
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, nil, nil, []root.TimestampingAuthority{authority}, nil)
	if err != nil {
		t.Fatalf("NewTrustedRoot: %v", err)
	}
	js, err := tr.MarshalJSON()
	if err != nil {
		t.Fatalf("marshaling the trusted root: %v", err)
	}
	tr, err = root.NewTrustedRootFromJSON(js)
	if err != nil {
		t.Fatalf("NewTrustedRootFromJSON: %v", err)
	}
	if n := len(tr.TimestampingAuthorities()); n != 1 {
		t.Fatalf("trusted root lists %d timestamp authorities, want 1", n)
	}
	return tr, js
}

// TestSigstoreVerify verifies tokens over a signature as sigstore-go does,
// through the timestamp authority of a trusted root.
func TestSigstoreVerify(t *testing.T) {
	a := newTSA(t)
	tr, _ := trustedRoot(t, a, "https://tsa.test")
	authority := tr.TimestampingAuthorities()[0]
	other, _ := trustedRoot(t, newTSA(t), "https://other.test")
	sig := make([]byte, 64)
	if _, err := rand.Read(sig); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts *timestamp.RequestOptions
	}{
		{"as sigstore-go asks", &timestamp.RequestOptions{Hash: crypto.SHA256}},
		{"certReq", &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true}},
		{"sha384 nonce", &timestamp.RequestOptions{Hash: crypto.SHA384, Nonce: big.NewInt(7)}},
		{"sha512 certReq", &timestamp.RequestOptions{Hash: crypto.SHA512, Certificates: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := a.Timestamp(createRequest(t, sig, tc.opts))
			if err != nil {
				t.Fatalf("Timestamp: %v", err)
			}
			got, err := authority.Verify(resp, sig)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if want := testTime.Truncate(time.Second); !got.Time.Equal(want) {
				t.Errorf("time: got %v, want %v", got.Time, want)
			}
			if got.URI != "https://tsa.test" {
				t.Errorf("URI: got %q, want https://tsa.test", got.URI)
			}
			if _, err := authority.Verify(resp, append([]byte("x"), sig...)); err == nil {
				t.Errorf("Verify over another signature: got no error")
			}
			if _, err := other.TimestampingAuthorities()[0].Verify(resp, sig); err == nil {
				t.Errorf("Verify against another TSA's root: got no error")
			}
		})
	}
}

// TestSigstoreBundle signs a blob with sigstore-go, which gets its
// timestamp from the TSA over HTTP, and verifies the bundle with
// sigstore-go's verifier requiring one signed timestamp.
func TestSigstoreBundle(t *testing.T) {
	a, err := tsa.New(tsa.Config{Dir: t.TempDir()}) // the real clock: sigstore-go checks the key's validity then
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := serve(t, a)
	keypair, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatalf("NewEphemeralKeypair: %v", err)
	}
	content := &sign.PlainData{Data: []byte("blob signed with a hallmark timestamp")}
	pb, err := sign.Bundle(content, keypair, sign.BundleOptions{
		Context: t.Context(),
		TimestampAuthorities: []*sign.TimestampAuthority{
			sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: srv.URL + "/api/v1/timestamp"}),
		},
	})
	if err != nil {
		t.Fatalf("sign.Bundle: %v", err)
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		t.Fatalf("NewBundle: %v", err)
	}
	sigVerifier, err := signature.LoadVerifier(keypair.GetPublicKey(), crypto.SHA256)
	if err != nil {
		t.Fatalf("LoadVerifier: %v", err)
	}
	key := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(sigVerifier, time.Time{}, time.Time{}), nil
	})
	policy := verify.NewPolicy(verify.WithArtifact(bytes.NewReader(content.Data)), verify.WithKey())

	t.Run("trusted", func(t *testing.T) {
		tr, _ := trustedRoot(t, a, srv.URL)
		v, err := verify.NewVerifier(root.TrustedMaterialCollection{tr, key}, verify.WithSignedTimestamps(1))
		if err != nil {
			t.Fatalf("NewVerifier: %v", err)
		}
		res, err := v.Verify(b, policy)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if len(res.VerifiedTimestamps) != 1 {
			t.Fatalf("verified timestamps: got %d, want 1", len(res.VerifiedTimestamps))
		}
		got := res.VerifiedTimestamps[0]
		if got.URI != srv.URL {
			t.Errorf("timestamp URI: got %q, want %q", got.URI, srv.URL)
		}
		if d := time.Since(got.Timestamp); d < 0 || d > time.Minute {
			t.Errorf("timestamp: got %v, %v ago; want within the last minute", got.Timestamp, d)
		}
	})
	t.Run("another TSA trusted", func(t *testing.T) {
		tr, _ := trustedRoot(t, newTSA(t), "https://other.test")
		v, err := verify.NewVerifier(root.TrustedMaterialCollection{tr, key}, verify.WithSignedTimestamps(1))
		if err != nil {
			t.Fatalf("NewVerifier: %v", err)
		}
		_, err = v.Verify(b, policy)
		if err == nil || !strings.Contains(err.Error(), "threshold not met") {
			t.Errorf("Verify: got %v, want the signed timestamp threshold not met", err)
		}
	})
}
