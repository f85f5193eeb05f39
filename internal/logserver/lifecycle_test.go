package logserver_test

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	rekorv1 "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/transparency-dev/tessera/client"

	"hallmark.dev/internal/logserver"
	"hallmark.dev/tlog"
)

// addMany adds one entry per message concurrently and returns the entries
// by message.
func addMany(t *testing.T, tl *testLog, reqs []*rekorpb.HashedRekordRequestV002) []*rekorv1.TransparencyLogEntry {
	t.Helper()
	tles := make([]*rekorv1.TransparencyLogEntry, len(reqs))
	var wg sync.WaitGroup
	for i, hr := range reqs {
		wg.Go(func() {
			tle, err := tl.Add(context.Background(), hr)
			if err != nil {
				t.Errorf("Add %d: %v", i, err)
				return
			}
			tles[i] = tle
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return tles
}

func requests(t *testing.T, prefix string, n int) []*rekorpb.HashedRekordRequestV002 {
	t.Helper()
	reqs := make([]*rekorpb.HashedRekordRequestV002, n)
	for i := range reqs {
		reqs[i] = signedRequest(t, fmt.Appendf(nil, "%s %d", prefix, i))
	}
	return reqs
}

// checkEntries verifies every entry against the log as it is now: its
// original proof against its original checkpoint, and a fresh proof from
// the served tiles against the current checkpoint.
func checkEntries(t *testing.T, tl *testLog, tles []*rekorv1.TransparencyLogEntry) {
	t.Helper()
	ctx := context.Background()
	c, _ := tl.checkpoint(t)
	pb, err := client.NewProofBuilder(ctx, c.Size, tl.fetcher(t).ReadTile)
	if err != nil {
		t.Fatalf("NewProofBuilder: %v", err)
	}
	for _, tle := range tles {
		leaf := tlog.LeafHash(tle.CanonicalizedBody)
		idx := uint64(tle.LogIndex)
		orig, err := tlog.VerifyCheckpoint([]byte(tle.InclusionProof.Checkpoint.Envelope), tl.Verifier())
		if err != nil {
			t.Fatalf("entry %d: original checkpoint: %v", idx, err)
		}
		if err := tlog.VerifyInclusion(leaf, idx, orig.Size, tle.InclusionProof.Hashes, orig.Hash); err != nil {
			t.Fatalf("entry %d: original proof: %v", idx, err)
		}
		p, err := pb.InclusionProof(ctx, idx)
		if err != nil {
			t.Fatalf("entry %d: InclusionProof: %v", idx, err)
		}
		if err := tlog.VerifyInclusion(leaf, idx, c.Size, p, c.Hash); err != nil {
			t.Fatalf("entry %d: proof against the current checkpoint: %v", idx, err)
		}
	}
}

// checkConsistent verifies a consistency proof, built from the served
// tiles, from the old checkpoint to the current one.
func checkConsistent(t *testing.T, tl *testLog, old tlog.Checkpoint) {
	t.Helper()
	ctx := context.Background()
	c, _ := tl.checkpoint(t)
	pb, err := client.NewProofBuilder(ctx, c.Size, tl.fetcher(t).ReadTile)
	if err != nil {
		t.Fatalf("NewProofBuilder: %v", err)
	}
	p, err := pb.ConsistencyProof(ctx, old.Size, c.Size)
	if err != nil {
		t.Fatalf("ConsistencyProof(%d, %d): %v", old.Size, c.Size, err)
	}
	if err := tlog.VerifyConsistency(old.Size, c.Size, p, old.Hash, c.Hash); err != nil {
		t.Fatal(err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	tl := startLog(t, dir, nil)
	logID, pub := tl.LogID(), tl.PublicKey()
	reqs := requests(t, "before", 40)
	tles := addMany(t, tl, reqs)
	before, _ := tl.checkpoint(t)
	tl.close(t)

	tl = startLog(t, dir, nil)
	if !bytes.Equal(tl.LogID(), logID) {
		t.Errorf("log ID changed across reopen: %x, then %x", logID, tl.LogID())
	}
	if pk, ok := tl.PublicKey().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pk.Equal(pub) {
		t.Errorf("public key changed across reopen")
	}
	after, _ := tl.checkpoint(t)
	if after.Size != 40 {
		t.Fatalf("reopened tree size %d, want 40", after.Size)
	}
	checkEntries(t, tl, tles)
	checkConsistent(t, tl, before)

	// The dedup index is rebuilt from the log: an old entry keeps its index.
	again, err := tl.Add(context.Background(), reqs[7])
	if err != nil {
		t.Fatalf("Add again: %v", err)
	}
	if again.LogIndex != tles[7].LogIndex {
		t.Errorf("resubmitted entry got index %d, want the original %d", again.LogIndex, tles[7].LogIndex)
	}

	more := addMany(t, tl, requests(t, "after", 25))
	checkEntries(t, tl, append(tles, more...))
	checkConsistent(t, tl, before)
	checkConsistent(t, tl, after)
	if c, _ := tl.checkpoint(t); c.Size != 65 {
		t.Errorf("tree size %d, want 65", c.Size)
	}
}

// TestRecoverUnpublished starts a log whose tree was integrated further
// than its last published checkpoint, as a process killed between
// integration and publication leaves it, with temporary files lying about.
func TestRecoverUnpublished(t *testing.T) {
	dir := t.TempDir()
	tl := startLog(t, dir, nil)
	first := addMany(t, tl, requests(t, "published", 5))
	_, oldCP := tl.checkpoint(t)
	reqs := requests(t, "integrated", 5)
	second := addMany(t, tl, reqs)
	tl.close(t)

	cpPath := filepath.Join(dir, "tiles", "checkpoint")
	if err := os.WriteFile(cpPath, oldCP, 0o644); err != nil {
		t.Fatalf("rewinding the checkpoint: %v", err)
	}
	for _, junk := range []string{"tiles/checkpoint123", "tiles/tile/0/000.p/7456", "log-key.pem.tmp42"} {
		if err := os.WriteFile(filepath.Join(dir, junk), []byte("partial write"), 0o600); err != nil {
			t.Fatalf("writing %s: %v", junk, err)
		}
	}

	tl = startLog(t, dir, nil)
	// The integrated entries are known at once, before they are published.
	again, err := tl.Add(context.Background(), reqs[2])
	if err != nil {
		t.Fatalf("Add again: %v", err)
	}
	if again.LogIndex != second[2].LogIndex {
		t.Errorf("integrated entry got index %d, want %d", again.LogIndex, second[2].LogIndex)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _ := tl.checkpoint(t)
		if c.Size == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint stuck at size %d, want 10", c.Size)
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkEntries(t, tl, append(first, second...))
}

func TestNewRejects(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  logserver.Config
		want error
	}{
		{"no dir", logserver.Config{Origin: testOrigin}, logserver.ErrInvalidConfig},
		{"no origin", logserver.Config{Dir: t.TempDir()}, logserver.ErrInvalidConfig},
		{"origin with port", logserver.Config{Dir: t.TempDir(), Origin: "127.0.0.1:8080"}, logserver.ErrInvalidConfig},
		{"origin host with port", logserver.Config{Dir: t.TempDir(), Origin: "log.example:443"}, logserver.ErrInvalidConfig},
		{"origin with space", logserver.Config{Dir: t.TempDir(), Origin: "log example"}, logserver.ErrInvalidConfig},
		{"unknown key type", logserver.Config{Dir: t.TempDir(), Origin: testOrigin, KeyType: "rsa"}, logserver.ErrInvalidConfig},
		{"checkpoint interval too short", logserver.Config{Dir: t.TempDir(), Origin: testOrigin, CheckpointInterval: time.Millisecond}, logserver.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := logserver.New(ctx, tt.cfg)
			if err == nil {
				l.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("New: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestIPv6Origin(t *testing.T) {
	l, err := logserver.New(context.Background(), logserver.Config{Dir: t.TempDir(), Origin: "::1"})
	if err != nil {
		t.Fatalf("New with origin ::1: %v", err)
	}
	defer l.Close()
	if _, err := l.TransparencyLogInstance("http://[::1]:8080", time.Now()); err != nil {
		t.Errorf("TransparencyLogInstance: %v", err)
	}
}

func TestOriginFromURL(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://log.example", "log.example"},
		{"https://log.example:8443/some/path", "log.example"},
		{"http://127.0.0.1:3000", "127.0.0.1"},
		{"http://[::1]:3000/", "::1"},
		{"https://user@log.example/", "log.example"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := logserver.OriginFromURL(tt.url)
			if err != nil || got != tt.want {
				t.Errorf("OriginFromURL = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "log.example", "/path", "http://"} {
		if got, err := logserver.OriginFromURL(bad); err == nil {
			t.Errorf("OriginFromURL(%q) = %q, want an error", bad, got)
		}
	}
}

func TestDirectoryIdentity(t *testing.T) {
	ctx := context.Background()
	newLog := func(t *testing.T, cfg logserver.Config) error {
		t.Helper()
		l, err := logserver.New(ctx, cfg)
		if err == nil {
			if cerr := l.Close(); cerr != nil {
				t.Errorf("Close: %v", cerr)
			}
		}
		return err
	}
	// existing returns a directory holding a closed log with one entry.
	existing := func(t *testing.T, keyType string) string {
		t.Helper()
		dir := t.TempDir()
		tl := startLog(t, dir, func(c *logserver.Config) { c.KeyType = keyType })
		tl.add(t, signedRequest(t, []byte("x")))
		tl.close(t)
		return dir
	}

	t.Run("key file is private", func(t *testing.T) {
		dir := existing(t, "")
		fi, err := os.Stat(filepath.Join(dir, "log-key.pem"))
		if err != nil {
			t.Fatalf("stat key: %v", err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("key mode %04o, want 0600", got)
		}
	})
	t.Run("in use", func(t *testing.T) {
		dir := t.TempDir()
		startLog(t, dir, nil)
		if err := newLog(t, logserver.Config{Dir: dir, Origin: testOrigin}); !errors.Is(err, logserver.ErrDirInUse) {
			t.Errorf("second New: got %v, want ErrDirInUse", err)
		}
	})
	t.Run("origin changed", func(t *testing.T) {
		dir := existing(t, "")
		if err := newLog(t, logserver.Config{Dir: dir, Origin: "log.example"}); !errors.Is(err, logserver.ErrOriginChanged) {
			t.Errorf("New: got %v, want ErrOriginChanged", err)
		}
	})
	t.Run("key missing", func(t *testing.T) {
		dir := existing(t, "")
		if err := os.Remove(filepath.Join(dir, "log-key.pem")); err != nil {
			t.Fatalf("removing key: %v", err)
		}
		if err := newLog(t, logserver.Config{Dir: dir, Origin: testOrigin}); !errors.Is(err, logserver.ErrKeyMismatch) {
			t.Errorf("New: got %v, want ErrKeyMismatch", err)
		}
	})
	t.Run("key replaced", func(t *testing.T) {
		dir := existing(t, "")
		other := existing(t, "")
		data, err := os.ReadFile(filepath.Join(other, "log-key.pem"))
		if err != nil {
			t.Fatalf("reading key: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "log-key.pem"), data, 0o600); err != nil {
			t.Fatalf("replacing key: %v", err)
		}
		if err := newLog(t, logserver.Config{Dir: dir, Origin: testOrigin}); !errors.Is(err, logserver.ErrKeyMismatch) {
			t.Errorf("New: got %v, want ErrKeyMismatch", err)
		}
	})
	t.Run("key type contradicts", func(t *testing.T) {
		dir := existing(t, logserver.KeyECDSAP256)
		if err := newLog(t, logserver.Config{Dir: dir, Origin: testOrigin, KeyType: logserver.KeyEd25519}); !errors.Is(err, logserver.ErrKeyMismatch) {
			t.Errorf("New: got %v, want ErrKeyMismatch", err)
		}
		if err := newLog(t, logserver.Config{Dir: dir, Origin: testOrigin}); err != nil {
			t.Errorf("New without a key type: %v", err)
		}
	})
	t.Run("key open to others", func(t *testing.T) {
		dir := existing(t, "")
		if err := os.Chmod(filepath.Join(dir, "log-key.pem"), 0o644); err != nil {
			t.Fatalf("chmod: %v", err)
		}
		if err := newLog(t, logserver.Config{Dir: dir, Origin: testOrigin}); err == nil {
			t.Errorf("New with a world-readable key: got nil error")
		}
	})
	t.Run("key garbage", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "log-key.pem"), []byte("not a key"), 0o600); err != nil {
			t.Fatalf("writing key: %v", err)
		}
		if err := newLog(t, logserver.Config{Dir: dir, Origin: testOrigin}); err == nil {
			t.Errorf("New with a garbage key: got nil error")
		}
	})
}

// TestCloseDuringAdds closes the log while entries are being added: each
// Add either succeeds, and its entry survives a reopen, or fails with
// ErrClosed.
func TestCloseDuringAdds(t *testing.T) {
	dir := t.TempDir()
	tl := startLog(t, dir, nil)
	reqs := requests(t, "racing", 64)
	var (
		mu   sync.Mutex
		done []*rekorv1.TransparencyLogEntry
		wg   sync.WaitGroup
	)
	for i, hr := range reqs {
		wg.Go(func() {
			time.Sleep(time.Duration(i%8) * 15 * time.Millisecond)
			tle, err := tl.Add(context.Background(), hr)
			switch {
			case err == nil:
				mu.Lock()
				done = append(done, tle)
				mu.Unlock()
			case !errors.Is(err, logserver.ErrClosed):
				t.Errorf("Add %d: got %v, want success or ErrClosed", i, err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	tl.close(t)
	wg.Wait()
	t.Logf("%d of %d entries added before Close", len(done), len(reqs))

	tl = startLog(t, dir, nil)
	checkEntries(t, tl, done)
}
