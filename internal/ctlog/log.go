package ctlog

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	ct "github.com/google/certificate-transparency-go"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/ctonly"
	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/internal/keyfile"
)

const (
	keyFile    = "ct-key.pem"
	lockFile   = "lock"
	tilesDir   = "tiles"
	issuersDir = "issuer"
	// shutdownTimeout bounds how long Close waits for a checkpoint
	// covering every sequenced entry.
	shutdownTimeout = 30 * time.Second
)

// RFC 6962 3.1 and 3.3 extensions.
var (
	oidPoison            = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	oidPrecertSigningEKU = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 4}
)

// Log is a running CT log. Its methods are safe for concurrent use.
type Log struct {
	cfg      Config
	key      crypto.Signer
	logID    [sha256.Size]byte
	verifier note.Verifier
	vkey     string

	appender *tessera.Appender
	add      func(context.Context, *ctonly.Entry) tessera.IndexFuture
	reader   tessera.LogReader
	shutdown func(context.Context) error
	cancel   context.CancelFunc
	storage  Storage
	lock     *os.File // nil with a shared Storage

	issuerMu  sync.Mutex
	issuers   map[string]bool // issuers stored by this process
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// New opens the log in cfg.Dir (or cfg.Storage), creating it and its key
// on first start. ctx bounds the start only; the log runs until Close.
func New(ctx context.Context, cfg Config) (*Log, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	storage := cfg.Storage
	mkdir := cfg.Dir
	if storage == nil {
		storage = dirStorage{filepath.Join(cfg.Dir, tilesDir)}
		mkdir = filepath.Join(cfg.Dir, tilesDir, issuersDir)
	}
	if err := os.MkdirAll(mkdir, 0o700); err != nil {
		return nil, fmt.Errorf("ct log: creating directory: %w", err)
	}
	var lock *os.File
	if !storage.Shared() {
		var err error
		if lock, err = keyfile.Lock(filepath.Join(cfg.Dir, lockFile)); err != nil {
			return nil, fmt.Errorf("ct log: %w", err)
		}
	}
	l, err := open(ctx, cfg, storage, lock)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	return l, nil
}

func open(ctx context.Context, cfg Config, storage Storage, lock *os.File) (*Log, error) {
	key, err := loadOrCreateKey(ctx, cfg.Dir, storage)
	if err != nil {
		return nil, err
	}
	if k, ok := key.Public().(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("ct log key %s: want ecdsa p-256, got %T", keyFile, key.Public())
	}
	logID, err := LogID(key.Public())
	if err != nil {
		return nil, err
	}
	verifier, vkey, err := NewNoteVerifier(cfg.Origin, key.Public())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	signer, err := newCheckpointSigner(cfg.Origin, key, cfg.Now)
	if err != nil {
		return nil, err
	}
	if err := checkPublished(ctx, storage, cfg.Origin, verifier); err != nil {
		return nil, err
	}
	if ok, err := storage.BindKey(ctx, key.Public()); err != nil {
		return nil, fmt.Errorf("ct log: recording the key: %w", err)
	} else if !ok {
		return nil, fmt.Errorf("%w: the shared storage holds the ct log of another key; start every replica on a copy of the first replica's data directory", ErrInvalidConfig)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	driver, err := storage.Driver(bg, cfg.HTTPClient)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("ct log: opening tessera storage: %w", err)
	}
	opts := tessera.NewAppendOptions().
		WithCTLayout().
		WithCheckpointSigner(signer).
		WithBatching(tessera.DefaultBatchMaxSize, cfg.BatchMaxAge).
		WithCheckpointInterval(cfg.CheckpointInterval).
		WithShutdownTimeout(shutdownTimeout)
	if len(cfg.Witnesses.Components) > 0 {
		opts = opts.WithWitnesses(cfg.Witnesses, &tessera.WitnessOptions{Timeout: cfg.WitnessTimeout})
	}
	appender, shutdown, reader, err := tessera.NewAppender(bg, driver, opts)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("ct log: starting tessera: %w", err)
	}
	cfg.Logger.InfoContext(ctx, "ct log open", "dir", cfg.Dir, "origin", cfg.Origin, "witnesses", len(cfg.Witnesses.Components))
	return &Log{
		cfg:      cfg,
		key:      key,
		logID:    logID,
		verifier: verifier,
		vkey:     vkey,
		storage:  storage,
		issuers:  map[string]bool{},
		appender: appender,
		add:      tessera.NewCertificateTransparencyAppender(appender),
		reader:   reader,
		shutdown: shutdown,
		cancel:   cancel,
		lock:     lock,
	}, nil
}

