package logserver

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorv1 "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/types/known/timestamppb"

	"hallmark.dev/tlog"
)

// A Log is a running transparency log. Its methods are safe for concurrent
// use.
type Log struct {
	cfg      Config
	origin   string
	key      crypto.Signer
	logID    []byte
	verifier note.Verifier
	algs     *signature.AlgorithmRegistryConfig
	storage  Storage

	appender *tessera.Appender
	reader   tessera.LogReader
	awaiter  *tessera.PublicationAwaiter
	prover   *prover
	cps      *checkpoints
	shutdown func(context.Context) error
	cancel   context.CancelFunc
	lock     *os.File // nil with a shared Storage

	// inflight is held for reading by every Add; Close takes it for
	// writing, so that Adds whose entries tessera published at shutdown
	// still see the checkpoint before the awaiter stops.
	inflight  sync.RWMutex
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// New opens the log in cfg.Dir (or cfg.Storage), creating it and its key
// on first start, and starts sequencing. A directory left by a killed
// process is recovered by tessera's POSIX driver; entries it acknowledged
// are all there. Without a persistent index in the storage, New reads
// every entry once to index them for duplicates before it returns.
//
// ctx bounds the start only; the log runs until Close.
func New(ctx context.Context, cfg Config) (*Log, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating log directory: %w", err)
	}
	storage := cfg.Storage
	if storage == nil {
		storage = dirStorage{filepath.Join(cfg.Dir, tilesDir)}
	}
	// A shared storage is written by several processes by design; a
	// directory by one.
	var lock *os.File
	if !storage.Shared() {
		var err error
		if lock, err = lockDir(cfg.Dir); err != nil {
			return nil, err
		}
	}
	l, err := open(ctx, cfg, storage, lock)
	if err != nil {
		if lock != nil {
			lock.Close() // Closing the file drops the lock.
		}
		return nil, err
	}
	return l, nil
}

func open(ctx context.Context, cfg Config, storage Storage, lock *os.File) (*Log, error) {
	exists, err := exists(ctx, storage)
	if err != nil {
		return nil, err
	}
	key, err := loadOrCreateKey(cfg.Dir, cfg.KeyType, cfg.Signer, exists)
	if err != nil {
		return nil, err
	}
	signer, err := tlog.NewNoteSigner(cfg.Origin, key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	verifier, err := tlog.NewNoteVerifier(cfg.Origin, key.Public())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	logID, err := tlog.LogID(cfg.Origin, key.Public())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	algs, err := newAlgorithmRegistry()
	if err != nil {
		return nil, fmt.Errorf("building the algorithm registry: %w", err)
	}
	if err := checkPublished(ctx, storage, cfg.Origin, verifier); err != nil {
		return nil, err
	}
	if ok, err := storage.BindKey(ctx, key.Public()); err != nil {
		return nil, fmt.Errorf("recording the log key: %w", err)
	} else if !ok {
		return nil, fmt.Errorf("%w: the shared storage holds the log of another key; start every replica on a copy of the first replica's data directory", ErrKeyMismatch)
	}

	// The log's background work outlives ctx and stops at Close.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	driver, err := storage.Driver(bg, &http.Client{Timeout: cfg.WitnessTimeout})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("opening tessera storage: %w", err)
	}
	antispam, err := storage.Antispam(bg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("opening the duplicate index: %w", err)
	}
	var dedup *dedupIndex
	if antispam == nil {
		dedup = newDedupIndex(cfg.Logger, cfg.CheckpointInterval)
		antispam = dedup
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(cfg.BatchMaxSize, cfg.BatchMaxAge).
		WithCheckpointInterval(cfg.CheckpointInterval).
		WithPushback(cfg.PushbackMaxOutstanding).
		WithAntispam(tessera.DefaultAntispamInMemorySize, antispam).
		WithShutdownTimeout(cfg.ShutdownTimeout)
	if len(cfg.Witnesses.Components) > 0 {
		opts = opts.WithWitnesses(cfg.Witnesses, &tessera.WitnessOptions{Timeout: cfg.WitnessTimeout})
	}
	appender, shutdown, reader, err := tessera.NewAppender(bg, driver, opts)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("starting tessera: %w", err)
	}
	l := &Log{
		cfg:      cfg,
		origin:   cfg.Origin,
		key:      key,
		logID:    logID,
		verifier: verifier,
		algs:     algs,
		storage:  storage,
		appender: appender,
		reader:   reader,
		awaiter:  tessera.NewPublicationAwaiter(bg, reader.ReadCheckpoint, cfg.PollInterval),
		prover:   newProver(reader.ReadTile),
		cps:      &checkpoints{v: verifier},
		shutdown: shutdown,
		cancel:   cancel,
		lock:     lock,
	}
	if dedup != nil {
		if err := dedup.waitCaughtUp(ctx); err != nil {
			l.stop()
			return nil, err
		}
	}
	cfg.Logger.InfoContext(ctx, "transparency log open", "dir", cfg.Dir, "origin", cfg.Origin, "key", keyTypeOf(key), "shared", storage.Shared())
	return l, nil
}

