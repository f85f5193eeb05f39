package pkcs11key

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"math/big"

	"hallmark.dev/keys"
)

// Named curves, by the OID a key's CKA_EC_PARAMS holds.
var (
	oidP256      = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384      = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521      = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidSecp256k1 = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	oidEd25519   = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448     = asn1.ObjectIdentifier{1, 3, 101, 113}
)

// curveOf decides from CKA_EC_PARAMS which key an EC or Edwards key is:
// ECDSA on a curve hallmark supports (curve), Ed25519 (ed), or another,
// which gives keys.ErrUnsupportedKey. name names the curve for messages.
func curveOf(params []byte) (curve elliptic.Curve, ed bool, name string, err error) {
	curve, ed, name, err = parseECParams(params)
	if err == nil && curve == nil && !ed {
		err = fmt.Errorf("%w: EC key on curve %s (want P-256, P-384, P-521 or Ed25519)", keys.ErrUnsupportedKey, name)
	}
	return curve, ed, name, err
}

// parseECParams decodes CKA_EC_PARAMS: a named curve's OID, or a curve
// name.
func parseECParams(params []byte) (curve elliptic.Curve, ed bool, name string, err error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err == nil && len(rest) == 0 {
		switch {
		case oid.Equal(oidP256):
			return elliptic.P256(), false, "P-256", nil
		case oid.Equal(oidP384):
			return elliptic.P384(), false, "P-384", nil
		case oid.Equal(oidP521):
			return elliptic.P521(), false, "P-521", nil
		case oid.Equal(oidEd25519):
			return nil, true, "Ed25519", nil
		case oid.Equal(oidSecp256k1):
			return nil, false, "secp256k1", nil
		case oid.Equal(oidEd448):
			return nil, false, "Ed448", nil
		}
		return nil, false, oid.String(), nil
	}
	// PKCS #11 v3.0 §2.3.5 also allows a curve name as a PrintableString;
	// OpenSC's pkcs11-tool writes "edwards25519" so.
	var s string
	if rest, err := asn1.Unmarshal(params, &s); err == nil && len(rest) == 0 {
		if s == "edwards25519" {
			return nil, true, "Ed25519", nil
		}
		return nil, false, s, nil
	}
	return nil, false, "", fmt.Errorf("CKA_EC_PARAMS is neither a named curve nor a curve name")
}

// unwrapPoint returns CKA_EC_POINT's point: the spec has it as a DER OCTET
// STRING, some modules give it bare.
func unwrapPoint(point []byte, size int) []byte {
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 && len(inner) == size {
		return inner
	}
	return point
}

// ecPublicKey decodes the public key of an EC or Edwards key from its
// CKA_EC_PARAMS and CKA_EC_POINT. A curve hallmark does not support gives
// keys.ErrUnsupportedKey.
func ecPublicKey(params, point []byte) (crypto.PublicKey, error) {
	curve, ed, name, err := curveOf(params)
	if err != nil {
		return nil, err
	}
	if ed {
		p := unwrapPoint(point, ed25519.PublicKeySize)
		if len(p) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("Ed25519 CKA_EC_POINT of %d bytes", len(p))
		}
		return ed25519.PublicKey(p), nil
	}
	size := 1 + 2*((curve.Params().BitSize+7)/8)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, unwrapPoint(point, size))
	if err != nil {
		return nil, fmt.Errorf("%s CKA_EC_POINT: %v", name, err)
	}
	return pub, nil
}

// rsaPublicKey decodes an RSA public key from CKA_MODULUS and
// CKA_PUBLIC_EXPONENT.
func rsaPublicKey(modulus, exponent []byte) (crypto.PublicKey, error) {
	e := new(big.Int).SetBytes(exponent)
	if len(modulus) == 0 || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return nil, fmt.Errorf("RSA key with a bad modulus or public exponent")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(modulus), E: int(e.Int64())}, nil
}

// checkSupported returns keys.ErrUnsupportedKey (wrapped) for a key hallmark
// does not sign with: RSA under 2048 or over 4096 bits, for one.
func checkSupported(pub crypto.PublicKey) error {
	_, err := keys.MarshalPublicKey(pub)
	return err
}

// mustOID returns the DER of a curve's OID, for CKA_EC_PARAMS.
func mustOID(oid asn1.ObjectIdentifier) []byte {
	der, err := asn1.Marshal(oid)
	if err != nil {
		panic(err) // the OIDs are constants of this file
	}
	return der
}
