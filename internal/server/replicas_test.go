package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/internal/logserver"
	"hallmark.dev/internal/sample"
	"hallmark.dev/internal/server"

	"hallmark.dev/internal/testkit"
	"hallmark.dev/verify"
)

// replicaSet starts n in-process replicas on a fresh database and bucket
// behind a load balancer: the first on a new data directory, the others on
// copies of it, as an operator deploys them.
func replicaSet(t *testing.T, n int) (*testkit.LoadBalancer, []*testkit.Stack) {
	t.Helper()
	db, bucket := testkit.SharedDatabase(t), testkit.SharedBucket(t)
	lb := testkit.StartLoadBalancer(t, "")
	first := t.TempDir()
	var stacks []*testkit.Stack
	var addrs []string
	for i := range n {
		dir := first
		if i > 0 {
			dir = t.TempDir()
			testkit.CopyDir(t, first, dir)
		}
		s := testkit.StartStackIn(t, dir, "", testkit.SharedConfig(db, bucket, lb.URL))
		stacks = append(stacks, s)
		addrs = append(addrs, s.Server.Addr().String())
		lb.SetBackends(addrs...)
	}
	return lb, stacks
}

// TestReplicasShareLogs signs keylessly through a load balancer in front
// of two replicas (each request to either): the certificates' SCTs come
// from the shared CT log, the entries from the shared transparency log,
// and every bundle verifies under either replica's trusted root, which
// are the same document.
func TestReplicasShareLogs(t *testing.T) {
	_, r := replicaSet(t, 2)
	if !bytes.Equal(r[0].Server.TrustedRoot(), r[1].Server.TrustedRoot()) {
		t.Fatalf("the replicas publish different trusted roots:\n%s\n%s", r[0].Server.TrustedRoot(), r[1].Server.TrustedRoot())
	}
	k, err := verify.NewKeyless(r[1].TrustedRoot, verify.Identity{Issuer: r[1].Issuer, Subject: "dev@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for i := range 4 {
		data := []byte{byte(i), 'x'}
		b := r[0].SignKeylessBlob(t, "dev@example.com", data)
		res, err := verify.Blob("b", b, verify.Artifact{Content: bytes.NewReader(data)}, verify.BlobPolicy{Authority: k})
		if err != nil {
			t.Fatalf("bundle %d: verify: %v", i, err)
		}
		if res.Signer.LogEntries != 1 {
			t.Fatalf("bundle %d: %d log entries verified, want 1", i, res.Signer.LogEntries)
		}
		idx := logIndex(t, b)
		if seen[idx] {
			t.Fatalf("bundle %d: log index %d given twice", i, idx)
		}
		seen[idx] = true
	}
	// Each replica serves both logs' checkpoints and the CT log's issuer
	// (the CA's intermediate), whichever replica wrote them.
	inter := r[0].TrustedRoot.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority).Intermediates[0]
	fp := sha256.Sum256(inter.Raw)
	for _, st := range r {
		for _, path := range []string{"/api/v2/checkpoint", "/ctlog/checkpoint", "/ctlog/issuer/" + hex.EncodeToString(fp[:])} {
			resp, err := http.Get("http://" + st.Server.Addr().String() + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("replica %s: GET %s: %s", st.Server.Addr(), path, resp.Status)
			}
		}
	}
}

// logIndex returns the index of a bundle's log entry.
func logIndex(t *testing.T, bundle []byte) int64 {
	t.Helper()
	b, err := verify.ParseBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := b.TlogEntries()
	if err != nil || len(entries) != 1 {
		t.Fatalf("bundle log entries: %d, %v", len(entries), err)
	}
	return entries[0].LogIndex()
}