// checkPublished refuses a log whose published checkpoint was made under
// another origin or key: serving it would publish checkpoints that clients
// holding the old identity cannot verify.
func checkPublished(ctx context.Context, storage Storage, origin string, v note.Verifier) error {
	cp, err := storage.Read(ctx, layout.CheckpointPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the published checkpoint: %w", err)
	}
	if first, _, _ := bytes.Cut(cp, []byte("\n")); string(first) != origin {
		return fmt.Errorf("%w: the log was published as %q, the configuration says %q", ErrOriginChanged, first, origin)
	}
	if _, err := tlog.VerifyCheckpoint(cp, v); err != nil {
		return fmt.Errorf("%w: published checkpoint: %v", ErrKeyMismatch, err)
	}
	return nil
}

// Close stops accepting entries, waits (up to Config.ShutdownTimeout) until tessera has
// published a checkpoint covering every entry it accepted, and releases the
// directory. Every entry Add acknowledged was already durable.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		l.closeErr = l.stop()
	})
	return l.closeErr
}

func (l *Log) stop() error {
	err := l.shutdown(context.Background())
	l.inflight.Lock()
	l.cancel()
	l.inflight.Unlock()
	if l.lock != nil {
		if cerr := l.lock.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("closing the log: %w", err)
	}
	return nil
}

// Origin returns the log's checkpoint origin.
func (l *Log) Origin() string { return l.origin }

// PublicKey returns the log's public key (ed25519.PublicKey or
// *ecdsa.PublicKey), for trusted_root.json's tlogs[].publicKey.
func (l *Log) PublicKey() crypto.PublicKey { return l.key.Public() }

// LogID returns the log's 32-byte ID (see tlog.LogID): the bundle's
// logId.keyId and trusted_root.json's tlogs[].logId.keyId. Its first four
// bytes are the key ID of the log's checkpoint signatures.
func (l *Log) LogID() []byte { return bytes.Clone(l.logID) }

// Verifier returns the note verifier of the log's checkpoints.
func (l *Log) Verifier() note.Verifier { return l.verifier }

// TransparencyLogInstance returns the trusted_root.json tlogs[] entry for
// this log served at baseURL, valid from validFrom. baseURL's host must be
// the log's origin, or sigstore-go could not verify its checkpoints.
func (l *Log) TransparencyLogInstance(baseURL string, validFrom time.Time) (*prototrustroot.TransparencyLogInstance, error) {
	origin, err := OriginFromURL(baseURL)
	if err != nil {
		return nil, err
	}
	if origin != l.origin {
		return nil, fmt.Errorf("base url %q: sigstore-go would expect origin %q, the log's is %q", baseURL, origin, l.origin)
	}
	der, err := x509.MarshalPKIXPublicKey(l.key.Public())
	if err != nil {
		return nil, fmt.Errorf("encoding the log key: %w", err)
	}
	details := protocommon.PublicKeyDetails_PKIX_ED25519
	if _, ok := l.key.Public().(*ecdsa.PublicKey); ok {
		details = protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
	}
	return &prototrustroot.TransparencyLogInstance{
		BaseUrl:       baseURL,
		HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
		PublicKey: &protocommon.PublicKey{
			RawBytes:   der,
			KeyDetails: details,
			ValidFor:   &protocommon.TimeRange{Start: timestamppb.New(validFrom)},
		},
		LogId: &protocommon.LogId{KeyId: l.LogID()},
	}, nil
}

