package logserver

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorv1 "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/tessera"
	"google.golang.org/protobuf/encoding/protojson"
)

// The kind and version of every entry this log holds.
const (
	entryKind    = "hashedrekord"
	entryVersion = "0.0.2"
)

// clientSigningAlgorithms are the entry signing algorithms accepted, the
// default list of rekor-tiles v2.3.0.
var clientSigningAlgorithms = []protocommon.PublicKeyDetails{
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512,
	protocommon.PublicKeyDetails_PKIX_ED25519,
	protocommon.PublicKeyDetails_PKIX_ED25519_PH,
}

func newAlgorithmRegistry() (*signature.AlgorithmRegistryConfig, error) {
	return signature.NewAlgorithmRegistryConfig(clientSigningAlgorithms)
}

// kindVersion is the TransparencyLogEntry's kindVersion of every entry.
func kindVersion() *rekorv1.KindVersion {
	return &rekorv1.KindVersion{Kind: entryKind, Version: entryVersion}
}

// canonicalEntry validates a request as rekor-tiles v2.3.0 does and
// returns the entry's canonical body, the leaf the log stores: the JCS
// (RFC 8785) form of the protojson of the hashedrekord v0.0.2 Entry. The
// request is a *rekorpb.CreateEntryRequest or a
// *rekorpb.HashedRekordRequestV002. Errors wrap ErrInvalidEntry.
func canonicalEntry(req any, algs *signature.AlgorithmRegistryConfig) ([]byte, error) {
	var hr *rekorpb.HashedRekordRequestV002
	switch r := req.(type) {
	case *rekorpb.HashedRekordRequestV002:
		hr = r
	case *rekorpb.CreateEntryRequest:
		switch spec := r.GetSpec().(type) {
		case *rekorpb.CreateEntryRequest_HashedRekordRequestV002:
			hr = spec.HashedRekordRequestV002
		case *rekorpb.CreateEntryRequest_DsseRequestV002:
			return nil, fmt.Errorf("%w: dsse entries are not accepted; like Rekor v2, this log takes hashedrekord v0.0.2 only (sign a DSSE envelope as a hashedrekord over its PAE digest)", ErrInvalidEntry)
		case nil:
			return nil, fmt.Errorf("%w: the request has no entry", ErrInvalidEntry)
		default:
			return nil, fmt.Errorf("%w: unsupported entry type %T", ErrInvalidEntry, spec)
		}
	default:
		return nil, fmt.Errorf("%w: unsupported request type %T", ErrInvalidEntry, req)
	}
	if hr == nil {
		return nil, fmt.Errorf("%w: the request has no entry", ErrInvalidEntry)
	}
	entry, err := hashedrekord.ToLogEntry(hr, algs)
	if err != nil {
		return nil, fmt.Errorf("%w: hashedrekord: %v", ErrInvalidEntry, err)
	}
	if body, ok := appendCanonical(nil, entry); ok {
		if len(body) > tessera.DefaultEntrySizeLimit {
			return nil, fmt.Errorf("%w: the entry is %d bytes, the log takes at most %d", ErrInvalidEntry, len(body), tessera.DefaultEntrySizeLimit)
		}
		return body, nil
	}
	serialized, err := protojson.Marshal(entry)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding the entry: %v", ErrInvalidEntry, strings.TrimPrefix(err.Error(), "proto: "))
	}
	body, err := jsoncanonicalizer.Transform(serialized)
	if err != nil {
		return nil, fmt.Errorf("%w: canonicalizing the entry: %v", ErrInvalidEntry, err)
	}
	if len(body) > tessera.DefaultEntrySizeLimit {
		return nil, fmt.Errorf("%w: the entry is %d bytes, the log takes at most %d", ErrInvalidEntry, len(body), tessera.DefaultEntrySizeLimit)
	}
	return body, nil
}

// appendCanonical appends the JCS form of the protojson of a hashedrekord
// v0.0.2 entry, written directly: what protojson.Marshal and the
// canonicaliser make of it (keys sorted, bytes in padded standard base64,
// enums by name, no white space), without either. It handles the entries
// ToLogEntry builds from a valid request: every field set, enums known, a
// public key or a certificate; for any other it reports false and the
// caller takes the general path. FuzzCanonicalEntry holds its output to
// sigstore-go's reconstruction (protojson and the canonicaliser).
func appendCanonical(b []byte, e *rekorpb.Entry) ([]byte, bool) {
	spec := e.GetSpec().GetHashedRekordV002()
	data, sig := spec.GetData(), spec.GetSignature()
	v := sig.GetVerifier()
	alg, algKnown := protocommon.HashAlgorithm_name[int32(data.GetAlgorithm())]
	details, detailsKnown := protocommon.PublicKeyDetails_name[int32(v.GetKeyDetails())]
	var keyField string
	var key []byte
	switch vv := v.GetVerifier().(type) {
	case *rekorpb.Verifier_PublicKey:
		keyField, key = "publicKey", vv.PublicKey.GetRawBytes()
	case *rekorpb.Verifier_X509Certificate:
		keyField, key = "x509Certificate", vv.X509Certificate.GetRawBytes()
	}
	if e.GetKind() != entryKind || e.GetApiVersion() != entryVersion || spec == nil ||
		!algKnown || data.GetAlgorithm() == 0 || len(data.GetDigest()) == 0 ||
		len(sig.GetContent()) == 0 || !detailsKnown || v.GetKeyDetails() == 0 || len(key) == 0 {
		return b, false
	}
	b = append(b, `{"apiVersion":"`+entryVersion+`","kind":"`+entryKind+`","spec":{"hashedRekordV002":{"data":{"algorithm":"`...)
	b = append(b, alg...)
	b = append(b, `","digest":"`...)
	b = base64.StdEncoding.AppendEncode(b, data.GetDigest())
	b = append(b, `"},"signature":{"content":"`...)
	b = base64.StdEncoding.AppendEncode(b, sig.GetContent())
	b = append(b, `","verifier":{"keyDetails":"`...)
	b = append(b, details...)
	b = append(b, `","`...)
	b = append(b, keyField...)
	b = append(b, `":{"rawBytes":"`...)
	b = base64.StdEncoding.AppendEncode(b, key)
	b = append(b, `"}}}}}}`...)
	return b, true
}
