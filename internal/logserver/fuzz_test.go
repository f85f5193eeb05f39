package logserver

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"testing"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"google.golang.org/protobuf/encoding/protojson"

	"hallmark.dev/tlog"
)

// seedRequest returns a valid CreateEntryRequest JSON.
func seedRequest(f *testing.F) []byte {
	f.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatalf("GenerateKey: %v", err)
	}
	digest := sha256.Sum256([]byte("seed"))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		f.Fatalf("Sign: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		f.Fatalf("MarshalPKIXPublicKey: %v", err)
	}
	b, err := protojson.Marshal(&rekorpb.CreateEntryRequest{Spec: &rekorpb.CreateEntryRequest_HashedRekordRequestV002{
		HashedRekordRequestV002: &rekorpb.HashedRekordRequestV002{
			Digest: digest[:],
			Signature: &rekorpb.Signature{
				Content: sig,
				Verifier: &rekorpb.Verifier{
					KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
					Verifier:   &rekorpb.Verifier_PublicKey{PublicKey: &rekorpb.PublicKey{RawBytes: der}},
				},
			},
		},
	}})
	if err != nil {
		f.Fatalf("marshaling request: %v", err)
	}
	return b
}

// FuzzCanonicalEntry feeds arbitrary request JSON to the entry validator.
// It must never panic; whatever it accepts must be the body sigstore-go
// rebuilds from the same signature, key and digest, and the same request
// must always give the same body.
func FuzzCanonicalEntry(f *testing.F) {
	f.Add(seedRequest(f))
	f.Add([]byte(`{"hashedRekordRequestV002":{"digest":"AAAA","signature":{"content":"AAAA","verifier":{"keyDetails":"PKIX_ED25519","publicKey":{"rawBytes":"AAAA"}}}}}`))
	f.Add([]byte(`{"hashedRekordRequestV002":{"signature":{"verifier":{"x509Certificate":{"rawBytes":"MAA="}}}}}`))
	f.Add([]byte(`{"dsseRequestV002":{}}`))
	f.Add([]byte(`{}`))
	algs, err := newAlgorithmRegistry()
	if err != nil {
		f.Fatalf("newAlgorithmRegistry: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &rekorpb.CreateEntryRequest{}
		if protojson.Unmarshal(data, req) != nil {
			return
		}
		body, err := canonicalEntry(req, algs)
		if err != nil {
			if !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("error %v does not wrap ErrInvalidEntry", err)
			}
			return
		}
		hr := req.GetHashedRekordRequestV002()
		want, err := hashedrekord.ToEntryHash(hr.GetDigest(), hr.GetSignature())
		if err != nil {
			t.Fatalf("accepted entry, but sigstore-go's reconstruction fails: %v", err)
		}
		if got := tlog.LeafHash(body); !bytes.Equal(got, want) {
			t.Fatalf("leaf %x, sigstore-go rebuilds %x", got, want)
		}
		again, err := canonicalEntry(req, algs)
		if err != nil || !bytes.Equal(again, body) {
			t.Fatalf("second canonicalization: %q, %v; first %q", again, err, body)
		}
		var entry rekorpb.Entry
		if err := protojson.Unmarshal(body, &entry); err != nil || entry.GetKind() != entryKind || entry.GetApiVersion() != entryVersion {
			t.Fatalf("body %q does not parse as a %s %s entry: %v", body, entryKind, entryVersion, err)
		}
	})
}
