package sharedstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/internal/sharedstore"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/tlog"
)

// openStore opens a store on a fresh database of the shared mariadbd and a
// versitygw of the test's own.
func openStore(t *testing.T) (*sharedstore.Store, *testkit.S3Server) {
	t.Helper()
	dbURL := testkit.SharedDatabase(t)
	s3 := testkit.StartS3(t)
	s, err := sharedstore.Open(t.Context(), sharedstore.Config{
		Database:        dbURL,
		ObjectStore:     s3.URL("hallmark"),
		AccessKeyID:     testkit.TestS3AccessKey,
		SecretAccessKey: testkit.TestS3SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, s3
}

type writer struct {
	add      tessera.AddFn
	reader   tessera.LogReader
	awaiter  *tessera.PublicationAwaiter
	antispam tessera.Antispam
	stop     context.CancelFunc
}

func startWriter(t *testing.T, l *sharedstore.LogStorage, signer note.Signer) *writer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d, err := l.Driver(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	as, err := l.Antispam(ctx)
	if err != nil {
		t.Fatal(err)
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithCheckpointInterval(time.Second).
		WithBatching(256, 10*time.Millisecond).
		WithAntispam(tessera.DefaultAntispamInMemorySize, as)
	a, _, r, err := tessera.NewAppender(ctx, d, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &writer{add: a.Add, reader: r, awaiter: tessera.NewPublicationAwaiter(ctx, r.ReadCheckpoint, 50*time.Millisecond), antispam: as, stop: cancel}
}

// TestTesseraAWSDriverOnMariaDB is the smoke test of tessera v1.0.4's AWS
// driver, unmodified, on Debian's MariaDB and versitygw (the driver is
// tested upstream on Aurora MySQL and AWS S3 only): two writers on one
// schema and bucket sequence entries concurrently; every entry gets one
// index, the published tree holds exactly the entries added, its root
// matches the checkpoint, and a duplicate sent to the other writer, once
// the antispam follower has indexed the log, gets the original index.
func TestTesseraAWSDriverOnMariaDB(t *testing.T) {
	s, _ := openStore(t)
	l := s.Log("log")
	signer, verifier := noteKeys(t, "smoke.example")
	w := []*writer{startWriter(t, l, signer), startWriter(t, l, signer)}

	const n = 600
	entries := make([][]byte, n)
	indices := make([]uint64, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		entries[i] = fmt.Appendf(nil, "entry %d %s", i, rand.Text())
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			wr := w[i%2]
			idx, _, err := wr.awaiter.Await(ctx, wr.add(ctx, tessera.NewEntry(entries[i])))
			if err != nil {
				errs <- fmt.Errorf("entry %d: %w", i, err)
				return
			}
			indices[i] = idx.Index
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[uint64]int{}
	for i, idx := range indices {
		if j, dup := seen[idx]; dup {
			t.Fatalf("entries %d and %d both got index %d", j, i, idx)
		}
		if idx >= n {
			t.Fatalf("entry %d got index %d, want below %d", i, idx, n)
		}
		seen[idx] = i
	}

	raw, err := w[1].reader.ReadCheckpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.VerifyCheckpoint(raw, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != n {
		t.Fatalf("checkpoint size %d, want %d", cp.Size, n)
	}
	leaves := readLeaves(t, w[0].reader, cp.Size)
	for i, e := range entries {
		if !bytes.Equal(leaves[indices[i]], e) {
			t.Fatalf("index %d holds %q, want entry %d %q", indices[i], leaves[indices[i]], i, e)
		}
	}
	if root := rootOf(t, leaves); !bytes.Equal(root, cp.Hash) {
		t.Fatalf("root of the published entries %x, checkpoint says %x", root, cp.Hash)
	}

	// The antispam follower indexes the log on a one-second tick.
	waitFor(t, 30*time.Second, "the antispam follower", func() bool {
		got, err := w[1].antispam.Follower(nil).EntriesProcessed(t.Context())
		return err == nil && got >= n
	})
	idx, err := w[1].add(t.Context(), tessera.NewEntry(entries[0]))()
	if err != nil {
		t.Fatal(err)
	}
	if !idx.IsDup || idx.Index != indices[0] {
		t.Fatalf("entry 0 again: index %d (duplicate %v), want %d (duplicate)", idx.Index, idx.IsDup, indices[0])
	}
}

func noteKeys(t *testing.T, origin string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// readLeaves reads the entries of the tree of size from its entry bundles.
func readLeaves(t *testing.T, r tessera.LogReader, size uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for i := uint64(0); uint64(len(out)) < size; i++ {
		data, err := r.ReadEntryBundle(t.Context(), i, layout.PartialTileSize(0, i, size))
		if err != nil {
			t.Fatalf("entry bundle %d: %v", i, err)
		}
		var b api.EntryBundle
		if err := b.UnmarshalText(data); err != nil {
			t.Fatalf("entry bundle %d: %v", i, err)
		}
		out = append(out, b.Entries...)
	}
	return out
}

func rootOf(t *testing.T, leaves [][]byte) []byte {
	t.Helper()
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(l), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done after %s", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
