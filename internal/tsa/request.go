package tsa

import (
	"bytes"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
)

// Object identifiers of the hash algorithms of RFC 5754 §2 and of SHA-1.
var (
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// MaxNonceBits is the largest nonce, in bits of its absolute value, the
// TSA accepts; a request with a larger one is refused with badDataFormat.
// RFC 3161 §2.4.1 sets no bound on the nonce INTEGER, but the TSA echoes it
// into every token it signs, so an unbounded one makes each request a
// signed answer as large as the body allows. Clients send 64 bits (OpenSSL's
// "ts -query"), 159 bits (cosign, sigstore's timestamp-authority client)
// or 32 random bytes (.NET signing tools); 256 bits covers them all.
// Neither sigstore's timestamp-authority nor digitorus/timestamp bounds the
// nonce itself: the former bounds only the whole JSON request (1 KiB).
const MaxNonceBits = 256

// policyOID is the TSA policy under which every token is issued (see the
// package documentation).
var policyOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}

// timeStampReq is TimeStampReq of RFC 3161 §2.4.1.
type timeStampReq struct {
	Version        int
	MessageImprint asn1.RawValue
	ReqPolicy      asn1.ObjectIdentifier `asn1:"optional"`
	Nonce          *big.Int              `asn1:"optional"`
	CertReq        bool                  `asn1:"optional,default:false"`
	Extensions     []pkix.Extension      `asn1:"optional,tag:0"`
}

// messageImprint is MessageImprint of RFC 3161 §2.4.1.
type messageImprint struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	HashedMessage []byte
}

// request is a parsed TimeStampReq, not yet checked against what the TSA
// supports.
type request struct {
	version    int
	imprint    []byte // the MessageImprint's DER, echoed into the TSTInfo
	hashOID    asn1.ObjectIdentifier
	hashParams asn1.RawValue
	digest     []byte
	policy     asn1.ObjectIdentifier
	nonce      *big.Int
	certReq    bool
	extensions int
}

// parseRequest parses a DER TimeStampReq. It refuses, with badDataFormat,
// bytes that are not one.
func parseRequest(der []byte) (*request, *refusal) {
	var req timeStampReq
	rest, err := asn1.Unmarshal(der, &req)
	if err != nil {
		return nil, malformed("request is not a DER TimeStampReq: %v", err)
	}
	if len(rest) > 0 {
		return nil, malformed("request has %d bytes of trailing data", len(rest))
	}
	var mi messageImprint
	rest, err = asn1.Unmarshal(req.MessageImprint.FullBytes, &mi)
	if err != nil {
		return nil, malformed("request's messageImprint is not a MessageImprint: %v", err)
	}
	if len(rest) > 0 {
		// Unreachable: the RawValue holds exactly one element.
		return nil, malformed("request's messageImprint has trailing data")
	}
	return &request{
		version:    req.Version,
		imprint:    req.MessageImprint.FullBytes,
		hashOID:    mi.HashAlgorithm.Algorithm,
		hashParams: mi.HashAlgorithm.Parameters,
		digest:     mi.HashedMessage,
		policy:     req.ReqPolicy,
		nonce:      req.Nonce,
		certReq:    req.CertReq,
		extensions: len(req.Extensions),
	}, nil
}

// check refuses a request this TSA does not serve.
func (r *request) check() *refusal {
	if r.version != 1 {
		return refuse(failBadDataFormat, "request version is %d, want 1", r.version)
	}
	h, ok := hashForOID(r.hashOID)
	if !ok {
		if r.hashOID.Equal(oidSHA1) {
			return refuse(failBadAlg, "hash algorithm sha-1 is too weak; use sha-256, sha-384 or sha-512")
		}
		return refuse(failBadAlg, "unsupported hash algorithm %s; use sha-256, sha-384 or sha-512", r.hashOID)
	}
	if !absentOrNull(r.hashParams) {
		return refuse(failBadAlg, "hash algorithm %s has parameters", r.hashOID)
	}
	if len(r.digest) != h.Size() {
		return refuse(failBadDataFormat, "hashed message is %d bytes, want %d for %s", len(r.digest), h.Size(), h)
	}
	if len(r.policy) > 0 && !r.policy.Equal(policyOID) {
		return refuse(failUnacceptedPolicy, "unsupported policy %s; this TSA issues under %s", r.policy, policyOID)
	}
	if r.nonce != nil && r.nonce.BitLen() > MaxNonceBits {
		return refuse(failBadDataFormat, "nonce is %d bits, over the %d this TSA accepts", r.nonce.BitLen(), MaxNonceBits)
	}
	if r.extensions > 0 {
		return refuse(failUnacceptedExtension, "request has extensions; this TSA supports none")
	}
	return nil
}

// hashForOID returns the hash algorithm a message imprint may use.
func hashForOID(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256, true
	case oid.Equal(oidSHA384):
		return crypto.SHA384, true
	case oid.Equal(oidSHA512):
		return crypto.SHA512, true
	}
	return 0, false
}

// oidForHash is the inverse of hashForOID.
func oidForHash(h crypto.Hash) (asn1.ObjectIdentifier, bool) {
	switch h {
	case crypto.SHA256:
		return oidSHA256, true
	case crypto.SHA384:
		return oidSHA384, true
	case crypto.SHA512:
		return oidSHA512, true
	}
	return nil, false
}

// absentOrNull reports whether the parameters of an AlgorithmIdentifier
// are absent or NULL, the two encodings RFC 5754 §2 allows for SHA-2.
func absentOrNull(params asn1.RawValue) bool {
	return len(params.FullBytes) == 0 || bytes.Equal(params.FullBytes, asn1.NullBytes)
}

// newImprintRequest returns the request for digest under the hash
// algorithm oid, as if it had come as a DER TimeStampReq.
func newImprintRequest(oid asn1.ObjectIdentifier, digest []byte, nonce *big.Int, certReq bool, policy asn1.ObjectIdentifier) (*request, error) {
	imprint, err := asn1.Marshal(messageImprint{
		HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.NullRawValue},
		HashedMessage: digest,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the message imprint: %v", err)
	}
	return &request{
		version:    1,
		imprint:    imprint,
		hashOID:    oid,
		hashParams: asn1.RawValue{FullBytes: asn1.NullBytes},
		digest:     digest,
		policy:     policy,
		nonce:      nonce,
		certReq:    certReq,
	}, nil
}
