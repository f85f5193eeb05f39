package logserver

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
)

// dedupIndex is a tessera.Antispam that knows every entry in the log: a map
// from an entry's identity (SHA-256 of its data, tessera's default) to its
// index. It is kept only in memory and rebuilt at start by following the
// log from index 0, so it can never disagree with the log after a crash.
// Entries added since the follower last looked are caught by tessera's
// in-memory antispam, which sits in front of this one.
type dedupIndex struct {
	logger *slog.Logger
	poll   time.Duration

	mu    sync.RWMutex
	index map[[sha256.Size]byte]uint64

	processed atomic.Uint64
	idHasher  func([]byte) ([][]byte, error)

	// startSize is the integrated size when following began; caughtUp is
	// closed once every entry below it is in the index.
	startOnce sync.Once
	started   atomic.Bool
	startSize atomic.Uint64
	caughtUp  chan struct{}
	failed    chan error
}

var (
	_ tessera.Antispam = (*dedupIndex)(nil)
	_ tessera.Follower = (*dedupIndex)(nil)
)

func newDedupIndex(logger *slog.Logger, poll time.Duration) *dedupIndex {
	return &dedupIndex{
		logger:   logger,
		poll:     poll,
		index:    make(map[[sha256.Size]byte]uint64),
		caughtUp: make(chan struct{}),
		failed:   make(chan error, 1),
	}
}

// Decorator answers an entry already in the index with its index, marked
// as a duplicate, and passes every other entry on.
func (d *dedupIndex) Decorator() func(tessera.AddFn) tessera.AddFn {
	return func(next tessera.AddFn) tessera.AddFn {
		return func(ctx context.Context, e *tessera.Entry) tessera.IndexFuture {
			if idx, ok := d.lookup(e.Identity()); ok {
				return func() (tessera.Index, error) { return tessera.Index{Index: idx, IsDup: true}, nil }
			}
			return next(ctx, e)
		}
	}
}

func (d *dedupIndex) lookup(id []byte) (uint64, bool) {
	var k [sha256.Size]byte
	if copy(k[:], id) != len(k) {
		return 0, false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	idx, ok := d.index[k]
	return idx, ok
}

// Follower returns d itself; idHasher turns an entry bundle into the
// identities of its entries.
func (d *dedupIndex) Follower(idHasher func([]byte) ([][]byte, error)) tessera.Follower {
	d.idHasher = idHasher
	return d
}

func (d *dedupIndex) Name() string { return "hallmark dedup index" }

func (d *dedupIndex) EntriesProcessed(context.Context) (uint64, error) {
	return d.processed.Load(), nil
}

// Follow indexes the log's entries in order until ctx is done.
func (d *dedupIndex) Follow(ctx context.Context, r tessera.LogReader) {
	for {
		size, err := r.IntegratedSize(ctx)
		if err == nil {
			d.startOnce.Do(func() {
				d.startSize.Store(size)
				d.started.Store(true)
			})
			err = d.catchUp(ctx, r, size)
		}
		if err != nil && ctx.Err() == nil {
			d.logger.WarnContext(ctx, "dedup index: following the log", "error", err)
			select {
			case d.failed <- err:
			default:
			}
		}
		if d.started.Load() && d.processed.Load() >= d.startSize.Load() {
			d.markCaughtUp()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.poll):
		}
	}
}

func (d *dedupIndex) markCaughtUp() {
	select {
	case <-d.caughtUp:
	default:
		close(d.caughtUp)
	}
}

// catchUp indexes entries from the processed count up to size.
func (d *dedupIndex) catchUp(ctx context.Context, r tessera.LogReader, size uint64) error {
	for next := d.processed.Load(); next < size; next = d.processed.Load() {
		bundle := next / layout.EntryBundleWidth
		data, err := r.ReadEntryBundle(ctx, bundle, layout.PartialTileSize(0, bundle, size))
		if err != nil {
			return fmt.Errorf("reading entry bundle %d: %w", bundle, err)
		}
		ids, err := d.idHasher(data)
		if err != nil {
			return fmt.Errorf("entry bundle %d: %w", bundle, err)
		}
		first := next % layout.EntryBundleWidth
		if uint64(len(ids)) <= first {
			return fmt.Errorf("entry bundle %d has %d entries, want more than %d", bundle, len(ids), first)
		}
		d.mu.Lock()
		for i := first; i < uint64(len(ids)) && next < size; i++ {
			var k [sha256.Size]byte
			copy(k[:], ids[i])
			if _, dup := d.index[k]; !dup {
				d.index[k] = next
			}
			next++
		}
		d.mu.Unlock()
		d.processed.Store(next)
	}
	return nil
}

// waitCaughtUp waits until every entry present at start is indexed.
func (d *dedupIndex) waitCaughtUp(ctx context.Context) error {
	select {
	case <-d.caughtUp:
		return nil
	case err := <-d.failed:
		return fmt.Errorf("indexing the log for duplicates: %w", err)
	case <-ctx.Done():
		return fmt.Errorf("indexing the log for duplicates: %w", ctx.Err())
	}
}
