package monitor

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/crypto/cryptobyte"
	"google.golang.org/protobuf/encoding/protojson"
)

// signer is who made an entry: a certificate, or a bare public key.
type signer struct {
	cert *x509.Certificate
	// fingerprints are hex SHA-256 of the DER certificate (if any) and of
	// the DER public key.
	fingerprints []string
	sans         []string
	issuer       string
}

// decoded is what the monitor reads from an entry.
type decoded struct {
	signers []signer
	digest  string    // the artifact digest, "sha256:<hex>", when the entry names one
	time    time.Time // the CT entry's timestamp, else the certificate's NotBefore
}

func newCertSigner(c *x509.Certificate) signer {
	cs := sha256.Sum256(c.Raw)
	ks := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	s := signer{cert: c, fingerprints: []string{hex.EncodeToString(cs[:]), hex.EncodeToString(ks[:])}}
	s.sans = cryptoutils.GetSubjectAlternateNames(c)
	s.issuer = extensionValue(c, certificate.OIDIssuerV2)
	if s.issuer == "" {
		s.issuer = extensionValue(c, certificate.OIDIssuer)
	}
	return s
}

// extensionValue returns a certificate extension's value: a DER string
// (Fulcio's extensions from 1.3.6.1.4.1.57264.1.8 on) or else the raw bytes
// (the deprecated ones), as rekor-monitor reads them.
func extensionValue(c *x509.Certificate, oid asn1.ObjectIdentifier) string {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oid) {
			continue
		}
		var s string
		if rest, err := asn1.Unmarshal(e.Value, &s); err == nil && len(rest) == 0 {
			return s
		}
		return string(e.Value)
	}
	return ""
}

// decodeRekorEntry reads a Rekor v2 entry (the canonical protojson Entry,
// hashedrekord or dsse v0.0.2) as logged in hallmark's transparency log.
func decodeRekorEntry(body []byte) (*decoded, error) {
	var e rekorpb.Entry
	if err := protojson.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("not a Rekor v2 entry: %v", err)
	}
	var (
		verifiers []*rekorpb.Verifier
		digest    *protocommon.HashOutput
	)
	switch e.GetKind() {
	case "hashedrekord":
		hr := e.GetSpec().GetHashedRekordV002()
		if hr == nil {
			return nil, errors.New("hashedrekord entry without a v0.0.2 spec")
		}
		verifiers = append(verifiers, hr.GetSignature().GetVerifier())
		digest = hr.GetData()
	case "dsse":
		d := e.GetSpec().GetDsseV002()
		if d == nil {
			return nil, errors.New("dsse entry without a v0.0.2 spec")
		}
		for _, s := range d.GetSignatures() {
			verifiers = append(verifiers, s.GetVerifier())
		}
		digest = d.GetPayloadHash()
	default:
		return nil, fmt.Errorf("entry kind %q", e.GetKind())
	}
	out := &decoded{}
	if len(digest.GetDigest()) > 0 {
		out.digest = digestName(digest.GetAlgorithm()) + ":" + hex.EncodeToString(digest.GetDigest())
	}
	for _, v := range verifiers {
		switch {
		case v.GetX509Certificate() != nil:
			c, err := x509.ParseCertificate(v.GetX509Certificate().GetRawBytes())
			if err != nil {
				return nil, fmt.Errorf("entry certificate: %v", err)
			}
			out.signers = append(out.signers, newCertSigner(c))
			if out.time.IsZero() {
				out.time = c.NotBefore.UTC()
			}
		case v.GetPublicKey() != nil:
			der := v.GetPublicKey().GetRawBytes()
			if _, err := x509.ParsePKIXPublicKey(der); err != nil {
				return nil, fmt.Errorf("entry public key: %v", err)
			}
			sum := sha256.Sum256(der)
			out.signers = append(out.signers, signer{fingerprints: []string{hex.EncodeToString(sum[:])}})
		default:
			return nil, errors.New("entry verifier is neither a certificate nor a public key")
		}
	}
	if len(out.signers) == 0 {
		return nil, errors.New("entry has no verifier")
	}
	return out, nil
}