// TestReplicasShareRegistry pushes an image through the load balancer (its
// requests split between the replicas) and pulls it from each replica.
func TestReplicasShareRegistry(t *testing.T) {
	lb, r := replicaSet(t, 2)
	img, err := sample.Image("replicated", "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(strings.TrimPrefix(lb.URL, "http://") + "/demo/x:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range r {
		got, err := remote.Image(mustRef(t, st.Server.Addr().String()+"/demo/x:v1"))
		if err != nil {
			t.Fatalf("pull from %s: %v", st.Server.Addr(), err)
		}
		if d, err := got.Digest(); err != nil || d != want {
			t.Fatalf("pull from %s: %s (%v), want %s", st.Server.Addr(), d, err, want)
		}
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestReplicaIdentity refuses, before it serves anything, a replica whose
// keys or certificates are not the replica set's, saying which; and takes
// a CA rotated in a copy of the data directory as the replica set's new
// intermediate, refusing the copies made before the rotation.
func TestReplicaIdentity(t *testing.T) {
	db, bucket := testkit.SharedDatabase(t), testkit.SharedBucket(t)
	lb := testkit.StartLoadBalancer(t, "")
	first := t.TempDir()
	a := testkit.StartStackIn(t, first, "", testkit.SharedConfig(db, bucket, lb.URL))
	stale := t.TempDir()
	testkit.CopyDir(t, first, stale)

	startOn := func(dir string) error {
		cfg := server.Config{Addr: "127.0.0.1:0", DataDir: dir, DevOIDC: true}
		testkit.SharedConfig(db, bucket, lb.URL)("", &cfg)
		s, err := server.New(context.Background(), cfg)
		if err == nil {
			s.Close()
		}
		return err
	}
	for _, tc := range []struct {
		name    string
		remove  string // from a copy of the first data directory; "*" for an empty directory
		wantIs  error
		wantMsg string
	}{
		{"empty data directory", "*", logserver.ErrKeyMismatch, "the shared storage holds the log of another key"},
		{"own timestamp authority", "tsa", server.ErrNotReplica, "timestamp authority's certificate chain is not the replica set's"},
		{"own CA", "ca", server.ErrNotReplica, "CA root is not the replica set's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.remove != "*" {
				testkit.CopyDir(t, first, dir)
				if err := os.RemoveAll(filepath.Join(dir, tc.remove)); err != nil {
					t.Fatal(err)
				}
			}
			err := startOn(dir)
			if !errors.Is(err, tc.wantIs) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v, want %v: %q", err, tc.wantIs, tc.wantMsg)
			}
		})
	}

	// Another public URL would publish the same log under another origin.
	t.Run("another public URL", func(t *testing.T) {
		dir := t.TempDir()
		testkit.CopyDir(t, first, dir)
		cfg := server.Config{Addr: "127.0.0.1:0", DataDir: dir, DevOIDC: true}
		testkit.SharedConfig(db, bucket, "http://127.0.0.1:1")("", &cfg)
		_, err := server.New(context.Background(), cfg)
		if !errors.Is(err, server.ErrNotReplica) || !strings.Contains(err.Error(), "the replica set serves at "+lb.URL+", this replica at http://127.0.0.1:1") {
			t.Fatalf("got %v, want ErrNotReplica naming both URLs", err)
		}
	})

	t.Run("CA rotation", func(t *testing.T) {
		a.Server.Close()
		if _, err := server.RotateCA(first, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := startOn(first); err != nil {
			t.Fatalf("the rotated data directory: %v", err)
		}
		err := startOn(stale)
		if !errors.Is(err, server.ErrNotReplica) || !strings.Contains(err.Error(), "CA intermediate is not the replica set's") {
			t.Fatalf("a copy made before the rotation: got %v, want ErrNotReplica", err)
		}
		rotated := t.TempDir()
		testkit.CopyDir(t, first, rotated)
		if err := startOn(rotated); err != nil {
			t.Fatalf("a copy of the rotated data directory: %v", err)
		}
	})
}

// TestReplicaDataDirHoldsOnlyKeys: after pushing and signing through a
// replica set, a replica's data directory holds its keys, certificates
// and the trust documents it publishes, and nothing of the log, the
// registry or the signing policies.
func TestReplicaDataDirHoldsOnlyKeys(t *testing.T) {
	lb, r := replicaSet(t, 2)
	r[0].SignKeylessBlob(t, "dev@example.com", []byte("x"))
	img, err := sample.Image("replicated", "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRef(t, strings.TrimPrefix(lb.URL, "http://")+"/demo/x:v1"), img); err != nil {
		t.Fatalf("push: %v", err)
	}
	allowed := map[string]bool{
		"ca/root.pem": true, "ca/root-key.pem": true, "ca/intermediate.pem": true, "ca/intermediate-key.pem": true,
		"log/log-key.pem": true, "ctlog/ct-key.pem": true,
		"tsa/root-key.pem": true, "tsa/leaf-key.pem": true, "tsa/chain.pem": true,
		"oidc/oidc-signing-key.pem": true,
		"trust/trusted_root.json":   true, "trust/signing_config.json": true, "trust/log.vkey": true, "trust/ctlog.vkey": true,
	}
	for _, st := range r {
		err := filepath.WalkDir(st.DataDir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(st.DataDir, path)
			if err != nil {
				return err
			}
			if !allowed[filepath.ToSlash(rel)] {
				t.Errorf("replica %s: data directory holds %s", st.Server.Addr(), rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
