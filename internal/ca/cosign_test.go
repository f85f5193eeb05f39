package ca_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// cosignBinary finds the real cosign on PATH; without it the test skips,
// unless HALLMARK_REQUIRE_PEERS=1 makes peers mandatory.
func cosignBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("cosign")
	if err != nil {
		if os.Getenv("HALLMARK_REQUIRE_PEERS") == "1" {
			t.Fatalf("cosign not on PATH and HALLMARK_REQUIRE_PEERS=1: %v", err)
		}
		t.Skip("cosign not on PATH")
	}
	return p
}

// TestCosignKeyless has the real cosign (v3, which requests certificates
// through sigstore-go's Fulcio v2 client) sign a blob with a certificate
// from the CA, both through the (deprecated) --fulcio-url flag and through
// a signing config without a transparency log, then checks each bundle
// with sigstore-go and with cosign's own verify-blob, both requiring the
// SCT the CA embeds from its CT log (cosign's default).
func TestCosignKeyless(t *testing.T) {
	cosign := cosignBinary(t)
	s := newStack(t, stackOptions{ct: true})
	work := t.TempDir()
	trJSON, err := s.trustedRoot(t).MarshalJSON()
	if err != nil {
		t.Fatalf("trusted root: %v", err)
	}
	sc, err := root.NewSigningConfig(root.SigningConfigMediaType02,
		[]root.Service{{URL: s.caSrv.URL, MajorAPIVersion: 1, ValidityPeriodStart: time.Now().Add(-time.Hour)}},
		nil, nil, root.ServiceConfiguration{}, nil, root.ServiceConfiguration{})
	if err != nil {
		t.Fatalf("signing config: %v", err)
	}
	scJSON, err := sc.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	trPath := filepath.Join(work, "trusted_root.json")
	scPath := filepath.Join(work, "signing_config.json")
	blob := filepath.Join(work, "blob.txt")
	for path, data := range map[string][]byte{trPath: trJSON, scPath: scJSON, blob: []byte("signed by cosign\n")} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const subject = "alice@example.com"

	run := func(t *testing.T, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), cosign, args...)
		// A private HOME and TUF root: cosign must need nothing from the
		// network or the user's configuration.
		cmd.Env = append(os.Environ(),
			"HOME="+filepath.Join(work, "home"),
			"TUF_ROOT="+filepath.Join(work, "tuf"),
		)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("cosign %v: %v\n%s", args, err, out.String())
		}
		t.Logf("cosign %s:\n%s", args[0], out.String())
	}

	for _, tt := range []struct {
		name  string
		flags []string
	}{
		{"fulcio-url", []string{"--fulcio-url", s.caSrv.URL, "--use-signing-config=false", "--tlog-upload=false", "--new-bundle-format"}},
		{"signing-config", []string{"--signing-config", scPath}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bundlePath := filepath.Join(work, tt.name+".sigstore.json")
			before := s.issued.Load()
			args := append([]string{"sign-blob",
				"--identity-token", mint(t, s.email, subject, "sigstore", nil),
				"--trusted-root", trPath, // cosign verifies the fresh bundle against it
				"--bundle", bundlePath,
				"-y"}, tt.flags...)
			run(t, append(args, blob)...)
			if got := s.issued.Load() - before; got != 1 {
				t.Fatalf("cosign obtained %d certificates, want 1", got)
			}

			b, err := bundle.LoadJSONFromPath(bundlePath)
			if err != nil {
				t.Fatalf("loading cosign's bundle: %v", err)
			}
			v, err := verify.NewVerifier(s.trustedRoot(t), verify.WithCurrentTime(), verify.WithSignedCertificateTimestamps(1))
			if err != nil {
				t.Fatal(err)
			}
			id, err := verify.NewShortCertificateIdentity(s.email.URL(), "", subject, "")
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(blob)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(data)), verify.WithCertificateIdentity(id))); err != nil {
				t.Fatalf("sigstore-go verifying cosign's bundle: %v", err)
			}

			run(t, "verify-blob",
				"--bundle", bundlePath,
				"--trusted-root", trPath,
				"--certificate-identity", subject,
				"--certificate-oidc-issuer", s.email.URL(),
				"--insecure-ignore-tlog",
				blob)
		})
	}
}