// digestName names a hash as OCI digests do.
func digestName(h protocommon.HashAlgorithm) string {
	switch h {
	case protocommon.HashAlgorithm_SHA2_256:
		return "sha256"
	case protocommon.HashAlgorithm_SHA2_384:
		return "sha384"
	case protocommon.HashAlgorithm_SHA2_512:
		return "sha512"
	default:
		return strings.ToLower(h.String())
	}
}

// ctLeaf is one entry of a static-ct-api data tile.
type ctLeaf struct {
	// leaf is the RFC 6962 MerkleTreeLeaf the tree commits to.
	leaf []byte
	// timestamp is the entry's time, in milliseconds.
	timestamp uint64
	// cert is the logged certificate, or the precertificate as submitted.
	cert []byte
}

// parseDataTile splits a static-ct-api data tile into its TileLeaf
// entries.
func parseDataTile(data []byte) ([]ctLeaf, error) {
	var out []ctLeaf
	s := cryptobyte.String(data)
	for !s.Empty() {
		start := s
		var (
			l         ctLeaf
			entryType uint16
			cert, ext cryptobyte.String
		)
		if !s.ReadUint64(&l.timestamp) || !s.ReadUint16(&entryType) {
			return out, fmt.Errorf("entry %d: truncated", len(out))
		}
		switch entryType {
		case 0: // x509_entry
			if !s.ReadUint24LengthPrefixed(&cert) {
				return out, fmt.Errorf("entry %d: truncated certificate", len(out))
			}
			l.cert = cert
		case 1: // precert_entry
			var tbs cryptobyte.String
			if !s.Skip(sha256.Size) || !s.ReadUint24LengthPrefixed(&tbs) {
				return out, fmt.Errorf("entry %d: truncated precertificate entry", len(out))
			}
		default:
			return out, fmt.Errorf("entry %d: unknown entry type %d", len(out), entryType)
		}
		if !s.ReadUint16LengthPrefixed(&ext) {
			return out, fmt.Errorf("entry %d: truncated extensions", len(out))
		}
		// The timestamped entry ends here: the leaf is version and leaf
		// type (both 0) and that.
		timestamped := start[:len(start)-len(s)]
		l.leaf = append([]byte{0, 0}, timestamped...)
		if entryType == 1 {
			var pre cryptobyte.String
			if !s.ReadUint24LengthPrefixed(&pre) {
				return out, fmt.Errorf("entry %d: truncated precertificate", len(out))
			}
			l.cert = pre
		}
		var chain cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&chain) || len(chain)%sha256.Size != 0 {
			return out, fmt.Errorf("entry %d: malformed chain fingerprints", len(out))
		}
		out = append(out, l)
	}
	return out, nil
}

// decodeCTLeaf reads the certificate of a CT entry.
func decodeCTLeaf(l ctLeaf) (*decoded, error) {
	c, err := x509.ParseCertificate(l.cert)
	if err != nil {
		return nil, fmt.Errorf("ct entry certificate: %v", err)
	}
	return &decoded{signers: []signer{newCertSigner(c)}, time: time.UnixMilli(int64(l.timestamp)).UTC()}, nil
}

// match reports the monitored values s matches, with the identity each
// matched on.
func (m *matcher) match(s signer) (bool, string) {
	switch m.kind {
	case "certIdentity", "subject":
		if s.cert == nil {
			return false, ""
		}
		if m.kind == "certIdentity" {
			if s.issuer == "" {
				return false, ""
			}
			if len(m.issuers) > 0 {
				ok := false
				for _, re := range m.issuers {
					ok = ok || re.MatchString(s.issuer)
				}
				if !ok {
					return false, ""
				}
			}
		}
		for _, san := range s.sans {
			if m.subject.MatchString(san) {
				return true, san
			}
		}
	case "fingerprint":
		for _, fp := range s.fingerprints {
			if fp == m.fingerprint {
				return true, fp
			}
		}
	case "oidExtension":
		if s.cert == nil {
			return false, ""
		}
		for _, oid := range m.oids {
			if v := extensionValue(s.cert, oid); v != "" && m.values[v] {
				return true, v
			}
		}
	}
	return false, ""
}
