package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/internal/identity"
	"hallmark.dev/internal/sample"
	"hallmark.dev/internal/server"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

func start(t *testing.T, dir string) *server.Server {
	t.Helper()
	return startAt(t, dir, "127.0.0.1:0")
}

func startAt(t *testing.T, dir, addr string) *server.Server {
	t.Helper()
	return testkit.Serve(t, server.Config{Addr: addr, DataDir: dir, DevOIDC: true})
}

func TestServeRegistryAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	resp, err := http.Get(s.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("healthz: %d %q %v", resp.StatusCode, body, err)
	}
	img, err := sample.Image("x", "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(s.Addr().String() + "/demo/x:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	trFirst := s.TrustedRoot()

	// A second server on the same data (the first still holds the log, so
	// stop it first by using a sub-test's cleanup order: start anew after
	// closing).
	s.Close()
	s2 := start(t, dir)
	ref2, err := name.ParseReference(s2.Addr().String() + "/demo/x:v1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Head(ref2)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != want {
		t.Errorf("after restart: digest %s, want %s", got.Digest, want)
	}
	if len(trFirst) == 0 {
		t.Error("no trusted root published")
	}
	if _, err := os.Stat(filepath.Join(dir, "trust", server.TrustedRootFile)); err != nil {
		t.Errorf("trusted root not written to the data directory: %v", err)
	}
}

