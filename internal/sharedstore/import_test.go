package sharedstore_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"

	"hallmark.dev/tlog"
)

// TestImport copies a log written by tessera's POSIX driver into the
// shared storage, and appends to it there: the imported tree has the
// source's root, the source's checkpoint is published, the duplicate index
// knows the imported entries, and the next entry takes the next index.
func TestImport(t *testing.T) {
	signer, verifier := noteKeys(t, "import.example")
	dir := t.TempDir()
	const n = 300
	entries := make([][]byte, n)
	func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		d, err := posix.New(ctx, posix.Config{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		a, shutdown, r, err := tessera.NewAppender(ctx, d, tessera.NewAppendOptions().WithCheckpointSigner(signer).WithCheckpointInterval(100*time.Millisecond).WithBatching(64, 10*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		aw := tessera.NewPublicationAwaiter(ctx, r.ReadCheckpoint, 10*time.Millisecond)
		var last tessera.IndexFuture
		for i := range n {
			entries[i] = fmt.Appendf(nil, "posix entry %d", i)
			last = a.Add(ctx, tessera.NewEntry(entries[i]))
		}
		if _, _, err := aw.Await(ctx, last); err != nil {
			t.Fatal(err)
		}
		if err := shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}()
	raw, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.VerifyCheckpoint(raw, verifier)
	if err != nil || cp.Size != n {
		t.Fatalf("source checkpoint: %+v, %v", cp, err)
	}

	s, _ := openStore(t)
	l := s.Log("log")
	if err := l.Import(t.Context(), dir, raw, cp.Size, cp.Hash, false, true); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Read(t.Context(), "checkpoint"); err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("published checkpoint after the import: %q, %v; want the source's", got, err)
	}
	// A wrong root is refused.
	if err := s.Log("ctlog").Import(t.Context(), dir, raw, cp.Size, bytes.Repeat([]byte{1}, 32), false, false); err == nil {
		t.Fatal("import with a wrong root: no error")
	}

	w := startWriter(t, l, signer)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	idx, _, err := w.awaiter.Await(ctx, w.add(ctx, tessera.NewEntry(entries[7])))
	if err != nil || !idx.IsDup || idx.Index != 7 {
		t.Fatalf("an imported entry again: %+v, %v; want index 7, a duplicate", idx, err)
	}
	next := []byte("the first entry after the import")
	idx, rawNext, err := w.awaiter.Await(ctx, w.add(ctx, tessera.NewEntry(next)))
	if err != nil || idx.Index != n {
		t.Fatalf("the first entry after the import: %+v, %v; want index %d", idx, err, n)
	}
	after, err := tlog.VerifyCheckpoint(rawNext, verifier)
	if err != nil {
		t.Fatal(err)
	}
	leaves := readLeaves(t, w.reader, after.Size)
	if !bytes.Equal(rootOf(t, leaves), after.Hash) || !bytes.Equal(leaves[n], next) || !bytes.Equal(leaves[n-1], entries[n-1]) {
		t.Fatalf("the tree after the import does not hold the source's entries and the new one")
	}
}
