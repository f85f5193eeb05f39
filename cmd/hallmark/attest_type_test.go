package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/attest"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/keys"
)

// An attestation whose predicate type is the image-signature type would,
// attached as a referrer, verify as an image signature carrying
// annotations its author chose: attest and attest-blob refuse to sign one,
// whichever way the statement is made.
func TestAttestRefusesImageSignatureType(t *testing.T) {
	reg := testkit.StartRegistry(t)
	img := reg.PushImage(t, "demo/app:v1", "app")
	dir := t.TempDir()
	kp := testkit.NewKeyPair(t, dir, "cosign", keys.ECDSAP256, "pw")
	pred := lite.WriteFile(t, dir, "pred.json", []byte(`{}`))
	blob := lite.WriteFile(t, dir, "app.tar.gz", []byte("app"))
	_, imgHex, err := attest.SplitDigest(img.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	blobDigest := sha256.Sum256([]byte("app"))
	stmt := lite.WriteFile(t, dir, "statement.json", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"app.tar.gz","digest":{"sha256":"`+
		hex.EncodeToString(blobDigest[:])+`"}},{"digest":{"sha256":"`+imgHex+`"},"annotations":{"approved":"yes"}}],"predicateType":"`+attest.CosignSignPredicateType+`","predicate":{}}`))
	env := func(k string) (string, bool) {
		if k == "HALLMARK_PASSWORD" {
			return "pw", true
		}
		return "", false
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"attest", []string{"attest", "--key", kp.KeyPath, "--predicate", pred, "--type", attest.CosignSignPredicateType, img.String()}},
		{"attest-blob --predicate", []string{"attest-blob", "--key", kp.KeyPath, "--predicate", pred, "--type", attest.CosignSignPredicateType, "--bundle", filepath.Join(dir, "a.json"), blob}},
		{"attest-blob --statement", []string{"attest-blob", "--key", kp.KeyPath, "--statement", stmt, "--bundle", filepath.Join(dir, "b.json"), blob}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &stdout, &stderr, env)
			if code == 0 || !strings.Contains(stderr.String(), "is the image signature's predicate type") {
				t.Fatalf("exit %d, stderr %q; want a refusal naming the image signature's predicate type", code, stderr.String())
			}
		})
	}
	// Nothing was attached: the image has no signature.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"verify", "--key", kp.PubPath, img.String()}, strings.NewReader(""), &stdout, &stderr, env); code == 0 || !strings.Contains(stderr.String(), "no signatures found") {
		t.Errorf("verify: exit %d, stderr %q; want no signatures", code, stderr.String())
	}
}
