package tsa

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"testing"
	"time"
)

// TestTokenEncoding: the tokens TSA.token writes with cryptobyte are
// byte for byte the ones encoding/asn1 writes from the RFC's structures
// (tokenASN1), for every kind of request (SHA-256, SHA-384 and SHA-512
// imprints; no nonce, small, large and high-bit nonces; with and without
// certificates) and serial numbers of every length, on a signer that
// signs deterministically.
func TestTokenEncoding(t *testing.T) {
	a, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	a.signer = hashSigner{a.signer}
	genTime := time.Date(2026, 12, 5, 1, 2, 3, 0, time.UTC)
	big2 := func(exp uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), exp) }
	nonces := []*big.Int{nil, big.NewInt(0), big.NewInt(1), big.NewInt(0x80), big2(63), big2(64), big2(159)}
	serials := []*big.Int{big.NewInt(1), big.NewInt(0x7f), big.NewInt(0x80), big2(127), big2(159)}
	n := 0
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		oid, ok := oidForHash(h)
		if !ok {
			t.Fatalf("no OID for %v", h)
		}
		digest := make([]byte, h.Size())
		if _, err := rand.Read(digest); err != nil {
			t.Fatal(err)
		}
		for _, nonce := range nonces {
			for _, certReq := range []bool{false, true} {
				for _, serial := range serials {
					r, err := newImprintRequest(oid, digest, nonce, certReq, nil)
					if err != nil {
						t.Fatal(err)
					}
					got, err := a.token(r, serial, genTime)
					if err != nil {
						t.Fatalf("token: %v", err)
					}
					want, err := a.tokenASN1(r, serial, genTime)
					if err != nil {
						t.Fatalf("tokenASN1: %v", err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%v, nonce %v, certReq %v, serial %v: got\n%x\nwant\n%x", h, nonce, certReq, serial, got, want)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d tokens compared", n)
}

// hashSigner signs deterministically (a hash of the digest), so that two
// encoders' tokens can be compared byte for byte.
type hashSigner struct{ crypto.Signer }

func (s hashSigner) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	sum := sha256.Sum256(digest)
	return sum[:], nil
}

// tstInfo is TSTInfo of RFC 3161 §2.4.2. ordering is always false, its
// default, and so absent; extensions are never set.
type tstInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint asn1.RawValue
	SerialNumber   *big.Int
	GenTime        time.Time `asn1:"generalized"`
	Accuracy       accuracy
	Nonce          *big.Int      `asn1:"optional"`
	TSA            asn1.RawValue `asn1:"optional"`
}

// accuracy is Accuracy of RFC 3161 §2.4.2.
type accuracy struct {
	Seconds int `asn1:"optional"`
	Millis  int `asn1:"optional,tag:0"`
	Micros  int `asn1:"optional,tag:1"`
}

// contentInfo is ContentInfo of RFC 5652 §3.
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT
}

// signedData is SignedData of RFC 5652 §5.1, without crls.
type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue `asn1:"optional"` // [0] IMPLICIT CertificateSet
	SignerInfos      []signerInfo  `asn1:"set"`
}

// encapContentInfo is EncapsulatedContentInfo of RFC 5652 §5.2.
type encapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     asn1.RawValue // [0] EXPLICIT OCTET STRING
}

// signerInfo is SignerInfo of RFC 5652 §5.3, identifying the signer by
// issuer and serial number, without unsigned attributes.
type signerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue // [0] IMPLICIT SET OF Attribute
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
}

// tokenASN1 is the token encoder written with encoding/asn1 over the
// types below: the oracle TestTokenEncoding holds TSA.token to.
func (t *TSA) tokenASN1(r *request, serial *big.Int, genTime time.Time) ([]byte, error) {
	tst, err := asn1.Marshal(tstInfo{
		Version:        1,
		Policy:         policyOID,
		MessageImprint: asn1.RawValue{FullBytes: r.imprint},
		SerialNumber:   serial,
		GenTime:        genTime,
		Accuracy:       accuracy{Seconds: 1},
		Nonce:          r.nonce,
		TSA:            asn1.RawValue{FullBytes: t.tsaName},
	})
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding TSTInfo: %w", err)
	}

	h := t.alg.hash.New()
	h.Write(tst)
	md, err := asn1.Marshal(h.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding the message digest: %w", err)
	}
	mdAttr, err := asn1.Marshal(attribute{Type: oidMessageDigest, Values: []asn1.RawValue{{FullBytes: md}}})
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding the message digest: %w", err)
	}
	// A DER SET OF: encoding/asn1 sorts the elements. The signature covers
	// this encoding, with the SET tag (RFC 5652 §5.4).
	attrs, err := asn1.MarshalWithParams([]asn1.RawValue{
		{FullBytes: t.ctypeAttr}, {FullBytes: mdAttr}, {FullBytes: t.essAttr},
	}, "set")
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding the signed attributes: %w", err)
	}
	h = t.alg.hash.New()
	h.Write(attrs)
	// The signature's randomness always comes from crypto/rand, never from
	// Config.Rand: a predictable ECDSA nonce would give the key away.
	sig, err := t.signer.Sign(rand.Reader, h.Sum(nil), t.alg.hash)
	if err != nil {
		return nil, fmt.Errorf("tsa: signing: %w", err)
	}
	// In the SignerInfo the attributes are [0] IMPLICIT.
	signedAttrs := append([]byte(nil), attrs...)
	signedAttrs[0] = 0xa0

	econtent, err := asn1.Marshal(tst) // []byte: an OCTET STRING holding the TSTInfo
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding the content: %w", err)
	}
	sd := signedData{
		Version:          3, // RFC 5652 §5.1: eContentType is not id-data
		DigestAlgorithms: []pkix.AlgorithmIdentifier{t.alg.digestAlg},
		EncapContentInfo: encapContentInfo{EContentType: oidTSTInfo, EContent: contextTag0(econtent)},
		SignerInfos: []signerInfo{{
			Version:            1, // RFC 5652 §5.3: sid is issuerAndSerialNumber
			SID:                asn1.RawValue{FullBytes: t.sid},
			DigestAlgorithm:    t.alg.digestAlg,
			SignedAttrs:        asn1.RawValue{FullBytes: signedAttrs},
			SignatureAlgorithm: t.alg.sigAlg,
			Signature:          sig,
		}},
	}
	if r.certReq {
		sd.Certificates = asn1.RawValue{FullBytes: t.certs}
	}
	sdDER, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding SignedData: %w", err)
	}
	token, err := asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: contextTag0(sdDER)})
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding ContentInfo: %w", err)
	}
	return grantedResponseASN1(token)
}

// grantedResponse wraps a TimeStampToken in a granted TimeStampResp.
func grantedResponseASN1(token []byte) ([]byte, error) {
	resp, err := asn1.Marshal(timeStampResp{
		Status:         pkiStatusInfo{Status: statusGranted},
		TimeStampToken: asn1.RawValue{FullBytes: token},
	})
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding a response: %w", err)
	}
	return resp, nil
}
