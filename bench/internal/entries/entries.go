// Package entries makes the log entries the log benchmarks append:
// signed hashedrekord v0.0.2 requests, as Rekor v2 clients send them, and
// the canonical entry body hallmark's log stores for each, so that bare
// tessera can be given the same bytes.
package entries

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"google.golang.org/protobuf/encoding/protojson"

	"hallmark.dev/tlog"
)

// Make signs n distinct artifacts with one ECDSA P-256 key and
// returns the CreateEntryRequest JSON of each and its canonical entry body.
func Make(n int) (reqs, bodies [][]byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, err
	}
	for i := range n {
		digest := sha256.Sum256(fmt.Appendf(nil, "artifact %d", i))
		sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return nil, nil, err
		}
		hr := &rekorpb.HashedRekordRequestV002{
			Digest: digest[:],
			Signature: &rekorpb.Signature{
				Content: sig,
				Verifier: &rekorpb.Verifier{
					KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
					Verifier:   &rekorpb.Verifier_PublicKey{PublicKey: &rekorpb.PublicKey{RawBytes: der}},
				},
			},
		}
		req, err := protojson.Marshal(&rekorpb.CreateEntryRequest{Spec: &rekorpb.CreateEntryRequest_HashedRekordRequestV002{HashedRekordRequestV002: hr}})
		if err != nil {
			return nil, nil, err
		}
		body, err := canonicalBody(hr)
		if err != nil {
			return nil, nil, err
		}
		reqs = append(reqs, req)
		bodies = append(bodies, body)
	}
	return reqs, bodies, nil
}

// canonicalBody is the entry hallmark logs for hr, so that both systems
// store the same bytes.
func canonicalBody(hr *rekorpb.HashedRekordRequestV002) ([]byte, error) {
	entry := &rekorpb.Entry{
		Kind:       "hashedrekord",
		ApiVersion: "0.0.2",
		Spec: &rekorpb.Spec{Spec: &rekorpb.Spec_HashedRekordV002{HashedRekordV002: &rekorpb.HashedRekordLogEntryV002{
			Signature: hr.Signature,
			Data:      &protocommon.HashOutput{Digest: hr.Digest, Algorithm: protocommon.HashAlgorithm_SHA2_256},
		}}},
	}
	j, err := protojson.Marshal(entry)
	if err != nil {
		return nil, err
	}
	body, err := jsoncanonicalizer.Transform(j)
	if err != nil {
		return nil, err
	}
	// Check against sigstore-go's reconstruction, so the comparison is fair.
	want, err := hashedrekord.ToEntryHash(hr.Digest, hr.Signature)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(tlog.LeafHash(body), want) {
		return nil, errors.New("benchmark entry body differs from hallmark's")
	}
	return body, nil
}
