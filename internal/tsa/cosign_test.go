package tsa_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"hallmark.dev/internal/tsa"
)

// cosignRunner returns a function that runs the real cosign in dir, with
// HOME and TUF_ROOT in dir and COSIGN_PASSWORD set. It skips the test if
// cosign is not on PATH, or fails it if HALLMARK_REQUIRE_PEERS=1.
func cosignRunner(t *testing.T, dir string) func(args ...string) ([]byte, error) {
	t.Helper()
	bin, err := exec.LookPath("cosign")
	if err != nil {
		if os.Getenv("HALLMARK_REQUIRE_PEERS") == "1" {
			t.Fatalf("cosign is not on PATH and HALLMARK_REQUIRE_PEERS=1: %v", err)
		}
		t.Skipf("cosign is not on PATH: %v", err)
	}
	env := append(os.Environ(),
		"HOME="+filepath.Join(dir, "home"),
		"TUF_ROOT="+filepath.Join(dir, "tuf"),
		"COSIGN_PASSWORD=tsa-test",
	)
	return func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Dir = dir
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = &out
		err := cmd.Run()
		return out.Bytes(), err
	}
}

// TestCosign has the real cosign sign a blob with a timestamp from the TSA,
// checks the timestamp in its bundle with sigstore-go, and has cosign
// verify the bundle against a trusted_root.json that lists the TSA.
func TestCosign(t *testing.T) {
	dir := t.TempDir()
	cosign := cosignRunner(t, dir)
	a, err := tsa.New(tsa.Config{Dir: filepath.Join(dir, "tsa")})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := serve(t, a)

	if out, err := cosign("generate-key-pair", "--output-key-prefix", "cosign"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	blob := []byte("a blob cosign signs with a hallmark timestamp\n")
	if err := os.WriteFile(filepath.Join(dir, "blob"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Truncate(time.Second)
	if out, err := cosign("sign-blob", "--key", "cosign.key",
		"--timestamp-server-url", srv.URL+"/api/v1/timestamp",
		"--use-signing-config=false", "--tlog-upload=false",
		"--bundle", "blob.sigstore.json", "-y", "blob"); err != nil {
		t.Fatalf("cosign sign-blob: %v\n%s", err, out)
	}

	b, err := bundle.LoadJSONFromPath(filepath.Join(dir, "blob.sigstore.json"))
	if err != nil {
		t.Fatalf("loading cosign's bundle: %v", err)
	}
	tokens, err := b.Timestamps()
	if err != nil {
		t.Fatalf("bundle timestamps: %v", err)
	}
	if len(tokens) != 1 {
		t.Fatalf("bundle has %d RFC 3161 timestamps, want 1", len(tokens))
	}
	ts, err := timestamp.ParseResponse(tokens[0])
	if err != nil {
		t.Fatalf("ParseResponse of cosign's timestamp: %v", err)
	}
	if ts.Time.Before(before) || ts.Time.After(time.Now()) {
		t.Errorf("timestamp time: got %v, want between %v and now", ts.Time, before)
	}

	tr, trJSON := trustedRoot(t, a, srv.URL)
	sigContent, err := b.SignatureContent()
	if err != nil {
		t.Fatalf("bundle signature: %v", err)
	}
	if _, err := tr.TimestampingAuthorities()[0].Verify(tokens[0], sigContent.Signature()); err != nil {
		t.Errorf("verifying the timestamp over cosign's signature: %v", err)
	}

	pubPEM, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		t.Fatalf("cosign.pub: %v", err)
	}
	sigVerifier, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		t.Fatalf("LoadDefaultVerifier: %v", err)
	}
	key := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(sigVerifier, time.Time{}, time.Time{}), nil
	})
	v, err := verify.NewVerifier(root.TrustedMaterialCollection{tr, key}, verify.WithSignedTimestamps(1))
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	if _, err := v.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(blob)), verify.WithKey())); err != nil {
		t.Errorf("sigstore-go Verify of cosign's bundle: %v", err)
	}

	// cosign itself, trusting the TSA through trusted_root.json.
	_, otherJSON := trustedRoot(t, newTSA(t), "https://other.test")
	for _, tc := range []struct {
		name    string
		root    []byte
		wantErr string // in cosign's output; "" for success
	}{
		{"this TSA trusted", trJSON, ""},
		{"another TSA trusted", otherJSON, "threshold not met for verified signed timestamps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			if err := os.WriteFile(path, tc.root, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := cosign("verify-blob", "--key", "cosign.pub", "--bundle", "blob.sigstore.json",
				"--trusted-root", path, "--use-signed-timestamps", "--insecure-ignore-tlog=true", "blob")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("cosign verify-blob: %v\n%s", err, out)
			case tc.wantErr != "" && (err == nil || !bytes.Contains(out, []byte(tc.wantErr))):
				t.Errorf("cosign verify-blob: got error %v, want one saying %q\n%s", err, tc.wantErr, out)
			}
		})
	}
}
