// Package testkit starts what hallmark's tests need, in process and on
// loopback, in milliseconds: registries (hallmark's own disk-backed one with
// the referrers API, and an in-memory one without it), sample images and
// indexes, key pairs, the whole server stack (registry, CA, log, TSA and
// dev OIDC issuer, [StartStack], or any server.Config, [Serve]) with
// signers for it and the signing policy records they sign, and a fake
// trivy.
// It also starts, when the tools are installed, an ssh-agent whose key
// lives in a SoftHSM2 token ([StartHSMAgent]). What starts nothing (test
// inputs made in memory) is in internal/testkit/lite, which the tests of
// packages the server is built from can import.
package testkit

import (
	"crypto"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"hallmark.dev/internal/registry"
	"hallmark.dev/internal/sample"
	"hallmark.dev/keys"
)

// Registry is a registry running for a test.
type Registry struct {
	// Host is host:port, to prefix repositories with.
	Host string
	// Server is the underlying test server.
	Server *httptest.Server
}

// StartRegistry starts hallmark's embedded registry (distribution with the
// referrers API) on a loopback port with its data in a temporary directory.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	return StartRegistryIn(t, t.TempDir())
}

// StartRegistryIn starts the embedded registry on dir.
func StartRegistryIn(t testing.TB, dir string) *Registry {
	t.Helper()
	h, err := registry.New(t.Context(), registry.Config{Dir: dir})
	if err != nil {
		t.Fatalf("start registry: %v", err)
	}
	return serve(t, h)
}

// StartRegistryWrapped starts the embedded registry behind wrap, a handler
// that may inject failures.
func StartRegistryWrapped(t testing.TB, wrap func(http.Handler) http.Handler) *Registry {
	t.Helper()
	h, err := registry.New(t.Context(), registry.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start registry: %v", err)
	}
	return serve(t, wrap(h))
}

// StartMemoryRegistry starts go-containerregistry's in-memory registry.
// Without the referrers API, signatures go through the referrers tag schema.
func StartMemoryRegistry(t testing.TB, referrersAPI bool) *Registry {
	t.Helper()
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithReferrersSupport(referrersAPI))
	return serve(t, h)
}

func serve(t testing.TB, h http.Handler) *Registry {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Registry{Host: strings.TrimPrefix(srv.URL, "http://"), Server: srv}
}

// PushImage pushes a sample image whose content is text to ref (a path
// under the registry, e.g. "demo/hello:v1") and returns its digest reference.
func (r *Registry) PushImage(t testing.TB, ref, text string) name.Digest {
	t.Helper()
	img, err := sample.Image(text, "linux", "amd64")
	if err != nil {
		t.Fatalf("sample image: %v", err)
	}
	return r.push(t, ref, img)
}

// PushIndex pushes a two-platform sample index.
func (r *Registry) PushIndex(t testing.TB, ref, text string) name.Digest {
	t.Helper()
	idx, err := sample.Index(text)
	if err != nil {
		t.Fatalf("sample index: %v", err)
	}
	return r.push(t, ref, idx)
}

func (r *Registry) push(t testing.TB, ref string, obj remote.Taggable) name.Digest {
	t.Helper()
	tag, err := name.ParseReference(r.Host + "/" + ref)
	if err != nil {
		t.Fatalf("parse %s: %v", ref, err)
	}
	var d v1.Hash
	switch o := obj.(type) {
	case v1.Image:
		err = remote.Write(tag, o)
		if err == nil {
			d, err = o.Digest()
		}
	case v1.ImageIndex:
		err = remote.WriteIndex(tag, o)
		if err == nil {
			d, err = o.Digest()
		}
	}
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return tag.Context().Digest(d.String())
}

// KeyPair is a generated key with its files.
type KeyPair struct {
	Signer   crypto.Signer
	KeyPath  string // encrypted private key (cosign format)
	PubPath  string // PEM public key
	Password string
}

// NewKeyPair generates a key of the algorithm and writes it to dir as
// PREFIX.key and PREFIX.pub, encrypted with password.
func NewKeyPair(t testing.TB, dir, prefix string, alg keys.Algorithm, password string) *KeyPair {
	t.Helper()
	s, err := keys.Generate(alg)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	priv, err := keys.EncryptPrivateKey(s, []byte(password))
	if err != nil {
		t.Fatalf("encrypt key: %v", err)
	}
	pub, err := keys.MarshalPublicKey(s.Public())
	if err != nil {
		t.Fatalf("marshal public key: %v", err)
	}
	kp := &KeyPair{Signer: s, KeyPath: filepath.Join(dir, prefix+".key"), PubPath: filepath.Join(dir, prefix+".pub"), Password: password}
	if err := os.WriteFile(kp.KeyPath, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kp.PubPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return kp
}

// FakeTrivy writes a stand-in for the trivy binary to dir and returns its
// path: it reports no vulnerability in the image it is asked to scan
// (naming the image by the reference it was given) and answers version
// with a version and no database.
func FakeTrivy(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "trivy")
	script := `#!/bin/sh
if [ "$1" = version ]; then echo '{"Version":"0.70.0"}'; exit 0; fi
out=""; ref=""
while [ $# -gt 0 ]; do
  case "$1" in --output) out="$2"; shift;; --) ref="$2"; shift;; esac
  shift
done
printf '{"SchemaVersion":2,"ArtifactName":"%s","ArtifactType":"container_image","Metadata":{"RepoDigests":["%s"]},"Results":[]}' "$ref" "$ref" > "$out"
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatalf("write fake trivy: %v", err)
	}
	return path
}