// TestKeylessEndToEnd signs a blob keylessly against the whole stack with
// sigstore-go's own clients (dev OIDC token → CA certificate → Rekor v2 log
// entry → RFC 3161 timestamp) and verifies it offline from the published
// trusted root with an identity.
func TestKeylessEndToEnd(t *testing.T) {
	st := testkit.StartStack(t, nil)
	tr := st.TrustedRoot
	kp, opts := st.KeylessOptions(t, "dev@example.com")
	data := []byte("release artifact\n")
	b, err := sign.Blob(context.Background(), kp, data, opts)
	if err != nil {
		t.Fatalf("keyless sign: %v", err)
	}
	id := verify.Identity{Issuer: st.Issuer, Subject: "dev@example.com"}
	k, err := verify.NewKeyless(tr, id)
	if err != nil {
		t.Fatal(err)
	}
	res, err := verify.Blob("b", b, verify.Artifact{Content: bytesReader(data)}, verify.BlobPolicy{Authority: k})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if res.Signer.Subject != "dev@example.com" || res.Signer.LogEntries != 1 {
		t.Errorf("signer %+v", res.Signer)
	}
	var tsa bool
	for _, ts := range res.Signer.Timestamps {
		tsa = tsa || ts.Type == "timestamp-authority"
	}
	if !tsa {
		t.Errorf("no verified TSA timestamp: %+v", res.Signer.Timestamps)
	}
	// Another identity is refused.
	other, err := verify.NewKeyless(tr, verify.Identity{Issuer: st.Issuer, Subject: "mallory@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.Blob("b", b, verify.Artifact{Content: bytesReader(data)}, verify.BlobPolicy{Authority: other}); err == nil {
		t.Error("verified for another identity")
	}
}

func TestNewNeedsDataDir(t *testing.T) {
	if _, err := server.New(context.Background(), server.Config{}); err == nil {
		t.Error("New without a data directory succeeded")
	}
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// TestKeylessRejections: the verifier rejects, naming the step, a bundle
// whose inclusion proof was tampered with, a bundle checked against another
// server's trusted root (another CA and log key), and a keyless bundle
// without a trusted time (no timestamp; Rekor v2 entries carry none).
func TestKeylessRejections(t *testing.T) {
	s := start(t, t.TempDir())
	other := start(t, t.TempDir())
	tr, err := verify.ParseTrustedRoot(s.TrustedRoot())
	if err != nil {
		t.Fatal(err)
	}
	otherTR, err := verify.ParseTrustedRoot(other.TrustedRoot())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("artifact\n")
	signBlob := func(timestamp bool) []byte { return signKeylessBlob(t, s, data, timestamp) }
	signBlob(true) // so that the tree has more than one entry and proofs have hashes
	good := signBlob(true)
	id := verify.Identity{Issuer: s.URL() + "/oidc", Subject: "dev@example.com"}
	check := func(name string, b []byte, trusted verify.TrustedRoot, want verify.Step) {
		t.Run(name, func(t *testing.T) {
			k, err := verify.NewKeyless(trusted, id)
			if err != nil {
				t.Fatal(err)
			}
			_, err = verify.Blob("b", b, verify.Artifact{Content: bytes.NewReader(data)}, verify.BlobPolicy{Authority: k})
			var se *verify.SignatureError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a rejection at the %s step", err, want)
			}
			if se.Step != want {
				t.Errorf("got step %s (%v), want %s", se.Step, se.Err, want)
			}
		})
	}
	check("tampered inclusion proof", lite.EditJSON(t, good, func(m map[string]any) {
		vm := m["verificationMaterial"].(map[string]any)
		e := vm["tlogEntries"].([]any)[0].(map[string]any)
		p := e["inclusionProof"].(map[string]any)
		hashes := p["hashes"].([]any)
		hashes[0] = base64.StdEncoding.EncodeToString(make([]byte, 32))
	}), tr, verify.StepLog)
	check("another server's trusted root", good, otherTR, verify.StepLog)
	check("no trusted time", signBlob(false), tr, verify.StepTimestamp)
}

// TestCARotation: after the CA's intermediate is rotated, the trusted root
// lists the retired chain (validFor closed at the retirement) and the new
// one; a signature made before the rotation and one made after both verify.
func TestCARotation(t *testing.T) {
	dir := t.TempDir()
	data := []byte("artifact\n")
	signWith := func(s *server.Server) []byte { return signKeylessBlob(t, s, data, true) }
	addr := freeAddr(t)
	s1 := startAt(t, dir, addr)
	before := signWith(s1)
	s1.Close()
	if _, err := server.RotateCA(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	s2 := startAt(t, dir, addr)
	after := signWith(s2)
	var doc struct {
		CertificateAuthorities []struct {
			ValidFor struct{ Start, End string } `json:"validFor"`
		} `json:"certificateAuthorities"`
	}
	if err := json.Unmarshal(s2.TrustedRoot(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.CertificateAuthorities) != 2 || doc.CertificateAuthorities[0].ValidFor.End == "" || doc.CertificateAuthorities[1].ValidFor.End != "" {
		t.Fatalf("trusted root CAs after rotation: %+v, want the retired one closed and the new one open", doc.CertificateAuthorities)
	}
	verifyAcrossRotation(t, s2, data, before, after)
}

// verifyAcrossRotation checks that the signatures of data made before and
// after a CA rotation both verify, as dev@example.com, from the trusted
// root s serves after it.
func verifyAcrossRotation(t *testing.T, s *server.Server, data, before, after []byte) {
	t.Helper()
	tr, err := verify.ParseTrustedRoot(s.TrustedRoot())
	if err != nil {
		t.Fatal(err)
	}
	k, err := verify.NewKeyless(tr, verify.Identity{Issuer: s.URL() + "/oidc", Subject: "dev@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"before rotation": before, "after rotation": after} {
		if _, err := verify.Blob(name, b, verify.Artifact{Content: bytes.NewReader(data)}, verify.BlobPolicy{Authority: k}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// signKeylessBlob signs data keylessly against s with a token from its dev
// issuer for dev@example.com, logged, and timestamped if asked.
func signKeylessBlob(t *testing.T, s *server.Server, data []byte, timestamp bool) []byte {
	t.Helper()
	token, err := s.DevIssuer().Mint("dev@example.com", "sigstore", 10*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := root.NewSigningConfigFromJSON(s.SigningConfig())
	if err != nil {
		t.Fatal(err)
	}
	kp, opts := testkit.EphemeralOptions(t, sign.Services{Config: sc, IDToken: token, Log: true, Timestamp: timestamp})
	b, err := sign.Blob(context.Background(), kp, data, opts)
	if err != nil {
		t.Fatalf("keyless sign: %v", err)
	}
	return b
}

// TestDevOIDCConfined: the development issuer, which mints tokens for
// anyone, runs neither off loopback nor beside real issuers.
func TestDevOIDCConfined(t *testing.T) {
	_, err := server.New(context.Background(), server.Config{Addr: "0.0.0.0:0", DataDir: t.TempDir(), DevOIDC: true})
	if err == nil || !strings.Contains(err.Error(), "only runs on a loopback address") {
		t.Errorf("off loopback: got %v", err)
	}
	_, err = server.New(context.Background(), server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), DevOIDC: true,
		Issuers: []identity.Issuer{{URL: "https://token.actions.githubusercontent.com", Type: identity.TypeGitHubWorkflow}}})
	if err == nil || !strings.Contains(err.Error(), "cannot run beside real OIDC issuers") {
		t.Errorf("beside real issuers: got %v", err)
	}
}

// TestDevOIDCRefusedBehindPublicURL: the development issuer mints tokens for
// anyone, so it does not run where a public URL sends clients, whatever
// address it listens on. A refused start leaves nothing in the data
// directory that stops the corrected start on it.
func TestDevOIDCRefusedBehindPublicURL(t *testing.T) {
	tests := []struct {
		name      string
		publicURL string
		wantErr   string // empty: the start succeeds
	}{
		{"public name", "https://sign.example.com", `public URL "https://sign.example.com" is not on loopback`},
		{"public address", "http://203.0.113.7:5005", `public URL "http://203.0.113.7:5005" is not on loopback`},
		{"unspecified address", "http://0.0.0.0:5005", "is not on loopback"},
		{"name that starts like loopback", "http://127.0.0.1.example.com", "is not on loopback"},
		{"not a URL", "://nope", "public URL"},
		{"loopback address", "http://127.0.0.1:5005", ""},
		{"loopback IPv6", "http://[::1]:5005", ""},
		{"localhost", "http://localhost:5005", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := server.New(t.Context(), server.Config{Addr: "127.0.0.1:0", DataDir: dir, PublicURL: tt.publicURL, DevOIDC: true})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New with public URL %q: %v", tt.publicURL, err)
				}
				if err := s.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("New with --dev-oidc behind public URL %q succeeded, want it refused", tt.publicURL)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %q, want it to say %q", err, tt.wantErr)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatalf("reading the data directory: %v", err)
			}
			if len(entries) != 0 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("refused start left %v in the data directory, want nothing", names)
			}
			// The corrected start, on the same directory and the same
			// public name's absence, serves and signs.
			s2 := start(t, dir)
			signKeylessBlob(t, s2, []byte("after a refused start\n"), true)
		})
	}
}

// TestRefusedStartKeepsExistingState: a refused start on a directory that
// has served before changes none of its published documents.
func TestRefusedStartKeepsExistingState(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	s := startAt(t, dir, addr)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	trustedRoot := filepath.Join(dir, "trust", server.TrustedRootFile)
	before, err := os.ReadFile(trustedRoot)
	if err != nil {
		t.Fatalf("reading the trusted root: %v", err)
	}
	if _, err := server.New(t.Context(), server.Config{Addr: addr, DataDir: dir, PublicURL: "https://sign.example.com", DevOIDC: true}); err == nil || !strings.Contains(err.Error(), "not on loopback") {
		t.Fatalf("got %v, want a refusal for the public URL", err)
	}
	after, err := os.ReadFile(trustedRoot)
	if err != nil {
		t.Fatalf("reading the trusted root: %v", err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("a refused start rewrote the trusted root:\n%s", after)
	}
	startAt(t, dir, addr)
}
