package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"unicode/utf8"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"hallmark.dev/internal/identity"
)

// checkKey accepts the public keys Fulcio's certificate specification
// allows: ECDSA P-256, P-384, P-521; RSA of 2048 to 4096 bits in steps of
// 8 with exponent 65537; Ed25519.
func checkKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits < 2048 || bits > 4096 || bits%8 != 0 {
			return fmt.Errorf("unsupported RSA key size %d (want 2048 to 4096, a multiple of 8)", bits)
		}
		if k.E != 65537 {
			return fmt.Errorf("unsupported RSA public exponent %d (want 65537)", k.E)
		}
		return nil
	case ed25519.PublicKey:
		return nil
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
}

// checkProof verifies proof, the client's signature over challenge with
// the key it wants certified, as Sigstore clients make it: ECDSA over the
// curve's hash (SHA-256 also accepted), RSA PKCS #1 v1.5 or PSS over
// SHA-256, pure Ed25519.
func checkProof(pub crypto.PublicKey, challenge string, proof []byte) error {
	msg := []byte(challenge)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		hashes := []crypto.Hash{crypto.SHA256}
		switch k.Curve {
		case elliptic.P384():
			hashes = append([]crypto.Hash{crypto.SHA384}, hashes...)
		case elliptic.P521():
			hashes = append([]crypto.Hash{crypto.SHA512}, hashes...)
		}
		for _, h := range hashes {
			if ecdsa.VerifyASN1(k, digest(h, msg), proof) {
				return nil
			}
		}
	case *rsa.PublicKey:
		d := digest(crypto.SHA256, msg)
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, d, proof) == nil {
			return nil
		}
		if rsa.VerifyPSS(k, crypto.SHA256, d, proof, nil) == nil {
			return nil
		}
	case ed25519.PublicKey:
		if ed25519.Verify(k, msg, proof) {
			return nil
		}
	}
	return errors.New("signature does not verify with the submitted public key")
}

func digest(h crypto.Hash, msg []byte) []byte {
	w := h.New()
	w.Write(msg)
	return w.Sum(nil)
}

// leafTemplate builds the certificate for p's key pub, valid from now for
// c.validity.
func (c *CA) leafTemplate(p *identity.Principal, pub crypto.PublicKey) (*x509.Certificate, error) {
	now := c.now()
	notAfter := now.Add(c.validity)
	if now.Before(c.intermediate.NotBefore) || notAfter.After(c.intermediate.NotAfter) {
		return nil, fmt.Errorf("intermediate certificate (valid %s to %s) does not cover %s to %s",
			c.intermediate.NotBefore.UTC(), c.intermediate.NotAfter.UTC(), now.UTC(), notAfter.UTC())
	}
	exts, err := fulcioExtensions(p)
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		SubjectKeyId:          skid,
		ExtraExtensions:       exts,
		// Subject stays empty, which makes crypto/x509 mark the SAN
		// extension critical (RFC 5280 4.2.1.6).
	}
	if !isPrintableASCII(p.Subject) {
		return nil, fmt.Errorf("subject %q is not printable ASCII", p.Subject)
	}
	switch p.SANType {
	case identity.SANEmail:
		tmpl.EmailAddresses = []string{p.Subject}
	case identity.SANURI:
		u, err := url.Parse(p.Subject)
		if err != nil || u.String() != p.Subject || u.Scheme == "" {
			return nil, fmt.Errorf("subject %q is not a URI that encodes as itself", p.Subject)
		}
		tmpl.URIs = []*url.URL{u}
	default:
		return nil, fmt.Errorf("unknown SAN type %q", p.SANType)
	}
	return tmpl, nil
}

// fulcioExtensions encodes p's Fulcio extensions as docs/oid-info.md
// says: 1.1.1 to 1.1.6 as the raw string bytes, 1.1.8 onwards as DER
// UTF8String; empty values are left out.
func fulcioExtensions(p *identity.Principal) ([]pkix.Extension, error) {
	e := p.Extensions
	switch {
	case e.Issuer == "":
		e.Issuer = p.Issuer
	case p.Issuer != "" && p.Issuer != e.Issuer:
		return nil, fmt.Errorf("principal issuer %q differs from its issuer extension %q", p.Issuer, e.Issuer)
	}
	if e.Issuer == "" {
		return nil, errors.New("principal has no issuer")
	}
	raw := []struct {
		oid asn1.ObjectIdentifier
		v   string
	}{
		{certificate.OIDIssuer, e.Issuer},
		{certificate.OIDGitHubWorkflowTrigger, e.GithubWorkflowTrigger},
		{certificate.OIDGitHubWorkflowSHA, e.GithubWorkflowSHA},
		{certificate.OIDGitHubWorkflowName, e.GithubWorkflowName},
		{certificate.OIDGitHubWorkflowRepository, e.GithubWorkflowRepository},
		{certificate.OIDGitHubWorkflowRef, e.GithubWorkflowRef},
	}
	der := []struct {
		oid asn1.ObjectIdentifier
		v   string
	}{
		{certificate.OIDIssuerV2, e.Issuer},
		{certificate.OIDBuildSignerURI, e.BuildSignerURI},
		{certificate.OIDBuildSignerDigest, e.BuildSignerDigest},
		{certificate.OIDRunnerEnvironment, e.RunnerEnvironment},
		{certificate.OIDSourceRepositoryURI, e.SourceRepositoryURI},
		{certificate.OIDSourceRepositoryDigest, e.SourceRepositoryDigest},
		{certificate.OIDSourceRepositoryRef, e.SourceRepositoryRef},
		{certificate.OIDSourceRepositoryIdentifier, e.SourceRepositoryIdentifier},
		{certificate.OIDSourceRepositoryOwnerURI, e.SourceRepositoryOwnerURI},
		{certificate.OIDSourceRepositoryOwnerIdentifier, e.SourceRepositoryOwnerIdentifier},
		{certificate.OIDBuildConfigURI, e.BuildConfigURI},
		{certificate.OIDBuildConfigDigest, e.BuildConfigDigest},
		{certificate.OIDBuildTrigger, e.BuildTrigger},
		{certificate.OIDRunInvocationURI, e.RunInvocationURI},
		{certificate.OIDSourceRepositoryVisibilityAtSigning, e.SourceRepositoryVisibilityAtSigning},
	}
	var out []pkix.Extension
	for _, x := range raw {
		if x.v == "" {
			continue
		}
		if !utf8.ValidString(x.v) {
			return nil, fmt.Errorf("extension %s: not UTF-8", x.oid)
		}
		out = append(out, pkix.Extension{Id: x.oid, Value: []byte(x.v)})
	}
	for _, x := range der {
		if x.v == "" {
			continue
		}
		v, err := asn1.MarshalWithParams(x.v, "utf8")
		if err != nil {
			return nil, fmt.Errorf("extension %s: %w", x.oid, err)
		}
		out = append(out, pkix.Extension{Id: x.oid, Value: v})
	}
	return out, nil
}

// subjectKeyID is the leftmost 160 bits of the SHA-256 of the
// subjectPublicKey bits (RFC 7093 section 2, method 1).
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("decoding public key: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}

// newSerial returns a random positive serial of at most 20 octets (RFC
// 5280 4.1.2.2): 159 random bits.
func newSerial() (*big.Int, error) {
	b := make([]byte, 20)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
		b[0] &= 0x7f
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}

func isPrintableASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
