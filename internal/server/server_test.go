package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"hallmark.dev/internal/sample"
	"hallmark.dev/internal/server"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

func start(t *testing.T, dir string) *server.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0", DataDir: dir, DevOIDC: true})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
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
	s := start(t, t.TempDir())
	token, err := s.DevIssuer().Mint("dev@example.com", "sigstore", 10*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := root.NewSigningConfigFromJSON(s.SigningConfig())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := verify.ParseTrustedRoot(s.TrustedRoot())
	if err != nil {
		t.Fatal(err)
	}
	opts, err := sign.Services{Config: sc, TrustedRoot: tr, IDToken: token, Log: true, Timestamp: true}.Options(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sgsign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("release artifact\n")
	b, err := sign.Blob(context.Background(), kp, data, opts)
	if err != nil {
		t.Fatalf("keyless sign: %v", err)
	}
	id := verify.Identity{Issuer: s.URL() + "/oidc", Subject: "dev@example.com"}
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
	other, err := verify.NewKeyless(tr, verify.Identity{Issuer: s.URL() + "/oidc", Subject: "mallory@example.com"})
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
