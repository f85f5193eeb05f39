package sign_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"testing"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"

	"hallmark.dev/attest"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/keys"
	"hallmark.dev/sign"
)

func TestKeySignerAlgorithms(t *testing.T) {
	tests := []struct {
		alg  keys.Algorithm
		want protocommon.PublicKeyDetails
		hash protocommon.HashAlgorithm
	}{
		{keys.ECDSAP256, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, protocommon.HashAlgorithm_SHA2_256},
		{keys.ECDSAP384, protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384, protocommon.HashAlgorithm_SHA2_384},
		{keys.ECDSAP521, protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, protocommon.HashAlgorithm_SHA2_512},
		{keys.Ed25519, protocommon.PublicKeyDetails_PKIX_ED25519_PH, protocommon.HashAlgorithm_SHA2_512},
		{keys.RSA3072, protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256, protocommon.HashAlgorithm_SHA2_256},
	}
	for _, tc := range tests {
		t.Run(string(tc.alg), func(t *testing.T) {
			s, err := keys.Generate(tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			k, err := sign.NewKeySigner(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := k.GetSigningAlgorithm(); got != tc.want {
				t.Errorf("algorithm %v, want %v (as cosign chooses)", got, tc.want)
			}
			if got := k.GetHashAlgorithm(); got != tc.hash {
				t.Errorf("hash %v, want %v", got, tc.hash)
			}
			der, err := x509.MarshalPKIXPublicKey(s.Public())
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(der)
			if got, want := string(k.GetHint()), base64.StdEncoding.EncodeToString(sum[:]); got != want {
				t.Errorf("hint %s, want %s (base64 SHA-256 of PKIX, as cosign writes)", got, want)
			}
		})
	}
}

func TestImageBundle(t *testing.T) {
	s, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	k, err := sign.NewKeySigner(s)
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	b, st, err := sign.Image(context.Background(), k, digest, map[string]string{"a": "b"}, sign.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		MediaType    string `json:"mediaType"`
		DSSEEnvelope struct {
			Payload     string `json:"payload"`
			PayloadType string `json:"payloadType"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.MediaType != "application/vnd.dev.sigstore.bundle.v0.3+json" || got.DSSEEnvelope.PayloadType != attest.PayloadType {
		t.Errorf("got %+v", got)
	}
	payload, err := base64.StdEncoding.DecodeString(got.DSSEEnvelope.Payload)
	if err != nil || string(payload) != string(st) {
		t.Errorf("envelope payload is not the returned statement")
	}
	if _, _, err := sign.Image(context.Background(), k, "sha256:short", nil, sign.Options{}); err == nil {
		t.Error("a malformed digest was signed")
	}
	if _, err := sign.Statement(context.Background(), k, []byte(`{"_type":"x"}`), sign.Options{}); err == nil {
		t.Error("a malformed statement was signed")
	}
	// Only Image signs the image signature's statement: as an
	// attestation it would verify as an image signature.
	if _, err := sign.Statement(context.Background(), k, st, sign.Options{}); !errors.Is(err, attest.ErrImageSignatureType) {
		t.Errorf("signing an image signature statement as an attestation: got %v, want attest.ErrImageSignatureType", err)
	}
	if _, err := sign.Blob(context.Background(), nil, []byte("x"), sign.Options{}); err == nil {
		t.Error("signed without a key")
	}
}

func TestBlobRefusesImagePayloads(t *testing.T) {
	s, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	k, err := sign.NewKeySigner(s)
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	simple, err := attest.NewSimpleSigning("r", digest, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"simple signing":          string(simple),
		"simple signing, recased": `  {"CRITICAL":{"IMAGE":{"Docker-Manifest-Digest":"` + digest + `"}}}`,
		"type only":               `{"critical":{"type":"cosign container image signature"}}`,
		"DSSE PAE":                "DSSEv1 28 application/vnd.in-toto+json 2 {}",
	} {
		if _, err := sign.Blob(context.Background(), k, []byte(data), sign.Options{}); !errors.Is(err, sign.ErrImagePayloadBlob) {
			t.Errorf("%s: got %v, want ErrImagePayloadBlob", name, err)
		}
	}
	for name, data := range map[string]string{
		"checksums":  "0f34  hallmark.tar.gz\n",
		"other JSON": `{"critical":{"something":"else"}}`,
		"JSON array": `[1,2]`,
	} {
		if _, err := sign.Blob(context.Background(), k, []byte(data), sign.Options{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestKeySignerMessageSigner: a key that only signs whole messages signs
// through KeySigner, which still returns the digest it signed.
func TestKeySignerMessageSigner(t *testing.T) {
	key, err := keys.Generate(keys.ECDSAP384)
	if err != nil {
		t.Fatal(err)
	}
	k, err := sign.NewKeySigner(lite.MessageOnlySigner{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("data")
	sig, digest, err := k.SignData(context.Background(), data)
	if err != nil {
		t.Fatalf("SignData: %v", err)
	}
	want := sha512.Sum384(data)
	if !bytes.Equal(digest, want[:]) {
		t.Errorf("digest %x, want SHA-384 %x", digest, want)
	}
	if !ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), digest, sig) {
		t.Error("signature does not verify")
	}
}

// TestKeyFailureNamedOnce: a key that fails to sign is reported with
// "sign: " once.
func TestKeyFailureNamedOnce(t *testing.T) {
	key, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	k, err := sign.NewKeySigner(failingKey{key})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sign.Blob(context.Background(), k, []byte("data"), sign.Options{})
	if want := "sign: pkcs11: the token is gone"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// failingKey fails as a key in a removed token does.
type failingKey struct{ crypto.Signer }

func (failingKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("pkcs11: the token is gone")
}
