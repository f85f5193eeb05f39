package pkcs11key

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("message")
	sum := sha256.Sum256(msg)
	digest := sum[:]
	// The DigestInfo prefix of SHA-256 (RFC 8017 §9.2, note 1).
	prefix, err := hex.DecodeString("3031300d060960864801650304020105000420")
	if err != nil {
		t.Fatal(err)
	}
	all := mechanismSet(nil)
	hashOnly := mechanismSet([]uint{ckmECDSASHA256, ckmSHA256RSAPKCS, ckmSHA256RSAPKCSPSS})
	none := mechanismSet([]uint{})
	pss := &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
	for _, tc := range []struct {
		name    string
		pub     crypto.PublicKey
		has     func(uint) bool
		in      []byte
		opts    crypto.SignerOpts
		message bool
		mech    uint
		data    []byte
		raw     bool
		err     string
	}{
		{name: "ECDSA digest", pub: &ec.PublicKey, has: all, in: digest, opts: crypto.SHA256, mech: ckmECDSA, data: digest, raw: true},
		{name: "ECDSA message hashed here", pub: &ec.PublicKey, has: all, in: msg, opts: crypto.SHA256, message: true, mech: ckmECDSA, data: digest, raw: true},
		{name: "ECDSA message hashed by the token", pub: &ec.PublicKey, has: hashOnly, in: msg, opts: crypto.SHA256, message: true, mech: ckmECDSASHA256, data: msg, raw: true},
		{name: "ECDSA digest, token only hashes", pub: &ec.PublicKey, has: hashOnly, in: digest, opts: crypto.SHA256,
			err: "it signs ECDSA only over whole messages (CKM_ECDSA_SHA256), and was given a digest"},
		{name: "ECDSA SHA-384 message, token hashes only SHA-256", pub: &ec.PublicKey, has: hashOnly, in: msg, opts: crypto.SHA384, message: true,
			err: "neither CKM_ECDSA nor CKM_ECDSA_SHA384"},
		{name: "ECDSA short digest", pub: &ec.PublicKey, has: all, in: digest[:20], opts: crypto.SHA256, err: "digest of 20 bytes for SHA256 (want 32)"},
		{name: "ECDSA SHA-1", pub: &ec.PublicKey, has: all, in: digest[:20], opts: crypto.SHA1, err: "ECDSA with hash SHA-1 is not supported"},
		{name: "RSA PKCS1v15 digest", pub: &rk.PublicKey, has: all, in: digest, opts: crypto.SHA256, mech: ckmRSAPKCS, data: append(prefix, digest...)},
		{name: "RSA PKCS1v15 message hashed by the token", pub: &rk.PublicKey, has: hashOnly, in: msg, opts: crypto.SHA256, message: true, mech: ckmSHA256RSAPKCS, data: msg},
		{name: "RSA PKCS1v15 digest, token only hashes", pub: &rk.PublicKey, has: hashOnly, in: digest, opts: crypto.SHA256, err: "no RSA PKCS #1 v1.5 mechanism for SHA256"},
		{name: "RSA PSS digest", pub: &rk.PublicKey, has: all, in: digest, opts: pss, mech: ckmRSAPKCSPSS, data: digest},
		{name: "RSA PSS message hashed by the token", pub: &rk.PublicKey, has: hashOnly, in: msg, opts: pss, message: true, mech: ckmSHA256RSAPKCSPSS, data: msg},
		{name: "Ed25519", pub: edPub, has: all, in: msg, opts: crypto.Hash(0), mech: ckmEDDSA, data: msg},
		{name: "Ed25519 message", pub: edPub, has: all, in: msg, opts: crypto.Hash(0), message: true, mech: ckmEDDSA, data: msg},
		{name: "Ed25519ph", pub: edPub, has: all, in: digest, opts: &ed25519.Options{Hash: crypto.SHA512}, err: "Ed25519ph (pre-hashed Ed25519) is not supported"},
		{name: "Ed25519 without CKM_EDDSA", pub: edPub, has: none, in: msg, opts: crypto.Hash(0), err: "the token offers no mechanism for this signature: no CKM_EDDSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := plan(tc.pub, tc.has, tc.in, tc.opts, tc.message)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.mech.typ != tc.mech || !bytes.Equal(st.data, tc.data) || st.rawECDSA != tc.raw {
				t.Errorf("got mechanism %#x data %x raw %v, want %#x %x %v", st.mech.typ, st.data, st.rawECDSA, tc.mech, tc.data, tc.raw)
			}
			if (st.mech.pss != nil) != (tc.opts == pss) {
				t.Errorf("PSS parameters %+v for %T", st.mech.pss, tc.opts)
			}
			if st.mech.pss != nil && *st.mech.pss != (pssParams{hash: ckmSHA256, mgf: ckgMGF1SHA256, saltLen: 32}) {
				t.Errorf("PSS parameters %+v, want SHA-256, MGF1-SHA-256, 32-byte salt", *st.mech.pss)
			}
		})
	}
}

func TestECDSADER(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("m"))
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 96)
	r.FillBytes(raw[:48])
	s.FillBytes(raw[48:])
	der, err := ecdsaDER(&k.PublicKey, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(&k.PublicKey, d[:], der) {
		t.Error("the DER signature does not verify")
	}
	if _, err := ecdsaDER(&k.PublicKey, raw[:95]); err == nil || !strings.Contains(err.Error(), "ECDSA signature of 95 bytes (want 96)") {
		t.Errorf("short signature: got %v", err)
	}
}

func TestECPublicKey(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	wrapped := append([]byte{0x04, byte(len(point))}, point...)
	for _, tc := range []struct {
		name          string
		params, point []byte
		err           string
	}{
		{"DER point", mustOID(oidP256), wrapped, ""},
		{"bare point", mustOID(oidP256), point, ""},
		{"secp256k1", mustOID(oidSecp256k1), wrapped, "keys: unsupported key: EC key on curve secp256k1"},
		{"other curve", mustOID([]int{1, 2, 3}), wrapped, "keys: unsupported key: EC key on curve 1.2.3"},
		{"garbage params", []byte{0xff}, wrapped, "CKA_EC_PARAMS is neither a named curve nor a curve name"},
		{"point off the curve", mustOID(oidP384), wrapped, "P-384 CKA_EC_POINT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := ecPublicKey(tc.params, tc.point)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !k.PublicKey.Equal(pub) {
				t.Fatalf("got %v, %v; want the key", pub, err)
			}
		})
	}
	// Ed25519 as OpenSC writes it: a curve name, not an OID.
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ecPublicKey([]byte("\x13\x0cedwards25519"), append([]byte{0x04, 0x20}, edPub...))
	if err != nil || !edPub.Equal(pub) {
		t.Fatalf("edwards25519: got %v, %v", pub, err)
	}
}