// loadOrCreateKey reads the log's key from dir, creating it only if the
// storage holds no log yet: a log without its key is an error, never
// given a new one.
func loadOrCreateKey(ctx context.Context, dir string, storage Storage) (crypto.Signer, error) {
	path := filepath.Join(dir, keyFile)
	_, err := storage.Read(ctx, "checkpoint")
	var key crypto.Signer
	switch {
	case err == nil:
		key, err = keyfile.Read(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: the ct log exists but its key %s is missing", ErrInvalidConfig, path)
		}
	case errors.Is(err, fs.ErrNotExist):
		key, err = keyfile.LoadOrCreate(path, func() (crypto.Signer, error) {
			return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		})
	default:
		return nil, fmt.Errorf("ct log: reading the published checkpoint: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("ct log key: %w", err)
	}
	return key, nil
}

// checkPublished refuses a log whose published checkpoint was signed by
// another key or under another origin.
func checkPublished(ctx context.Context, storage Storage, origin string, v note.Verifier) error {
	cp, err := storage.Read(ctx, "checkpoint")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ct log: reading the published checkpoint: %w", err)
	}
	if first, _, _ := bytes.Cut(cp, []byte("\n")); string(first) != origin {
		return fmt.Errorf("%w: the ct log was published as %q, the configuration says %q", ErrInvalidConfig, first, origin)
	}
	if _, err := note.Open(cp, note.VerifierList(v)); err != nil {
		return fmt.Errorf("%w: the published checkpoint does not verify with the log key: %v", ErrInvalidConfig, err)
	}
	return nil
}

// Close stops accepting entries, waits (up to 30 s) for a checkpoint
// covering every sequenced entry, and releases the directory.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		err := l.shutdown(context.Background())
		l.cancel()
		if l.lock != nil {
			if cerr := l.lock.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			l.closeErr = fmt.Errorf("closing the ct log: %w", err)
		}
	})
	return l.closeErr
}

// Origin returns the checkpoint origin.
func (l *Log) Origin() string { return l.cfg.Origin }

// PublicKey returns the log's ECDSA P-256 public key.
func (l *Log) PublicKey() crypto.PublicKey { return l.key.Public() }

// LogID returns the RFC 6962 log ID: SHA-256 of the DER public key.
func (l *Log) LogID() []byte { return bytes.Clone(l.logID[:]) }

// Verifier returns the note verifier of the log's checkpoints.
func (l *Log) Verifier() note.Verifier { return l.verifier }

// VerifierKey returns the log's checkpoint verifier key in vkey form
// (signature type 0x05), for witnesses' and monitors' policies.
func (l *Log) VerifierKey() string { return l.vkey }

// AddPreChain logs a precertificate: chain is the precertificate (with the
// critical poison extension), its issuer, and on to (or up to) an accepted
// root. It returns the SCT once the entry is sequenced (durably). Errors
// wrap ErrInvalidChain, ErrClosed, tessera.ErrPushback or the context's
// error.
func (l *Log) AddPreChain(ctx context.Context, chain []*x509.Certificate) (*ct.SignedCertificateTimestamp, error) {
	return l.addChain(ctx, chain, true)
}

// AddChain logs a certificate, as AddPreChain logs a precertificate.
func (l *Log) AddChain(ctx context.Context, chain []*x509.Certificate) (*ct.SignedCertificateTimestamp, error) {
	return l.addChain(ctx, chain, false)
}

