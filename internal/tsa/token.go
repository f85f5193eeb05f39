package tsa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers of CMS (RFC 5652), RFC 3161, ESS (RFC 5035) and ECDSA
// signatures (RFC 5758).
var (
	oidSignedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidECDSAWithSHA256      = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384      = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512      = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
)

// tagDirectoryName is the tag of GeneralName's directoryName (RFC 5280
// §4.2.1.6).
const tagDirectoryName = 4

// contextTag0 wraps DER content in a constructed [0] tag.
func contextTag0(content []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: content}
}

// issuerAndSerialNumber is IssuerAndSerialNumber of RFC 5652 §10.2.4.
type issuerAndSerialNumber struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

// attribute is Attribute of RFC 5652 §5.3.
type attribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// signingCertificateV2 is SigningCertificateV2 of RFC 5035 §3, as RFC 5816
// uses it, without policies.
type signingCertificateV2 struct {
	Certs []essCertIDv2
}

// essCertIDv2 is ESSCertIDv2 of RFC 5035 §4, with the default hash
// algorithm, SHA-256, and so no hashAlgorithm field.
type essCertIDv2 struct {
	CertHash     []byte
	IssuerSerial issuerSerial
}

// issuerSerial is IssuerSerial of RFC 5035 §4.
type issuerSerial struct {
	Issuer       []asn1.RawValue // GeneralNames
	SerialNumber *big.Int
}

// signatureAlgorithm is how the TSA's signer signs tokens.
type signatureAlgorithm struct {
	hash      crypto.Hash
	digestAlg pkix.AlgorithmIdentifier
	sigAlg    pkix.AlgorithmIdentifier
}

// signatureAlgorithmFor picks the signature algorithm for a signer's public
// key: ECDSA with the hash that matches the curve's strength.
func signatureAlgorithmFor(pub crypto.PublicKey) (signatureAlgorithm, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return signatureAlgorithm{}, fmt.Errorf("tsa: unsupported signing key type %T; want ECDSA", pub)
	}
	var h crypto.Hash
	var sig asn1.ObjectIdentifier
	switch k.Curve {
	case elliptic.P256():
		h, sig = crypto.SHA256, oidECDSAWithSHA256
	case elliptic.P384():
		h, sig = crypto.SHA384, oidECDSAWithSHA384
	case elliptic.P521():
		h, sig = crypto.SHA512, oidECDSAWithSHA512
	default:
		return signatureAlgorithm{}, fmt.Errorf("tsa: unsupported ECDSA curve %s", k.Curve.Params().Name)
	}
	// h is one of SHA-256/384/512 from the switch above, all of which
	// oidForHash knows, so the ok result is always true.
	digest, _ := oidForHash(h)
	return signatureAlgorithm{
		hash:      h,
		digestAlg: pkix.AlgorithmIdentifier{Algorithm: digest},
		sigAlg:    pkix.AlgorithmIdentifier{Algorithm: sig},
	}, nil
}

