package logserver_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"hallmark.dev/internal/logserver"
	"hallmark.dev/internal/sharedstore"
	"hallmark.dev/internal/testkit"
)

// sharedStorage returns the storage of a log on a fresh database and
// bucket.
func sharedStorage(t *testing.T) *sharedstore.LogStorage {
	t.Helper()
	s, err := sharedstore.Open(t.Context(), sharedstore.Config{
		Database:        testkit.SharedDatabase(t),
		ObjectStore:     testkit.SharedBucket(t),
		AccessKeyID:     testkit.TestS3AccessKey,
		SecretAccessKey: testkit.TestS3SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Log("log")
}

// TestSharedStorage runs two logs, as two replicas, on one shared storage
// with copies of one key directory: entries added to either get distinct
// indices, each verifies against the tiles either serves, and an entry
// sent again to the other log returns its original entry once the shared
// duplicate index has it.
func TestSharedStorage(t *testing.T) {
	storage := sharedStorage(t)
	shared := func(c *logserver.Config) { c.Storage = storage }
	a := startLog(t, "", shared)
	dir := t.TempDir()
	testkit.CopyDir(t, a.dir, dir)
	b := startLog(t, dir, shared)

	reqs := requests(t, "shared", 40)
	tles := append(addMany(t, a, reqs[:20]), addMany(t, b, reqs[20:])...)
	seen := map[int64]bool{}
	for i, tle := range tles {
		if seen[tle.LogIndex] {
			t.Fatalf("entry %d: index %d given twice", i, tle.LogIndex)
		}
		seen[tle.LogIndex] = true
	}
	checkEntries(t, a, tles)
	checkEntries(t, b, tles)

	// tessera's antispam follower indexes the log on a one-second tick.
	deadline := time.Now().Add(30 * time.Second)
	for {
		again, err := b.Add(context.Background(), reqs[0])
		if err != nil {
			t.Fatal(err)
		}
		if again.LogIndex == tles[0].LogIndex {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry 0 sent again got index %d, want %d", again.LogIndex, tles[0].LogIndex)
		}
		time.Sleep(time.Second)
	}
}

// TestSharedStorageKeyMissing refuses to open a log that the shared
// storage holds with a directory that has no key: creating one would fork
// the log's identity.
func TestSharedStorageKeyMissing(t *testing.T) {
	storage := sharedStorage(t)
	startLog(t, "", func(c *logserver.Config) { c.Storage = storage })
	_, err := logserver.New(context.Background(), logserver.Config{Dir: t.TempDir(), Origin: testOrigin, Storage: storage})
	if !errors.Is(err, logserver.ErrKeyMismatch) {
		t.Fatalf("got %v, want ErrKeyMismatch", err)
	}
}
