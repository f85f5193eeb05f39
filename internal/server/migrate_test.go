package server_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"hallmark.dev/internal/sample"
	"hallmark.dev/internal/server"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/verify"
)

// TestMigrate signs, logs and pushes on an embedded server, stops it,
// migrates its data directory to a database and a bucket, and starts two
// replicas on copies of it behind the same public URL: the old bundles
// verify under the replicas' trusted root (the same document), the old
// image and its signature are served, the logs continue after their
// imported entries, and the replicas sign anew.
func TestMigrate(t *testing.T) {
	lb := testkit.StartLoadBalancer(t, "")
	dir := t.TempDir()
	old := testkit.StartStackIn(t, dir, "", func(_ string, cfg *server.Config) { cfg.PublicURL = lb.URL })
	lb.SetBackends(old.Server.Addr().String())
	var bundles [][]byte
	for i := range 3 {
		bundles = append(bundles, old.SignKeylessBlob(t, "dev@example.com", []byte{byte(i)}))
	}
	img, err := sample.Image("migrated", "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	ref := mustRef(t, strings.TrimPrefix(lb.URL, "http://")+"/demo/m:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	trustedRoot := old.Server.TrustedRoot()

	db, bucket := testkit.SharedDatabase(t), testkit.SharedBucket(t)
	var to server.Config
	testkit.SharedConfig(db, bucket, lb.URL)("", &to)
	if _, err := server.Migrate(context.Background(), dir, to); !errors.Is(err, server.ErrServing) {
		t.Fatalf("migrating the directory of a running server: got %v, want ErrServing", err)
	}
	old.Server.Close()
	rep, err := server.Migrate(context.Background(), dir, to)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Log == nil || rep.Log.Size != 3 || rep.CTLog == nil || rep.CTLog.Size != 3 || rep.Registry.Blobs < 3 || rep.Issuers != 2 {
		t.Fatalf("migrated %+v (log %+v, ct log %+v), want 3 entries in each log, the image's blobs and the CA's two certificates as issuers", rep, rep.Log, rep.CTLog)
	}
	if _, err := server.Migrate(context.Background(), dir, to); err != nil {
		t.Fatalf("migrating again: %v", err)
	}

	var replicas []*testkit.Stack
	for range 2 {
		copyDir := t.TempDir()
		testkit.CopyDir(t, dir, copyDir)
		replicas = append(replicas, testkit.StartStackIn(t, copyDir, "", testkit.SharedConfig(db, bucket, lb.URL)))
	}
	lb.SetBackends(replicas[0].Server.Addr().String(), replicas[1].Server.Addr().String())
	if got := replicas[1].Server.TrustedRoot(); !bytes.Equal(got, trustedRoot) {
		t.Fatalf("the replicas publish another trusted root than the migrated server:\n%s\n%s", got, trustedRoot)
	}
	k, err := verify.NewKeyless(replicas[0].TrustedRoot, verify.Identity{Issuer: replicas[0].Issuer, Subject: "dev@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range append(bundles, replicas[0].SignKeylessBlob(t, "dev@example.com", []byte{9})) {
		data := []byte{byte(i)}
		if i == 3 {
			data = []byte{9}
			if idx := logIndex(t, b); idx != 3 {
				t.Fatalf("the first entry after the migration has index %d, want 3", idx)
			}
		}
		if _, err := verify.Blob("b", b, verify.Artifact{Content: bytes.NewReader(data)}, verify.BlobPolicy{Authority: k}); err != nil {
			t.Fatalf("bundle %d: %v", i, err)
		}
	}
	got, err := remote.Image(mustRef(t, replicas[1].Server.Addr().String()+"/demo/m:v1"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d, err := got.Digest(); err != nil || d != want {
		t.Fatalf("the migrated image: %s (%v), want %s", d, err, want)
	}
	// Once a replica has started, migrating again would roll back what
	// the replica set served since (tags, deletions, the logs' trees).
	if _, err := server.Migrate(context.Background(), dir, to); !errors.Is(err, server.ErrDestinationServed) || !strings.Contains(err.Error(), "copying now would roll back what it has served since") {
		t.Fatalf("migrating into a replica set that has served: got %v, want ErrDestinationServed", err)
	}
}

// TestMigrateRefusesAnotherLog: a destination whose log holds another
// checkpoint than the source's (here a larger tree of the same key, as a
// source copied before it logged more) is refused before anything is
// copied, where tessera's import would wait forever or overwrite it.
func TestMigrateRefusesAnotherLog(t *testing.T) {
	dir, addr := t.TempDir(), testkit.FreeAddr(t)
	old := testkit.StartStackIn(t, dir, addr, nil)
	old.SignKeylessBlob(t, "dev@example.com", []byte{1})
	old.Server.Close()
	early := t.TempDir()
	testkit.CopyDir(t, dir, early)
	grown := testkit.StartStackIn(t, dir, addr, nil)
	grown.SignKeylessBlob(t, "dev@example.com", []byte{2})
	grown.Server.Close()

	db, bucket := testkit.SharedDatabase(t), testkit.SharedBucket(t)
	var to server.Config
	testkit.SharedConfig(db, bucket, "http://127.0.0.1:1")("", &to)
	if _, err := server.Migrate(context.Background(), dir, to); err != nil {
		t.Fatal(err)
	}
	_, err := server.Migrate(context.Background(), early, to)
	if !errors.Is(err, server.ErrNotReplica) || !strings.Contains(err.Error(), "has another checkpoint than the source's (size 1)") {
		t.Fatalf("migrating an older copy over a larger log: got %v, want ErrNotReplica naming the checkpoint", err)
	}
}