// precompute encodes the parts of a token that are the same for every
// request.
func (t *TSA) precompute() error {
	leaf := t.leaf
	directoryName := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tagDirectoryName, IsCompound: true, Bytes: leaf.RawSubject}
	name, err := asn1.Marshal(directoryName)
	if err != nil {
		return fmt.Errorf("tsa: encoding the tsa name: %w", err)
	}
	// tsa [0] GeneralName: GeneralName is a CHOICE, so the tag is explicit.
	if t.tsaName, err = asn1.Marshal(contextTag0(name)); err != nil {
		return fmt.Errorf("tsa: encoding the tsa name: %w", err)
	}

	var certs []byte
	for _, c := range t.chain {
		certs = append(certs, c.Raw...)
	}
	if t.certs, err = asn1.Marshal(contextTag0(certs)); err != nil {
		return fmt.Errorf("tsa: encoding the certificates: %w", err)
	}

	if t.sid, err = asn1.Marshal(issuerAndSerialNumber{
		Issuer:       asn1.RawValue{FullBytes: leaf.RawIssuer},
		SerialNumber: leaf.SerialNumber,
	}); err != nil {
		return fmt.Errorf("tsa: encoding the signer identifier: %w", err)
	}

	certHash := sha256.Sum256(leaf.Raw)
	issuer := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tagDirectoryName, IsCompound: true, Bytes: leaf.RawIssuer}
	ess, err := asn1.Marshal(signingCertificateV2{Certs: []essCertIDv2{{
		CertHash:     certHash[:],
		IssuerSerial: issuerSerial{Issuer: []asn1.RawValue{issuer}, SerialNumber: leaf.SerialNumber},
	}}})
	if err != nil {
		return fmt.Errorf("tsa: encoding the signing certificate: %w", err)
	}
	if t.essAttr, err = asn1.Marshal(attribute{Type: oidSigningCertificateV2, Values: []asn1.RawValue{{FullBytes: ess}}}); err != nil {
		return fmt.Errorf("tsa: encoding the signing certificate: %w", err)
	}

	ctype, err := asn1.Marshal(oidTSTInfo)
	if err != nil {
		return fmt.Errorf("tsa: encoding the content type: %w", err)
	}
	if t.ctypeAttr, err = asn1.Marshal(attribute{Type: oidContentType, Values: []asn1.RawValue{{FullBytes: ctype}}}); err != nil {
		return fmt.Errorf("tsa: encoding the content type: %w", err)
	}

	for _, c := range t.chain {
		t.chainPEM = append(t.chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return nil
}

// token issues a granted TimeStampResp for r. The DER is written with
// cryptobyte, in one pass per structure; TestTokenEncoding holds it to the
// same bytes as encoding/asn1's reflection over the types above.
func (t *TSA) token(r *request, serial *big.Int, genTime time.Time) ([]byte, error) {
	var tb cryptobyte.Builder
	tb.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1ObjectIdentifier(policyOID)
		b.AddBytes(r.imprint)
		b.AddASN1BigInt(serial)
		b.AddASN1GeneralizedTime(genTime)
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1Int64(1) }) // accuracy: 1 s
		if r.nonce != nil {
			b.AddASN1BigInt(r.nonce)
		}
		b.AddBytes(t.tsaName)
	})
	tst, err := tb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding TSTInfo: %w", err)
	}

	h := t.alg.hash.New()
	h.Write(tst)
	var mb cryptobyte.Builder
	mb.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidMessageDigest)
		b.AddASN1(casn1.SET, func(b *cryptobyte.Builder) { b.AddASN1OctetString(h.Sum(nil)) })
	})
	mdAttr, err := mb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding the message digest: %w", err)
	}
	// A DER SET OF, its elements sorted (as encoding/asn1 sorts them). The
	// signature covers this encoding, with the SET tag (RFC 5652 §5.4).
	elems := [][]byte{t.ctypeAttr, mdAttr, t.essAttr}
	slices.SortFunc(elems, bytes.Compare)
	var ab cryptobyte.Builder
	ab.AddASN1(casn1.SET, func(b *cryptobyte.Builder) {
		for _, e := range elems {
			b.AddBytes(e)
		}
	})
	attrs, err := ab.Bytes()
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding the signed attributes: %w", err)
	}
	// The signature's randomness always comes from crypto/rand, never from
	// Config.Rand: a predictable ECDSA nonce would give the key away.
	// SignMessage lets a key that hashes itself (a token with only
	// CKM_ECDSA_SHA256) have the attributes; others get their digest.
	sig, err := crypto.SignMessage(t.signer, rand.Reader, attrs, t.alg.hash)
	if err != nil {
		return nil, fmt.Errorf("tsa: signing: %w", err)
	}

	var b cryptobyte.Builder
	// TimeStampResp { status PKIStatusInfo { granted }, timeStampToken }
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1Int64(statusGranted) })
		// ContentInfo { id-signedData, [0] EXPLICIT SignedData }
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidSignedData)
			b.AddASN1(casn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(3) // RFC 5652 §5.1: eContentType is not id-data
					b.AddASN1(casn1.SET, func(b *cryptobyte.Builder) { addAlgorithm(b, t.alg.digestAlg) })
					// EncapsulatedContentInfo { id-ct-TSTInfo, [0] EXPLICIT OCTET STRING }
					b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidTSTInfo)
						b.AddASN1(casn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
							b.AddASN1OctetString(tst)
						})
					})
					if r.certReq {
						b.AddBytes(t.certs)
					}
					b.AddASN1(casn1.SET, func(b *cryptobyte.Builder) {
						// SignerInfo, sid issuerAndSerialNumber (version 1, RFC 5652 §5.3)
						b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1Int64(1)
							b.AddBytes(t.sid)
							addAlgorithm(b, t.alg.digestAlg)
							// In the SignerInfo the attributes are [0] IMPLICIT.
							b.AddASN1(casn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
								for _, e := range elems {
									b.AddBytes(e)
								}
							})
							addAlgorithm(b, t.alg.sigAlg)
							b.AddASN1OctetString(sig)
						})
					})
				})
			})
		})
	})
	resp, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding a response: %w", err)
	}
	return resp, nil
}

// addAlgorithm writes an AlgorithmIdentifier without parameters, as
// encoding/asn1 writes a pkix.AlgorithmIdentifier whose Parameters are
// unset.
func addAlgorithm(b *cryptobyte.Builder, a pkix.AlgorithmIdentifier) {
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(a.Algorithm) })
}
