package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"

	"hallmark.dev/oci"
)

// legacyBundle turns a signature in cosign's legacy layout into the
// Sigstore bundle it is equivalent to, so that one verifier checks both: a
// message signature over the payload, with the certificate and chain from
// the layer annotations (or the trusted key when there is none), the Rekor
// entry from dev.sigstore.cosign/bundle as a log entry with an inclusion
// promise, and the RFC 3161 timestamp from
// dev.sigstore.cosign/rfc3161timestamp. Nothing here is trusted: it is only
// re-encoded for the verifier.
func legacyBundle(l *oci.Legacy) (*bundle.Bundle, error) {
	if l.DSSE {
		return nil, errors.New("a legacy attestation is not an image signature")
	}
	sig, err := base64.StdEncoding.DecodeString(l.Signature)
	if err != nil || len(sig) == 0 {
		return nil, errors.New("signature annotation is missing or not base64")
	}
	sum := sha256.Sum256(l.Payload)
	vm, err := legacyMaterial(l)
	if err != nil {
		return nil, err
	}
	pb := &protobundle.Bundle{
		// v0.1 allows a certificate chain and an inclusion promise
		// without an inclusion proof, as legacy signatures have them.
		MediaType:            "application/vnd.dev.sigstore.bundle+json;version=0.1",
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]},
			Signature:     sig,
		}},
	}
	return bundle.NewBundle(pb)
}

// legacyAttestationBundle turns a DSSE envelope from cosign's legacy ".att"
// layout, with its layer annotations, into the equivalent bundle (JSON).
func legacyAttestationBundle(l *oci.Legacy) ([]byte, error) {
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   []byte `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(l.Payload, &env); err != nil {
		return nil, fmt.Errorf("DSSE envelope is not valid JSON: %w", err)
	}
	if len(env.Signatures) == 0 {
		return nil, errors.New("DSSE envelope has no signature")
	}
	vm, err := legacyMaterial(l)
	if err != nil {
		return nil, err
	}
	de := &protodsse.Envelope{Payload: env.Payload, PayloadType: env.PayloadType}
	for _, s := range env.Signatures {
		de.Signatures = append(de.Signatures, &protodsse.Signature{Sig: s.Sig, Keyid: s.KeyID})
	}
	pb := &protobundle.Bundle{
		MediaType:            "application/vnd.dev.sigstore.bundle+json;version=0.1",
		VerificationMaterial: vm,
		Content:              &protobundle.Bundle_DsseEnvelope{DsseEnvelope: de},
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, err
	}
	return b.MarshalJSON()
}

// legacyMaterial is the verification material of a legacy layer: its
// certificate and chain (or the trusted key when none), Rekor bundle and
// RFC 3161 timestamp annotations.
func legacyMaterial(l *oci.Legacy) (*protobundle.VerificationMaterial, error) {
	vm := &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{}},
	}
	if len(l.Certificate) > 0 {
		certs, err := pemCertificates(l.Certificate)
		if err != nil {
			return nil, fmt.Errorf("certificate annotation: %w", err)
		}
		if len(certs) != 1 {
			return nil, fmt.Errorf("certificate annotation holds %d PEM certificates, want 1", len(certs))
		}
		chain, err := pemCertificates(l.Chain)
		if err != nil {
			return nil, fmt.Errorf("chain annotation: %w", err)
		}
		pc := &protocommon.X509CertificateChain{}
		for _, c := range append(certs, chain...) {
			pc.Certificates = append(pc.Certificates, &protocommon.X509Certificate{RawBytes: c})
		}
		vm.Content = &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: pc}
	}
	if len(l.RekorBundle) > 0 {
		tle, err := legacyLogEntry(l.RekorBundle)
		if err != nil {
			return nil, fmt.Errorf("rekor bundle annotation: %w", err)
		}
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{tle}
	}
	if len(l.RFC3161Timestamp) > 0 {
		var ts struct {
			SignedRFC3161Timestamp []byte `json:"SignedRFC3161Timestamp"`
		}
		if err := json.Unmarshal(l.RFC3161Timestamp, &ts); err != nil || len(ts.SignedRFC3161Timestamp) == 0 {
			return nil, errors.New("rfc3161 timestamp annotation is malformed")
		}
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts.SignedRFC3161Timestamp}},
		}
	}
	return vm, nil
}

// legacyLogEntry converts cosign's Rekor bundle annotation
// ({"SignedEntryTimestamp": base64, "Payload": {"body", "integratedTime",
// "logIndex", "logID"}}) to a transparency log entry.
func legacyLogEntry(data []byte) (*protorekor.TransparencyLogEntry, error) {
	var rb struct {
		SignedEntryTimestamp []byte `json:"SignedEntryTimestamp"`
		Payload              struct {
			Body           []byte `json:"body"`
			IntegratedTime int64  `json:"integratedTime"`
			LogIndex       int64  `json:"logIndex"`
			LogID          string `json:"logID"`
		} `json:"Payload"`
	}
	if err := json.Unmarshal(data, &rb); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil || len(logID) == 0 {
		return nil, errors.New("logID is not hex")
	}
	var body struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(rb.Payload.Body, &body); err != nil || body.Kind == "" || body.APIVersion == "" {
		return nil, errors.New("entry body has no kind and apiVersion")
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:          rb.Payload.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &protorekor.KindVersion{Kind: body.Kind, Version: body.APIVersion},
		IntegratedTime:    rb.Payload.IntegratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: rb.SignedEntryTimestamp},
		CanonicalizedBody: rb.Payload.Body,
	}, nil
}

func pemCertificates(data []byte) ([][]byte, error) {
	var out [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q is not a certificate", b.Type)
		}
		out = append(out, b.Bytes)
	}
	return out, nil
}
