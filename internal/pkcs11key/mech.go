package pkcs11key

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// Mechanisms (CKM_*) and mask generation functions (CKG_*) of PKCS #11
// v3.0 (pkcs11t.h) that Signer uses.
const (
	ckmRSAPKCS          = 0x0001
	ckmRSAPKCSPSS       = 0x000D
	ckmSHA256RSAPKCS    = 0x0040
	ckmSHA384RSAPKCS    = 0x0041
	ckmSHA512RSAPKCS    = 0x0042
	ckmSHA256RSAPKCSPSS = 0x0043
	ckmSHA384RSAPKCSPSS = 0x0044
	ckmSHA512RSAPKCSPSS = 0x0045
	ckmSHA256           = 0x0250
	ckmSHA384           = 0x0260
	ckmSHA512           = 0x0270
	ckmECDSA            = 0x1041
	ckmECDSASHA256      = 0x1044
	ckmECDSASHA384      = 0x1045
	ckmECDSASHA512      = 0x1046
	ckmEDDSA            = 0x1057

	ckgMGF1SHA256 = 0x2
	ckgMGF1SHA384 = 0x3
	ckgMGF1SHA512 = 0x4
)

// hashMechs are, per hash, the mechanisms that hash inside the token, and
// the hash's own mechanism and MGF1 for PSS parameters.
var hashMechs = map[crypto.Hash]struct{ ecdsa, rsa, pss, digest, mgf uint }{
	crypto.SHA256: {ckmECDSASHA256, ckmSHA256RSAPKCS, ckmSHA256RSAPKCSPSS, ckmSHA256, ckgMGF1SHA256},
	crypto.SHA384: {ckmECDSASHA384, ckmSHA384RSAPKCS, ckmSHA384RSAPKCSPSS, ckmSHA384, ckgMGF1SHA384},
	crypto.SHA512: {ckmECDSASHA512, ckmSHA512RSAPKCS, ckmSHA512RSAPKCSPSS, ckmSHA512, ckgMGF1SHA512},
}

// mechanism is a CK_MECHANISM: its type, and PSS parameters if any.
type mechanism struct {
	typ uint
	pss *pssParams
}

// pssParams is a CK_RSA_PKCS_PSS_PARAMS.
type pssParams struct{ hash, mgf, saltLen uint }

// step is one signature to ask of the token: the mechanism, the bytes to
// pass to C_Sign, and whether the answer is a raw ECDSA r||s to encode.
type step struct {
	mech     mechanism
	data     []byte
	rawECDSA bool
}

// errNoMechanism is wrapped when the token offers no mechanism for a
// signature.
var errNoMechanism = errors.New("the token offers no mechanism for this signature")