func (l *Log) addChain(ctx context.Context, chain []*x509.Certificate, precert bool) (*ct.SignedCertificateTimestamp, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	full, err := l.validate(chain, precert)
	if err != nil {
		return nil, err
	}
	issuers := full[1:]
	entry := &ctonly.Entry{Timestamp: uint64(l.cfg.Now().UnixMilli()), IsPrecert: precert}
	for _, c := range issuers {
		entry.FingerprintsChain = append(entry.FingerprintsChain, sha256.Sum256(c.Raw))
	}
	leaf := &ct.TimestampedEntry{Timestamp: entry.Timestamp}
	if precert {
		tbs, err := ctx509.RemoveCTPoison(full[0].RawTBSCertificate)
		if err != nil {
			return nil, fmt.Errorf("%w: precertificate: %v", ErrInvalidChain, err)
		}
		ikh := sha256.Sum256(full[1].RawSubjectPublicKeyInfo)
		entry.Certificate, entry.Precertificate, entry.IssuerKeyHash = tbs, full[0].Raw, ikh[:]
		leaf.EntryType = ct.PrecertLogEntryType
		leaf.PrecertEntry = &ct.PreCert{IssuerKeyHash: ikh, TBSCertificate: tbs}
	} else {
		entry.Certificate = full[0].Raw
		leaf.EntryType = ct.X509LogEntryType
		leaf.X509Entry = &ct.ASN1Cert{Data: full[0].Raw}
	}
	if err := l.storeIssuers(ctx, issuers); err != nil {
		return nil, err
	}
	idx, err := l.add(ctx, entry)()
	if err != nil {
		if l.closed.Load() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("ct log: sequencing: %w", err)
	}
	ext, err := leafIndexExtension(idx.Index)
	if err != nil {
		return nil, err
	}
	sct := &ct.SignedCertificateTimestamp{SCTVersion: ct.V1, LogID: ct.LogID{KeyID: l.logID}, Timestamp: entry.Timestamp, Extensions: ext}
	leaf.Extensions = ext
	input, err := ct.SerializeSCTSignatureInput(*sct, ct.LogEntry{Leaf: ct.MerkleTreeLeaf{Version: ct.V1, LeafType: ct.TimestampedEntryLeafType, TimestampedEntry: leaf}})
	if err != nil {
		return nil, fmt.Errorf("ct log: sct: %w", err)
	}
	if sct.Signature, err = digitallySign(l.key, input); err != nil {
		return nil, fmt.Errorf("ct log: signing sct: %w", err)
	}
	l.cfg.Logger.InfoContext(ctx, "ct log: logged", "index", idx.Index, "precert", precert, "serial", full[0].SerialNumber.Text(16))
	return sct, nil
}

// validate checks a submitted chain and returns it ending at the
// accepted root it chains to.
func (l *Log) validate(chain []*x509.Certificate, precert bool) ([]*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: empty chain", ErrInvalidChain)
	}
	if len(chain) > maxChain {
		return nil, fmt.Errorf("%w: %d certificates, at most %d", ErrInvalidChain, len(chain), maxChain)
	}
	switch poisoned := hasPoison(chain[0]); {
	case precert && !poisoned:
		return nil, fmt.Errorf("%w: add-pre-chain needs a precertificate (critical poison extension %s)", ErrInvalidChain, oidPoison)
	case !precert && poisoned:
		return nil, fmt.Errorf("%w: a precertificate goes to add-pre-chain", ErrInvalidChain)
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return nil, fmt.Errorf("%w: certificate %d is not issued by certificate %d: %v", ErrInvalidChain, i, i+1, err)
		}
		if i > 0 && hasPoison(chain[i]) {
			return nil, fmt.Errorf("%w: certificate %d is a precertificate", ErrInvalidChain, i)
		}
	}
	if precert && (len(chain) < 2 || hasEKU(chain[1], oidPrecertSigningEKU)) {
		return nil, fmt.Errorf("%w: the precertificate must be issued by the CA itself (no precertificate signing certificate)", ErrInvalidChain)
	}
	last := chain[len(chain)-1]
	for _, r := range l.cfg.Roots {
		if last.Equal(r) {
			return chain, nil
		}
	}
	for _, r := range l.cfg.Roots {
		if last.CheckSignatureFrom(r) == nil {
			return append(append([]*x509.Certificate(nil), chain...), r), nil
		}
	}
	return nil, fmt.Errorf("%w: the chain does not end at an accepted root (%q is not one)", ErrInvalidChain, last.Subject.CommonName)
}

func hasPoison(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidPoison) {
			return e.Critical
		}
	}
	return false
}

func hasEKU(c *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	for _, u := range c.UnknownExtKeyUsage {
		if u.Equal(oid) {
			return true
		}
	}
	return false
}

// storeIssuers makes every issuer an entry refers to available at
// issuer/<fingerprint> before the entry is logged.
func (l *Log) storeIssuers(ctx context.Context, issuers []*x509.Certificate) error {
	l.issuerMu.Lock()
	defer l.issuerMu.Unlock()
	for _, c := range issuers {
		fp := sha256.Sum256(c.Raw)
		name := hex.EncodeToString(fp[:])
		if l.issuers[name] {
			continue
		}
		if err := l.storage.Put(ctx, issuersDir+"/"+name, c.Raw, "application/pkix-cert"); err != nil {
			return fmt.Errorf("ct log: storing issuer: %w", err)
		}
		l.issuers[name] = true
	}
	return nil
}

// Roots returns the accepted roots.
func (l *Log) Roots() []*x509.Certificate { return append([]*x509.Certificate(nil), l.cfg.Roots...) }
