//go:build ignore

// gen writes the key fixtures of hallmark.dev/keys into the current
// directory. Run it from keys/testdata with
//
//	GOTOOLCHAIN=local go run gen.go
//
// Key generation and scrypt salts are random, so every run writes new keys;
// the tests only rely on the relations between the files (cert.pem certifies
// the key of ec-p256-sec1.pem, rsa-pub-pkcs1.pem is the public half of
// rsa-pkcs1.pem, cosign.pub is the public half of cosign.key under the
// password "hallmark-test"), never on particular key bytes.
//
// The cosign-v3.1.3*.key and .pub files are not written here: they are real
// cosign v3.1.3 output, kept as vectors, made with the password
// "hallmark-test" by
//
//	cosign generate-key-pair --output-key-prefix cosign-v3.1.3
//	cosign import-key-pair --key ed25519-pkcs8.pem --output-key-prefix cosign-v3.1.3-import-ed25519
package main

import (
	"crypto"
	"crypto/dsa"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"log"
	"math/big"
	"os"
	"time"

	"hallmark.dev/keys"
)

// Password is the password of cosign.key.
const password = "hallmark-test"

func main() {
	log.SetFlags(0)
	log.SetPrefix("gen: ")

	// The cosign key pair, written with the production scrypt cost.
	key, err := keys.Generate(keys.ECDSAP256)
	check(err)
	cosignKey, err := keys.EncryptPrivateKey(key, []byte(password))
	check(err)
	write("cosign.key", cosignKey)
	pub, err := keys.MarshalPublicKey(key.Public())
	check(err)
	write("cosign.pub", pub)

	// Keys to import, in the encodings other tools write.
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	sec1, err := x509.MarshalECPrivateKey(p256)
	check(err)
	writePEM("ec-p256-sec1.pem", "EC PRIVATE KEY", sec1)

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	check(err)
	writePEM("ec-p384-pkcs8.pem", "PRIVATE KEY", pkcs8(p384))

	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	check(err)
	writePEM("rsa-pkcs1.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa2048))
	writePEM("rsa-pub-pkcs1.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsa2048.PublicKey))

	_, ed, err := ed25519.GenerateKey(rand.Reader)
	check(err)
	writePEM("ed25519-pkcs8.pem", "PRIVATE KEY", pkcs8(ed))

	// A self-signed certificate for the P-256 key.
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "hallmark test"},
		NotBefore:    time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, p256.Public(), p256)
	check(err)
	writePEM("cert.pem", "CERTIFICATE", cert)

	// Well-formed keys hallmark does not support.
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	check(err)
	sec1, err = x509.MarshalECPrivateKey(p224)
	check(err)
	writePEM("ec-p224-sec1.pem", "EC PRIVATE KEY", sec1)

	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	check(err)
	writePEM("rsa-1024-pkcs8.pem", "PRIVATE KEY", pkcs8(rsa1024))

	writePEM("dsa-pub.pem", "PUBLIC KEY", dsaPublicKey())

	// Malformed files.
	write("truncated.key", cosignKey[:len(cosignKey)/2])
	block, _ := pem.Decode(cosignKey)
	if block == nil {
		log.Fatal("cosign.key holds no PEM block")
	}
	writePEM("bad-json.key", "ENCRYPTED SIGSTORE PRIVATE KEY", block.Bytes[:len(block.Bytes)/2])
	writePEM("wrong-type.pem", "FOO", []byte("not a key"))
}

func pkcs8(key crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	check(err)
	return der
}

// dsaPublicKey returns the PKIX encoding of a DSA public key, which
// crypto/x509 parses but cannot marshal.
func dsaPublicKey() []byte {
	var priv dsa.PrivateKey
	check(dsa.GenerateParameters(&priv.Parameters, rand.Reader, dsa.L1024N160))
	check(dsa.GenerateKey(&priv, rand.Reader))
	params, err := asn1.Marshal(struct{ P, Q, G *big.Int }{priv.P, priv.Q, priv.G})
	check(err)
	y, err := asn1.Marshal(priv.Y)
	check(err)
	der, err := asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{
		Algorithm: pkix.AlgorithmIdentifier{
			Algorithm:  asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1},
			Parameters: asn1.RawValue{FullBytes: params},
		},
		PublicKey: asn1.BitString{Bytes: y, BitLength: 8 * len(y)},
	})
	check(err)
	pub, err := x509.ParsePKIXPublicKey(der)
	check(err)
	if _, ok := pub.(*dsa.PublicKey); !ok {
		log.Fatalf("DSA key parses as %T", pub)
	}
	return der
}

func writePEM(name, typ string, der []byte) {
	write(name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func write(name string, data []byte) {
	check(os.WriteFile(name, data, 0o644))
	fmt.Println("wrote", name)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