// plan decides how the token makes a signature with the key whose public
// half is pub: over a digest the caller computed (message false), or over
// a message (message true), which the caller hashes unless the token only
// has a mechanism that hashes. has reports the mechanisms the token
// offers. The digest mechanisms (CKM_ECDSA, CKM_RSA_PKCS,
// CKM_RSA_PKCS_PSS) are preferred; a digest the token could only sign as a
// message is refused.
func plan(pub crypto.PublicKey, has func(uint) bool, in []byte, opts crypto.SignerOpts, message bool) (step, error) {
	h := opts.HashFunc()
	switch pub.(type) {
	case *ecdsa.PublicKey:
		hm, ok := hashMechs[h]
		if !ok {
			return step{}, fmt.Errorf("ECDSA with hash %v is not supported (want SHA-256, SHA-384 or SHA-512)", h)
		}
		if has(ckmECDSA) {
			digest, err := digestOf(h, in, message)
			if err != nil {
				return step{}, err
			}
			return step{mech: mechanism{typ: ckmECDSA}, data: digest, rawECDSA: true}, nil
		}
		if has(hm.ecdsa) {
			if !message {
				return step{}, fmt.Errorf("%w: it signs ECDSA only over whole messages (CKM_ECDSA_%s), and was given a digest", errNoMechanism, hashName(h))
			}
			return step{mech: mechanism{typ: hm.ecdsa}, data: in, rawECDSA: true}, nil
		}
		return step{}, fmt.Errorf("%w: neither CKM_ECDSA nor CKM_ECDSA_%s", errNoMechanism, hashName(h))
	case *rsa.PublicKey:
		hm, ok := hashMechs[h]
		if !ok {
			return step{}, fmt.Errorf("RSA with hash %v is not supported (want SHA-256, SHA-384 or SHA-512)", h)
		}
		if pssOpts, isPSS := opts.(*rsa.PSSOptions); isPSS {
			params := &pssParams{hash: hm.digest, mgf: hm.mgf, saltLen: uint(h.Size())}
			if pssOpts.SaltLength > 0 {
				params.saltLen = uint(pssOpts.SaltLength)
			}
			if has(ckmRSAPKCSPSS) {
				digest, err := digestOf(h, in, message)
				if err != nil {
					return step{}, err
				}
				return step{mech: mechanism{typ: ckmRSAPKCSPSS, pss: params}, data: digest}, nil
			}
			if has(hm.pss) && message {
				return step{mech: mechanism{typ: hm.pss, pss: params}, data: in}, nil
			}
			return step{}, fmt.Errorf("%w: no RSA-PSS mechanism for %s", errNoMechanism, hashName(h))
		}
		if has(ckmRSAPKCS) {
			digest, err := digestOf(h, in, message)
			if err != nil {
				return step{}, err
			}
			info, err := digestInfo(h, digest)
			if err != nil {
				return step{}, err
			}
			return step{mech: mechanism{typ: ckmRSAPKCS}, data: info}, nil
		}
		if has(hm.rsa) && message {
			return step{mech: mechanism{typ: hm.rsa}, data: in}, nil
		}
		return step{}, fmt.Errorf("%w: no RSA PKCS #1 v1.5 mechanism for %s", errNoMechanism, hashName(h))
	case ed25519.PublicKey:
		if h != 0 {
			return step{}, errors.New("Ed25519ph (pre-hashed Ed25519) is not supported for keys in a token; only pure Ed25519")
		}
		if !has(ckmEDDSA) {
			return step{}, fmt.Errorf("%w: no CKM_EDDSA", errNoMechanism)
		}
		return step{mech: mechanism{typ: ckmEDDSA}, data: in}, nil
	}
	return step{}, fmt.Errorf("unsupported key type %T", pub)
}

// digestOf returns in hashed with h if it is a message, else in, checking
// its length.
func digestOf(h crypto.Hash, in []byte, message bool) ([]byte, error) {
	if message {
		w := h.New()
		w.Write(in)
		return w.Sum(nil), nil
	}
	if len(in) != h.Size() {
		return nil, fmt.Errorf("digest of %d bytes for %s (want %d)", len(in), hashName(h), h.Size())
	}
	return in, nil
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA256:
		return "SHA256"
	case crypto.SHA384:
		return "SHA384"
	case crypto.SHA512:
		return "SHA512"
	}
	return h.String()
}

// Object identifiers of the hashes (RFC 8017 appendix B.1).
var hashOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
	crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
	crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
}

// digestInfo returns the DER DigestInfo (RFC 8017 §9.2) that CKM_RSA_PKCS
// pads and signs for an RSASSA-PKCS1-v1_5 signature.
func digestInfo(h crypto.Hash, digest []byte) ([]byte, error) {
	oid, ok := hashOIDs[h]
	if !ok {
		return nil, fmt.Errorf("no DigestInfo for %v", h)
	}
	return asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}{pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.NullRawValue}, digest})
}

// ecdsaDER encodes a raw ECDSA signature (r||s, each as long as the
// curve's order, as PKCS #11 returns it) as the ASN.1 DER Ecdsa-Sig-Value
// of RFC 3279 §2.2.3.
func ecdsaDER(pub *ecdsa.PublicKey, raw []byte) ([]byte, error) {
	n := (pub.Curve.Params().BitSize + 7) / 8
	if len(raw) != 2*n {
		return nil, fmt.Errorf("the token returned an ECDSA signature of %d bytes (want %d)", len(raw), 2*n)
	}
	r, s := new(big.Int).SetBytes(raw[:n]), new(big.Int).SetBytes(raw[n:])
	return asn1.Marshal(struct{ R, S *big.Int }{r, s})
}

// mechanismSet returns has for a list of mechanisms; a token whose list
// could not be read (nil) is assumed to offer the digest mechanisms.
func mechanismSet(list []uint) func(uint) bool {
	if list == nil {
		return func(m uint) bool { return m == ckmECDSA || m == ckmRSAPKCS || m == ckmRSAPKCSPSS || m == ckmEDDSA }
	}
	return func(m uint) bool { return slices.Contains(list, m) }
}
