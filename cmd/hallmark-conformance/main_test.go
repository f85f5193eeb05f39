package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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

// conformanceRun is one run of a sigstore-conformance case: the adapter's
// arguments and whether the suite wants the bundle rejected.
type conformanceRun struct {
	name       string // case/file or case/digest
	args       []string
	wantReject bool
}

// conformanceRuns lays out every offline case of the checked-in
// sigstore-conformance data (testdata/sigstore-conformance/README.md), with
// the artifact and with its digest: 140 runs. A case whose name ends in
// _fail must be rejected, every other must verify.
func conformanceRuns(t *testing.T) []conformanceRun {
	t.Helper()
	base := filepath.Join("testdata", "sigstore-conformance")
	cases, err := filepath.Glob(filepath.Join(base, "bundle-verify", "*", "bundle.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 70 {
		t.Fatalf("found %d cases in %s, want 70", len(cases), base)
	}
	var runs []conformanceRun
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
			args := append([]string{"verify-bundle", "--bundle", bundle}, who...)
			args = append(args, "--trusted-root", root, input)
			runs = append(runs, conformanceRun{name + "/" + mode, args, strings.HasSuffix(name, "_fail")})
		}
	}
	if len(runs) != 140 {
		t.Fatalf("laid out %d runs, want 140", len(runs))
	}
	return runs
}

// TestConformance runs every case in-process. A rejection must be a
// verdict on the bundle, not a call the adapter could not act on.
func TestConformance(t *testing.T) {
	for _, r := range conformanceRuns(t) {
		t.Run(r.name, func(t *testing.T) {
			err := run(r.args)
			switch {
			case r.wantReject && err == nil:
				t.Errorf("verified, want rejected")
			case r.wantReject && errors.As(err, new(invocationError)):
				t.Errorf("rejected for a bad call, want a verdict on the bundle: %v", err)
			case !r.wantReject && err != nil:
				t.Errorf("rejected, want verified: %v", err)
			}
		})
	}
}

// adapterEnv makes the test binary run the adapter's main (see TestMain),
// so the runner drives the real command without building it.
const adapterEnv = "HALLMARK_CONFORMANCE_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(adapterEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestConformanceRunner drives the adapter as a separate process through
// the suite's CLI protocol, as the suite's runner does: exit status 0 is
// verified, 1 is rejected with "hallmark-conformance: error: " and the
// reason on stderr, 2 is a call it could not act on. It needs nothing
// outside the repository, so it never skips.
func TestConformanceRunner(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	adapter := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), adapterEnv+"=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("run adapter: %v", err)
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	}
	runs := conformanceRuns(t)
	// The runner tells a rejection from a bad call: the same failing case
	// with an unknown flag exits 2.
	var failing conformanceRun
	for _, r := range runs {
		if r.wantReject {
			failing = r
			break
		}
	}
	if code, stderr := adapter(append(failing.args[:1:1], append([]string{"--no-such-flag"}, failing.args[1:]...)...)...); code != 2 ||
		!strings.HasPrefix(stderr, "hallmark-conformance: error: flag provided but not defined: -no-such-flag") {
		t.Fatalf("an unknown flag: got exit %d, stderr %q; want exit 2 naming the flag", code, stderr)
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			code, stderr := adapter(r.args...)
			want := 0
			if r.wantReject {
				want = 1
			}
			if code != want {
				t.Fatalf("exit %d, want %d; stderr: %s", code, want, stderr)
			}
			if want == 1 && !strings.HasPrefix(stderr, "hallmark-conformance: error: ") {
				t.Errorf("stderr %q, want the reason after \"hallmark-conformance: error: \"", stderr)
			}
		})
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