// Add logs entry, a *rekorpb.HashedRekordRequestV002 or
// *rekorpb.CreateEntryRequest (from
// github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf), and returns its
// TransparencyLogEntry once a published checkpoint covers it. An entry
// already in the log is not added again: its existing entry is returned.
// Add makes *Log a sigstore-go sign.RekorV2Client, for signing in-process.
//
// Errors wrap ErrInvalidEntry, ErrClosed, tessera.ErrPushback or the
// context's error.
func (l *Log) Add(ctx context.Context, entry any) (*rekorv1.TransparencyLogEntry, error) {
	tle, _, err := l.add(ctx, entry)
	return tle, err
}

// add is Add, also reporting whether the entry was already in the log.
func (l *Log) add(ctx context.Context, entry any) (*rekorv1.TransparencyLogEntry, bool, error) {
	body, err := canonicalEntry(entry, l.algs)
	if err != nil {
		return nil, false, err
	}
	l.inflight.RLock()
	defer l.inflight.RUnlock()
	if l.closed.Load() {
		return nil, false, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.AddTimeout)
	defer cancel()
	idx, cp, err := l.await(ctx, l.appender.Add(ctx, tessera.NewEntry(body)))
	switch {
	case err == nil:
	case l.closed.Load():
		return nil, false, ErrClosed
	case errors.Is(err, tessera.ErrPushback), ctx.Err() != nil:
		return nil, false, err
	default:
		return nil, false, fmt.Errorf("appending to the log: %w", err)
	}
	tle, err := l.entry(ctx, body, idx.Index, cp)
	if err != nil {
		l.cfg.Logger.ErrorContext(ctx, "building a log entry", "index", idx.Index, "error", err)
		return nil, false, err
	}
	return tle, idx.IsDup, nil
}

// await waits for a published checkpoint covering the entry of f, or for
// ctx. tessera's PublicationAwaiter sees ctx only when a checkpoint is
// read; while none is published (a first checkpoint that witnesses have
// not cosigned) it would wait past ctx, so the wait runs aside and is
// abandoned at ctx's end; it ends at the next publication or at Close.
func (l *Log) await(ctx context.Context, f tessera.IndexFuture) (tessera.Index, []byte, error) {
	type result struct {
		idx tessera.Index
		cp  []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		idx, cp, err := l.awaiter.Await(ctx, f)
		done <- result{idx, cp, err}
	}()
	select {
	case r := <-done:
		return r.idx, r.cp, r.err
	case <-ctx.Done():
		return tessera.Index{}, nil, ctx.Err()
	}
}

// entry builds the TransparencyLogEntry of body at index, with an inclusion
// proof against the signed checkpoint cp, and checks both as a client would.
func (l *Log) entry(ctx context.Context, body []byte, index uint64, cp []byte) (*rekorv1.TransparencyLogEntry, error) {
	c, err := l.cps.verify(cp)
	if err != nil {
		return nil, fmt.Errorf("published checkpoint: %w", err)
	}
	hashes, err := l.prover.inclusion(ctx, index, c.Size)
	if err != nil {
		return nil, fmt.Errorf("building an inclusion proof of index %d in tree size %d: %w", index, c.Size, err)
	}
	if err := tlog.VerifyInclusion(tlog.LeafHash(body), index, c.Size, hashes, c.Hash); err != nil {
		return nil, err
	}
	if index > 1<<63-1 || c.Size > 1<<63-1 {
		return nil, fmt.Errorf("tree size %d does not fit the entry format", c.Size)
	}
	return &rekorv1.TransparencyLogEntry{
		LogIndex:          int64(index),
		LogId:             &protocommon.LogId{KeyId: l.LogID()},
		KindVersion:       kindVersion(),
		CanonicalizedBody: body,
		InclusionProof: &rekorv1.InclusionProof{
			LogIndex:   int64(index),
			RootHash:   bytes.Clone(c.Hash),
			TreeSize:   int64(c.Size),
			Hashes:     cloneHashes(hashes), // the prover's are shared
			Checkpoint: &rekorv1.Checkpoint{Envelope: string(cp)},
		},
	}, nil
}

func cloneHashes(hs [][]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = bytes.Clone(h)
	}
	return out
}

// logger is used by the handler.
func (l *Log) logger() *slog.Logger { return l.cfg.Logger }
