package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	defaultIdentity = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
	defaultIssuer   = "https://token.actions.githubusercontent.com"
)

// TestConformance runs every offline case of the sigstore-conformance
// suite, with the artifact and with its digest: 140 runs. A case whose name
// ends in _fail must be rejected, every other must verify.
func TestConformance(t *testing.T) {
	base := filepath.Join("testdata", "sigstore-conformance")
	cases, err := filepath.Glob(filepath.Join(base, "bundle-verify", "*", "bundle.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 70 {
		t.Fatalf("found %d cases, want 70", len(cases))
	}
	runs := 0
	for _, bundle := range cases {
		dir := filepath.Dir(bundle)
		name := filepath.Base(dir)
		artifact := filepath.Join(base, "bundle-verify", "a.txt")
		if exists(filepath.Join(dir, "artifact")) {
			artifact = filepath.Join(dir, "artifact")
		}
		root := filepath.Join(base, "public-good-trusted_root.json")
		if exists(filepath.Join(dir, "trusted_root.json")) {
			root = filepath.Join(dir, "trusted_root.json")
		}
		var who []string
		if exists(filepath.Join(dir, "key.pub")) {
			who = []string{"--key", filepath.Join(dir, "key.pub")}
		} else {
			who = []string{"--certificate-identity", readOr(t, filepath.Join(dir, "identity"), defaultIdentity),
				"--certificate-oidc-issuer", readOr(t, filepath.Join(dir, "issuer"), defaultIssuer)}
		}
		data, err := os.ReadFile(artifact)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		for _, input := range []string{artifact, "sha256:" + hex.EncodeToString(sum[:])} {
			mode := "file"
			if strings.HasPrefix(input, "sha256:") {
				mode = "digest"
			}
			t.Run(name+"/"+mode, func(t *testing.T) {
				runs++
				args := append([]string{"verify-bundle", "--bundle", bundle}, who...)
				args = append(args, "--trusted-root", root, input)
				err := run(args)
				if strings.HasSuffix(name, "_fail") {
					if err == nil {
						t.Errorf("verified, want rejected")
					}
					return
				}
				if err != nil {
					t.Errorf("rejected, want verified: %v", err)
				}
			})
		}
	}
	if runs != 140 {
		t.Errorf("ran %d, want 140", runs)
	}
}

// TestConformanceRunner runs the suite's own runner script against the
// built adapter when the project's shared tools are beside the checkout
// (as in CI).
func TestConformanceRunner(t *testing.T) {
	runner, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "tools", "sigstore-conformance-verify"))
	if err != nil {
		t.Fatal(err)
	}
	if !exists(runner) {
		t.Skipf("%s not present", runner)
	}
	bin := filepath.Join(t.TempDir(), "hallmark-conformance")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(runner, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("runner: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "140 passed, 0 failed") {
		t.Errorf("runner says:\n%s", out)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func readOr(t *testing.T, path, def string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return def
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
