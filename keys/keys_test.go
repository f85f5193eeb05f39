package keys_test

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"hallmark.dev/keys"
)

// testPassword is the password of testdata/cosign.key and of the cosign
// vectors in testdata.
const testPassword = "hallmark-test"

var allAlgorithms = []struct {
	alg  keys.Algorithm
	want string // Describe of the public key
}{
	{keys.ECDSAP256, "ECDSA P-256"},
	{keys.ECDSAP384, "ECDSA P-384"},
	{keys.ECDSAP521, "ECDSA P-521"},
	{keys.Ed25519, "Ed25519"},
	{keys.RSA3072, "RSA 3072"},
	{keys.RSA4096, "RSA 4096"},
}

func TestRoundTrip(t *testing.T) {
	for _, tt := range allAlgorithms {
		t.Run(string(tt.alg), func(t *testing.T) {
			t.Parallel()
			key, err := keys.Generate(tt.alg)
			if err != nil {
				t.Fatalf("Generate(%q): %v", tt.alg, err)
			}
			if got := keys.Describe(key.Public()); got != tt.want {
				t.Errorf("Describe = %q, want %q", got, tt.want)
			}

			encrypted, err := keys.EncryptPrivateKey(key, []byte(testPassword))
			if err != nil {
				t.Fatalf("EncryptPrivateKey: %v", err)
			}
			if got, want := pemType(t, encrypted), "ENCRYPTED SIGSTORE PRIVATE KEY"; got != want {
				t.Errorf("EncryptPrivateKey wrote PEM type %q, want %q", got, want)
			}
			decrypted, err := keys.DecryptPrivateKey(encrypted, []byte(testPassword))
			if err != nil {
				t.Fatalf("DecryptPrivateKey: %v", err)
			}
			if !equalPrivate(decrypted, key) {
				t.Errorf("DecryptPrivateKey(EncryptPrivateKey(key)) = %T, not equal to the generated %T", decrypted, key)
			}

			pubPEM, err := keys.MarshalPublicKey(key.Public())
			if err != nil {
				t.Fatalf("MarshalPublicKey: %v", err)
			}
			if got, want := pemType(t, pubPEM), "PUBLIC KEY"; got != want {
				t.Errorf("MarshalPublicKey wrote PEM type %q, want %q", got, want)
			}
			pub, err := keys.ParsePublicKey(pubPEM)
			if err != nil {
				t.Fatalf("ParsePublicKey: %v", err)
			}
			if !equalPublic(pub, key.Public()) {
				t.Errorf("ParsePublicKey(MarshalPublicKey(pub)) is not equal to pub")
			}
			if got, want := keys.Fingerprint(pub), keys.Fingerprint(key.Public()); got != want || got == "" {
				t.Errorf("Fingerprint of parsed key = %q, want %q (non-empty)", got, want)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	key, err := keys.Generate("")
	if err != nil {
		t.Fatalf(`Generate(""): %v`, err)
	}
	if got, want := keys.Describe(key.Public()), "ECDSA P-256"; got != want {
		t.Errorf(`Generate("") made a %q key, want %q`, got, want)
	}

	_, err = keys.Generate("dsa-1024")
	if !errors.Is(err, keys.ErrUnsupportedKey) {
		t.Errorf(`Generate("dsa-1024") error = %v, want ErrUnsupportedKey`, err)
	}
	if err != nil && !strings.Contains(err.Error(), `unknown algorithm "dsa-1024"`) {
		t.Errorf(`Generate("dsa-1024") error = %q, want it to name the algorithm`, err)
	}
}

func TestPassword(t *testing.T) {
	key, err := keys.Generate(keys.Ed25519)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	tests := []struct {
		name          string
		encrypt       []byte
		decrypt       []byte
		wrongPassword bool
	}{
		{"same", []byte("s3cret"), []byte("s3cret"), false},
		{"empty", []byte{}, []byte{}, false},
		{"nil is empty", nil, []byte{}, false},
		{"wrong", []byte("s3cret"), []byte("S3cret"), true},
		{"missing", []byte("s3cret"), nil, true},
		{"unexpected", nil, []byte("s3cret"), true},
		{"prefix", []byte("s3cret"), []byte("s3cre"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			encrypted, err := keys.EncryptPrivateKey(key, tt.encrypt)
			if err != nil {
				t.Fatalf("EncryptPrivateKey: %v", err)
			}
			got, err := keys.DecryptPrivateKey(encrypted, tt.decrypt)
			if tt.wrongPassword {
				if !errors.Is(err, keys.ErrWrongPassword) {
					t.Errorf("DecryptPrivateKey error = %v, want ErrWrongPassword", err)
				}
				if got != nil {
					t.Errorf("DecryptPrivateKey returned a key with the wrong password")
				}
				return
			}
			if err != nil {
				t.Fatalf("DecryptPrivateKey: %v", err)
			}
			if !equalPrivate(got, key) {
				t.Errorf("DecryptPrivateKey returned a different key")
			}
		})
	}
}

// scryptParams is the "params" object of an encrypted key's "kdf".
type scryptParams struct {
	N, R, P int
}

// TestProductionKDF checks that keys are written with the scrypt cost real
// cosign v3.1.3 writes (testdata/cosign-v3.1.3.key is its output).
func TestProductionKDF(t *testing.T) {
	keys.UseProductionKDF(t)
	key, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	ours, err := keys.EncryptPrivateKey(key, []byte(testPassword))
	if err != nil {
		t.Fatalf("EncryptPrivateKey: %v", err)
	}
	want := scryptParams{N: 65536, R: 8, P: 1}
	if diff := cmp.Diff(want, kdfParams(t, readTestdata(t, "cosign-v3.1.3.key"))); diff != "" {
		t.Fatalf("cosign v3.1.3 vector scrypt parameters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, kdfParams(t, ours)); diff != "" {
		t.Errorf("EncryptPrivateKey scrypt parameters (-cosign +ours):\n%s", diff)
	}
	if diff := cmp.Diff(want, kdfParams(t, readTestdata(t, "cosign.key"))); diff != "" {
		t.Errorf("testdata/cosign.key scrypt parameters (-cosign +gen.go):\n%s", diff)
	}
}

// TestVectors decrypts the checked-in keys: the one testdata/gen.go wrote
// and the ones real cosign v3.1.3 wrote.
func TestVectors(t *testing.T) {
	legacy := readTestdata(t, "cosign.key")
	legacy = bytes.Replace(legacy, []byte("SIGSTORE"), []byte("COSIGN"), 2)
	if got, want := pemType(t, legacy), "ENCRYPTED COSIGN PRIVATE KEY"; got != want {
		t.Fatalf("rewritten PEM type = %q, want %q", got, want)
	}

	tests := []struct {
		name     string
		key, pub []byte
		want     string // Describe of the key
	}{
		{"gen.go", readTestdata(t, "cosign.key"), readTestdata(t, "cosign.pub"), "ECDSA P-256"},
		{"legacy PEM type", legacy, readTestdata(t, "cosign.pub"), "ECDSA P-256"},
		{"cosign generate-key-pair", readTestdata(t, "cosign-v3.1.3.key"), readTestdata(t, "cosign-v3.1.3.pub"), "ECDSA P-256"},
		{"cosign import-key-pair ed25519", readTestdata(t, "cosign-v3.1.3-import-ed25519.key"), readTestdata(t, "cosign-v3.1.3-import-ed25519.pub"), "Ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := keys.DecryptPrivateKey(tt.key, []byte(testPassword))
			if err != nil {
				t.Fatalf("DecryptPrivateKey: %v", err)
			}
			pub, err := keys.ParsePublicKey(tt.pub)
			if err != nil {
				t.Fatalf("ParsePublicKey: %v", err)
			}
			if !equalPublic(key.Public(), pub) {
				t.Errorf("the private key's public key is not the one in the .pub file")
			}
			if got := keys.Describe(pub); got != tt.want {
				t.Errorf("Describe = %q, want %q", got, tt.want)
			}
			ourPub, err := keys.MarshalPublicKey(pub)
			if err != nil {
				t.Fatalf("MarshalPublicKey: %v", err)
			}
			if diff := cmp.Diff(string(tt.pub), string(ourPub)); diff != "" {
				t.Errorf("MarshalPublicKey differs from the .pub file (-file +ours):\n%s", diff)
			}
		})
	}
}

func TestParsePrivateKey(t *testing.T) {
	tests := []struct {
		file string
		want string // Describe of the key
	}{
		{"ec-p256-sec1.pem", "ECDSA P-256"},
		{"ec-p384-pkcs8.pem", "ECDSA P-384"},
		{"rsa-pkcs1.pem", "RSA 2048"},
		{"ed25519-pkcs8.pem", "Ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			key, err := keys.ParsePrivateKey(readTestdata(t, tt.file))
			if err != nil {
				t.Fatalf("ParsePrivateKey: %v", err)
			}
			if got := keys.Describe(key.Public()); got != tt.want {
				t.Errorf("Describe = %q, want %q", got, tt.want)
			}
			// Importing a key means writing it as a cosign.key.
			encrypted, err := keys.EncryptPrivateKey(key, nil)
			if err != nil {
				t.Fatalf("EncryptPrivateKey: %v", err)
			}
			decrypted, err := keys.DecryptPrivateKey(encrypted, nil)
			if err != nil {
				t.Fatalf("DecryptPrivateKey: %v", err)
			}
			if !equalPrivate(decrypted, key) {
				t.Errorf("imported key does not survive EncryptPrivateKey and DecryptPrivateKey")
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	tests := []struct {
		file    string
		private string // the file of the matching private key, if any
		want    string // Describe of the key
	}{
		{"cosign.pub", "", "ECDSA P-256"},
		{"cert.pem", "ec-p256-sec1.pem", "ECDSA P-256"},
		{"rsa-pub-pkcs1.pem", "rsa-pkcs1.pem", "RSA 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			pub, err := keys.ParsePublicKey(readTestdata(t, tt.file))
			if err != nil {
				t.Fatalf("ParsePublicKey: %v", err)
			}
			if got := keys.Describe(pub); got != tt.want {
				t.Errorf("Describe = %q, want %q", got, tt.want)
			}
			if tt.private == "" {
				return
			}
			key, err := keys.ParsePrivateKey(readTestdata(t, tt.private))
			if err != nil {
				t.Fatalf("ParsePrivateKey(%s): %v", tt.private, err)
			}
			if !equalPublic(pub, key.Public()) {
				t.Errorf("public key of %s is not the public half of %s", tt.file, tt.private)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	password := []byte(testPassword)
	decrypt := func(b []byte) error {
		_, err := keys.DecryptPrivateKey(b, password)
		return err
	}
	parsePrivate := func(b []byte) error {
		_, err := keys.ParsePrivateKey(b)
		return err
	}
	parsePublic := func(b []byte) error {
		_, err := keys.ParsePublicKey(b)
		return err
	}

	cosignKey := readTestdata(t, "cosign.key")
	cosignPub := readTestdata(t, "cosign.pub")
	ecKey := readTestdata(t, "ec-p256-sec1.pem")
	p224 := readTestdata(t, "ec-p224-sec1.pem")
	rsa1024 := readTestdata(t, "rsa-1024-pkcs8.pem")

	// Envelopes that are well-formed JSON but not what cosign writes.
	envelope := func(edit func(env map[string]any)) []byte {
		t.Helper()
		block, _ := pem.Decode(cosignKey)
		if block == nil {
			t.Fatal("testdata/cosign.key holds no PEM block")
		}
		var env map[string]any
		if err := json.Unmarshal(block.Bytes, &env); err != nil {
			t.Fatalf("testdata/cosign.key: %v", err)
		}
		edit(env)
		body, err := json.Marshal(env)
		if err != nil {
			t.Fatalf("marshaling edited envelope: %v", err)
		}
		return pemEncode(block.Type, body)
	}
	field := func(env map[string]any, path ...string) map[string]any {
		for _, p := range path {
			env = env[p].(map[string]any)
		}
		return env
	}
	// Keys sealed correctly under the password but not valid inside.
	sealed := func(plaintext []byte) []byte {
		t.Helper()
		body, err := encrypted.EncryptWithCustomKDFParameters(plaintext, password, encrypted.Legacy)
		if err != nil {
			t.Fatalf("encrypting: %v", err)
		}
		return pemEncode("ENCRYPTED SIGSTORE PRIVATE KEY", body)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generating X25519 key: %v", err)
	}
	x25519DER, err := x509.MarshalPKCS8PrivateKey(x25519)
	if err != nil {
		t.Fatalf("marshaling X25519 key: %v", err)
	}
	x25519PubDER, err := x509.MarshalPKIXPublicKey(x25519.PublicKey())
	if err != nil {
		t.Fatalf("marshaling X25519 public key: %v", err)
	}

	tests := []struct {
		name    string
		parse   func([]byte) error
		input   []byte
		wantErr string
		wantIs  error // if not nil, errors.Is(err, wantIs) must hold
	}{
		// Framing, for every parser.
		{"decrypt/empty", decrypt, nil, "keys: no PEM block found", nil},
		{"decrypt/not PEM", decrypt, []byte("hello"), "keys: no PEM block found", nil},
		{"decrypt/truncated", decrypt, readTestdata(t, "truncated.key"), "keys: malformed or truncated PEM block", nil},
		{"decrypt/trailing data", decrypt, append(bytes.Clone(cosignKey), "extra"...), `keys: unexpected data after the "ENCRYPTED SIGSTORE PRIVATE KEY" PEM block`, nil},
		{"decrypt/two blocks", decrypt, append(bytes.Clone(cosignKey), cosignKey...), "keys: unexpected data after", nil},
		{"private/empty", parsePrivate, nil, "keys: no PEM block found", nil},
		{"private/trailing data", parsePrivate, append(bytes.Clone(ecKey), "extra"...), "keys: unexpected data after", nil},
		{"public/empty", parsePublic, []byte("\n"), "keys: no PEM block found", nil},
		{"public/truncated", parsePublic, cosignPub[:len(cosignPub)-10], "keys: malformed or truncated PEM block", nil},
		{"public/trailing data", parsePublic, append(bytes.Clone(cosignPub), "extra"...), "keys: unexpected data after", nil},

		// PEM types.
		{"decrypt/wrong type", decrypt, readTestdata(t, "wrong-type.pem"), `keys: PEM type "FOO" is not a private key (want ENCRYPTED SIGSTORE PRIVATE KEY)`, nil},
		{"decrypt/public key", decrypt, cosignPub, `keys: PEM type "PUBLIC KEY" is not a private key`, nil},
		{"decrypt/unencrypted key", decrypt, ecKey, `keys: PEM type "EC PRIVATE KEY" is an unencrypted private key (want ENCRYPTED SIGSTORE PRIVATE KEY; import it instead)`, nil},
		{"private/wrong type", parsePrivate, readTestdata(t, "wrong-type.pem"), `keys: PEM type "FOO" is not a private key (want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)`, nil},
		{"private/cosign key", parsePrivate, cosignKey, `keys: PEM type "ENCRYPTED SIGSTORE PRIVATE KEY" is an encrypted cosign key`, nil},
		{"private/encrypted pkcs8", parsePrivate, pemEncode("ENCRYPTED PRIVATE KEY", []byte{0x30, 0}), `keys: PEM type "ENCRYPTED PRIVATE KEY" (password-protected PKCS #8) is not supported`, nil},
		{"private/proc-type", parsePrivate, []byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"), "legacy Proc-Type header", nil},
		{"public/wrong type", parsePublic, readTestdata(t, "wrong-type.pem"), `keys: PEM type "FOO" is not a public key (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)`, nil},
		{"public/private key", parsePublic, ecKey, `keys: PEM type "EC PRIVATE KEY" is not a public key`, nil},

		// DER.
		{"private/bad pkcs8", parsePrivate, pemEncode("PRIVATE KEY", []byte("junk")), "keys: parsing PKCS #8 private key: ", nil},
		{"private/bad sec1", parsePrivate, pemEncode("EC PRIVATE KEY", []byte("junk")), "keys: parsing SEC 1 EC private key: ", nil},
		{"private/bad pkcs1", parsePrivate, pemEncode("RSA PRIVATE KEY", []byte("junk")), "keys: parsing PKCS #1 RSA private key: ", nil},
		{"public/bad pkix", parsePublic, pemEncode("PUBLIC KEY", []byte("junk")), "keys: parsing PKIX public key: ", nil},
		{"public/bad pkcs1", parsePublic, pemEncode("RSA PUBLIC KEY", []byte("junk")), "keys: parsing PKCS #1 public key: ", nil},
		{"public/bad certificate", parsePublic, pemEncode("CERTIFICATE", []byte("junk")), "keys: parsing certificate: ", nil},

		// The encrypted envelope.
		{"decrypt/bad json", decrypt, readTestdata(t, "bad-json.key"), "keys: malformed encrypted key: unexpected end of JSON input", nil},
		{"decrypt/not json", decrypt, pemEncode("ENCRYPTED SIGSTORE PRIVATE KEY", []byte("hello")), "keys: malformed encrypted key: invalid character", nil},
		{"decrypt/json null", decrypt, pemEncode("ENCRYPTED SIGSTORE PRIVATE KEY", []byte("null")), `keys: unsupported key derivation function "" (want scrypt)`, nil},
		{"decrypt/kdf", decrypt, envelope(func(env map[string]any) {
			field(env, "kdf")["name"] = "argon2id"
		}), `keys: unsupported key derivation function "argon2id" (want scrypt)`, nil},
		{"decrypt/cheap scrypt", decrypt, envelope(func(env map[string]any) {
			field(env, "kdf", "params")["N"] = 1024
		}), "keys: unsupported scrypt parameters N=1024 r=8 p=1", nil},
		{"decrypt/costly scrypt", decrypt, envelope(func(env map[string]any) {
			field(env, "kdf", "params")["p"] = 1000
		}), "keys: unsupported scrypt parameters N=65536 r=8 p=1000", nil},
		{"decrypt/cipher", decrypt, envelope(func(env map[string]any) {
			field(env, "cipher")["name"] = "aes-gcm"
		}), `keys: unsupported cipher "aes-gcm" (want nacl/secretbox)`, nil},
		{"decrypt/short nonce", decrypt, envelope(func(env map[string]any) {
			field(env, "cipher")["nonce"] = "AAAA"
		}), "keys: secretbox nonce is 3 bytes (want 24)", nil},
		{"decrypt/bad base64", decrypt, envelope(func(env map[string]any) {
			env["ciphertext"] = "!!!"
		}), "keys: malformed encrypted key: illegal base64 data", nil},
		{"decrypt/short ciphertext", decrypt, envelope(func(env map[string]any) {
			env["ciphertext"] = "AAAA"
		}), "keys: ciphertext is 3 bytes, too short to hold a key", nil},
		{"decrypt/tampered ciphertext", decrypt, envelope(func(env map[string]any) {
			env["ciphertext"] = strings.Repeat("A", 160)
		}), "keys: wrong password or corrupted key", keys.ErrWrongPassword},
		{"decrypt/tampered salt", decrypt, envelope(func(env map[string]any) {
			field(env, "kdf")["salt"] = "AAAA"
		}), "keys: wrong password or corrupted key", keys.ErrWrongPassword},

		// What the envelope holds.
		{"decrypt/not pkcs8", decrypt, sealed([]byte("not a key")), "keys: decrypted key is not valid PKCS #8: ", nil},
		{"decrypt/P-224", decrypt, sealed(pkcs8Of(t, p224)), `keys: unsupported key: ECDSA curve "P-224" (want P-256, P-384 or P-521)`, keys.ErrUnsupportedKey},
		{"decrypt/RSA 1024", decrypt, sealed(pkcs8Of(t, rsa1024)), "keys: unsupported key: RSA key of 1024 bits (want 2048 to 4096)", keys.ErrUnsupportedKey},
		{"decrypt/X25519", decrypt, sealed(x25519DER), "keys: unsupported key: private key of type *ecdh.PrivateKey", keys.ErrUnsupportedKey},

		// Well-formed keys hallmark does not support.
		{"private/P-224", parsePrivate, p224, `keys: unsupported key: ECDSA curve "P-224"`, keys.ErrUnsupportedKey},
		{"private/RSA 1024", parsePrivate, rsa1024, "keys: unsupported key: RSA key of 1024 bits", keys.ErrUnsupportedKey},
		{"private/X25519", parsePrivate, pemEncode("PRIVATE KEY", x25519DER), "keys: unsupported key: private key of type *ecdh.PrivateKey", keys.ErrUnsupportedKey},
		{"public/DSA", parsePublic, readTestdata(t, "dsa-pub.pem"), "keys: unsupported key: public key of type *dsa.PublicKey", keys.ErrUnsupportedKey},
		{"public/X25519", parsePublic, pemEncode("PUBLIC KEY", x25519PubDER), "keys: unsupported key: public key of type *ecdh.PublicKey", keys.ErrUnsupportedKey},
		{"public/P-224", parsePublic, publicPEMOf(t, p224), `keys: unsupported key: ECDSA curve "P-224"`, keys.ErrUnsupportedKey},
		{"public/RSA 1024", parsePublic, publicPEMOf(t, rsa1024), "keys: unsupported key: RSA key of 1024 bits", keys.ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.parse(tt.input)
			if err == nil {
				t.Fatalf("got no error, want %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %q, want it to contain %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got error %q, want errors.Is(err, %q)", err, tt.wantIs)
			}
			if tt.wantIs != keys.ErrWrongPassword && errors.Is(err, keys.ErrWrongPassword) {
				t.Errorf("got ErrWrongPassword for a malformed key: %q", err)
			}
		})
	}
}

// otherSigner is a crypto.Signer whose private key cannot be exported.
type otherSigner struct{ crypto.Signer }

func TestEncryptPrivateKeyUnsupported(t *testing.T) {
	p256, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	tests := []struct {
		name    string
		key     crypto.Signer
		wantErr string
	}{
		{"nil", nil, "keys: unsupported key: private key of type <nil>"},
		{"nil ECDSA", (*ecdsa.PrivateKey)(nil), "keys: unsupported key: nil ECDSA private key"},
		{"nil RSA", (*rsa.PrivateKey)(nil), "keys: unsupported key: nil RSA private key"},
		{"short Ed25519", ed25519.PrivateKey(make([]byte, 10)), "keys: unsupported key: Ed25519 private key of 10 bytes (want 64)"},
		{"P-224", x509Private(t, "ec-p224-sec1.pem"), `keys: unsupported key: ECDSA curve "P-224"`},
		{"RSA 1024", x509Private(t, "rsa-1024-pkcs8.pem"), "keys: unsupported key: RSA key of 1024 bits"},
		{"hardware key", otherSigner{p256}, "keys: unsupported key: private key of type keys_test.otherSigner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keys.EncryptPrivateKey(tt.key, []byte(testPassword))
			if !errors.Is(err, keys.ErrUnsupportedKey) {
				t.Fatalf("got error %v, want ErrUnsupportedKey", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestMarshalPublicKeyUnsupported(t *testing.T) {
	p256, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generating X25519 key: %v", err)
	}
	tests := []struct {
		name    string
		pub     crypto.PublicKey
		wantErr string
	}{
		{"nil", nil, "keys: unsupported key: no public key"},
		{"nil ECDSA", (*ecdsa.PublicKey)(nil), "keys: unsupported key: ECDSA public key without a curve"},
		{"nil RSA", (*rsa.PublicKey)(nil), "keys: unsupported key: RSA public key without a modulus"},
		{"short Ed25519", ed25519.PublicKey(make([]byte, 31)), "keys: unsupported key: Ed25519 public key of 31 bytes (want 32)"},
		{"P-224", x509Private(t, "ec-p224-sec1.pem").Public(), `keys: unsupported key: ECDSA curve "P-224"`},
		{"RSA 1024", x509Private(t, "rsa-1024-pkcs8.pem").Public(), "keys: unsupported key: RSA key of 1024 bits"},
		{"X25519", x25519.PublicKey(), "keys: unsupported key: public key of type *ecdh.PublicKey"},
		{"private key", p256, "keys: unsupported key: public key of type *ecdsa.PrivateKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keys.MarshalPublicKey(tt.pub)
			if !errors.Is(err, keys.ErrUnsupportedKey) {
				t.Fatalf("got error %v, want ErrUnsupportedKey", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	pubPEM := readTestdata(t, "cosign.pub")
	block, _ := pem.Decode(pubPEM)
	if block == nil {
		t.Fatal("testdata/cosign.pub holds no PEM block")
	}
	sum := sha256.Sum256(block.Bytes)
	pub, err := keys.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	if got, want := keys.Fingerprint(pub), "SHA256:"+hex.EncodeToString(sum[:]); got != want {
		t.Errorf("Fingerprint = %q, want %q", got, want)
	}
	if got := keys.Fingerprint(nil); got != "" {
		t.Errorf("Fingerprint(nil) = %q, want empty", got)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want string
	}{
		{"P-224", x509Private(t, "ec-p224-sec1.pem").Public(), "ECDSA P-224"},
		{"RSA 1024", x509Private(t, "rsa-1024-pkcs8.pem").Public(), "RSA 1024"},
		{"nil", nil, "unsupported key (<nil>)"},
		{"nil ECDSA", (*ecdsa.PublicKey)(nil), "unsupported key (*ecdsa.PublicKey)"},
		{"nil RSA", &rsa.PublicKey{}, "unsupported key (*rsa.PublicKey)"},
		{"string", "key", "unsupported key (string)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keys.Describe(tt.pub); got != tt.want {
				t.Errorf("Describe = %q, want %q", got, tt.want)
			}
		})
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	return readFile(t, filepath.Join("testdata", name))
}

func pemEncode(typ string, body []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: body})
}

func pemType(t testing.TB, data []byte) string {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("no PEM block in %q", data)
	}
	return block.Type
}

// kdfParams returns the scrypt parameters of an encrypted key.
func kdfParams(t testing.TB, key []byte) scryptParams {
	t.Helper()
	block, _ := pem.Decode(key)
	if block == nil {
		t.Fatalf("no PEM block in %q", key)
	}
	var env struct {
		KDF struct {
			Params scryptParams `json:"params"`
		} `json:"kdf"`
	}
	if err := json.Unmarshal(block.Bytes, &env); err != nil {
		t.Fatalf("parsing encrypted key: %v", err)
	}
	return env.KDF.Params
}

// x509Private parses a PEM private key from testdata with crypto/x509
// alone, for keys that keys.ParsePrivateKey rejects.
func x509Private(t testing.TB, name string) crypto.Signer {
	t.Helper()
	return x509Signer(t, readTestdata(t, name))
}

// x509Signer parses a SEC 1 or PKCS #8 PEM private key with crypto/x509.
func x509Signer(t testing.TB, pemKey []byte) crypto.Signer {
	t.Helper()
	block, _ := pem.Decode(pemKey)
	if block == nil {
		t.Fatalf("no PEM block in %q", pemKey)
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		t.Fatalf("unexpected PEM type %q", block.Type)
	}
	if err != nil {
		t.Fatalf("parsing %s: %v", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		t.Fatalf("%T is not a crypto.Signer", key)
	}
	return signer
}

func pkcs8Of(t testing.TB, pemKey []byte) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(x509Signer(t, pemKey))
	if err != nil {
		t.Fatalf("marshaling PKCS #8: %v", err)
	}
	return der
}

func publicPEMOf(t testing.TB, pemKey []byte) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(x509Signer(t, pemKey).Public())
	if err != nil {
		t.Fatalf("marshaling PKIX: %v", err)
	}
	return pemEncode("PUBLIC KEY", der)
}

func equalPublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

func equalPrivate(a, b crypto.Signer) bool {
	e, ok := a.(interface{ Equal(crypto.PrivateKey) bool })
	return ok && e.Equal(b)
}
