package logserver

import (
	"crypto"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/transparency-dev/tessera"
)

// Key types for Config.KeyType.
const (
	KeyEd25519   = "ed25519"
	KeyECDSAP256 = "ecdsa-p256"
)

// Defaults of the Config knobs. They keep an entry's wait (batching,
// integration, checkpoint publication, polling) around 0.1–0.2 s on a local
// disk; Rekor v2 takes up to 10 s. See bench/tlog for measurements.
const (
	DefaultBatchMaxSize           = 256
	DefaultBatchMaxAge            = 10 * time.Millisecond
	DefaultCheckpointInterval     = 100 * time.Millisecond // the POSIX driver's minimum
	DefaultPollInterval           = 5 * time.Millisecond
	DefaultPushbackMaxOutstanding = tessera.DefaultPushbackMaxOutstanding
	DefaultMaxRequestBytes        = 128 << 10
	DefaultAddTimeout             = 30 * time.Second
	DefaultShutdownTimeout        = 30 * time.Second

	// With a shared Storage: tessera's AWS driver publishes at most once
	// a second, and each poll is a read from the object store.
	DefaultSharedCheckpointInterval = time.Second
	DefaultSharedPollInterval       = 50 * time.Millisecond
)

// Config configures a Log. Only Dir and Origin are required.
type Config struct {
	// Dir holds the whole log: the tessera POSIX tree in Dir/tiles (the
	// tlog-tiles layout plus tessera's .state) and the log's private key
	// in Dir/log-key.pem (PKCS #8, mode 0600). Both are created on first
	// start. One process at a time may open a Dir.
	//
	// With Storage set, Dir holds only the key, and several processes may
	// open copies of it (or it) on the same storage.
	Dir string

	// Storage, if set, holds the tree instead of Dir/tiles: a storage
	// that several processes write (tessera's AWS driver). Its log's key
	// is created only if the storage holds no log yet.
	Storage Storage

	// Origin is the log's checkpoint origin and the name of its note key.
	// sigstore-go v1.3.0 verifies a Rekor v2 checkpoint with the origin
	// url.Parse(baseUrl).Hostname(), where baseUrl is the log's
	// tlogs[].baseUrl in trusted_root.json: the host alone, without
	// scheme, port or path. So Origin must be exactly that: for a base URL
	// of https://log.example:8443, Origin is "log.example"; for
	// http://127.0.0.1:3000 it is "127.0.0.1". OriginFromURL computes it.
	// Changing the origin of an existing log is refused, since it changes
	// the log ID of an Ed25519 log.
	Origin string

	// KeyType is the type of key created on first start: KeyEd25519 (the
	// default) or KeyECDSAP256. An existing key is used whatever its type;
	// a KeyType that contradicts it is an error.
	KeyType string

	// Signer, if set, is the log's key held elsewhere (a PKCS#11 token),
	// Ed25519 or ECDSA P-256, used instead of Dir/log-key.pem, which is
	// neither read nor written. A log keeps its key: an existing log whose
	// published checkpoint another key signed is refused (ErrKeyMismatch).
	Signer crypto.Signer

	// Logger receives the log's diagnostics. Nil discards them.
	Logger *slog.Logger

	// BatchMaxSize and BatchMaxAge bound a batch of entries sequenced
	// together (tessera's WithBatching).
	BatchMaxSize uint
	BatchMaxAge  time.Duration
	// CheckpointInterval is how often a new checkpoint may be published
	// (tessera's WithCheckpointInterval); at least 100 ms (1 s, the
	// default, with a shared Storage).
	CheckpointInterval time.Duration
	// PollInterval is how often waiting requests look for a new checkpoint
	// (DefaultSharedPollInterval by default with a shared Storage).
	PollInterval time.Duration
	// PushbackMaxOutstanding is the number of entries sequenced but not yet
	// integrated above which new entries are refused with 503.
	PushbackMaxOutstanding uint
	// MaxRequestBytes bounds a request body; larger requests get 413.
	MaxRequestBytes int64
	// AddTimeout bounds how long a request waits for its entry to be
	// integrated and published.
	AddTimeout time.Duration

	// Witnesses is the quorum of witnesses (C2SP tlog-witness) that must
	// cosign a checkpoint before it is published
	// (tessera.NewWitnessGroupFromPolicy); the zero value publishes
	// without witnesses. An entry's request then waits for a witnessed
	// checkpoint.
	Witnesses tessera.WitnessGroup
	// WitnessTimeout bounds one round of asking the witnesses to cosign
	// (tessera.DefaultWitnessTimeout if zero).
	WitnessTimeout time.Duration
	// ShutdownTimeout bounds how long Close waits for tessera to publish a
	// checkpoint covering every entry it has accepted.
	ShutdownTimeout time.Duration
}

// WithDefaults returns c with every zero knob set to its default.
func (c Config) WithDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.BatchMaxSize == 0 {
		c.BatchMaxSize = DefaultBatchMaxSize
	}
	if c.BatchMaxAge == 0 {
		c.BatchMaxAge = DefaultBatchMaxAge
	}
	shared := c.Storage != nil && c.Storage.Shared()
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
		if shared {
			c.CheckpointInterval = DefaultSharedCheckpointInterval
		}
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
		if shared {
			c.PollInterval = DefaultSharedPollInterval
		}
	}
	if c.PushbackMaxOutstanding == 0 {
		c.PushbackMaxOutstanding = DefaultPushbackMaxOutstanding
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.AddTimeout == 0 {
		c.AddTimeout = DefaultAddTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.WitnessTimeout == 0 {
		c.WitnessTimeout = tessera.DefaultWitnessTimeout
	}
	return c
}

func (c Config) validate() error {
	if c.Dir == "" {
		return fmt.Errorf("%w: no directory", ErrInvalidConfig)
	}
	if c.Origin == "" {
		return fmt.Errorf("%w: no origin", ErrInvalidConfig)
	}
	if !validNoteName(c.Origin) {
		return fmt.Errorf("%w: origin %q cannot name a note key (it must be utf-8 without spaces or '+')", ErrInvalidConfig, c.Origin)
	}
	if host, port, err := net.SplitHostPort(c.Origin); err == nil && host != "" {
		if _, err := strconv.ParseUint(port, 10, 16); err == nil {
			return fmt.Errorf("%w: origin %q has a port; sigstore-go compares the origin with the base URL's host alone, so use %q",
				ErrInvalidConfig, c.Origin, host)
		}
	}
	switch c.KeyType {
	case "", KeyEd25519, KeyECDSAP256:
	default:
		return fmt.Errorf("%w: key type %q, want %q or %q", ErrInvalidConfig, c.KeyType, KeyEd25519, KeyECDSAP256)
	}
	if c.Storage != nil {
		if min := c.Storage.MinCheckpointInterval(); c.CheckpointInterval < min {
			return fmt.Errorf("%w: checkpoint interval %v is below the storage driver's minimum of %v", ErrInvalidConfig, c.CheckpointInterval, min)
		}
	} else if c.CheckpointInterval < 100*time.Millisecond {
		return fmt.Errorf("%w: checkpoint interval %v is below the POSIX driver's minimum of 100ms", ErrInvalidConfig, c.CheckpointInterval)
	}
	if c.BatchMaxAge < 0 || c.PollInterval < 0 || c.AddTimeout < 0 || c.MaxRequestBytes < 0 {
		return fmt.Errorf("%w: negative duration or size", ErrInvalidConfig)
	}
	return nil
}

// validNoteName is the C2SP signed-note rule for key names, which the
// origin is.
func validNoteName(name string) bool {
	return name != "" && utf8.ValidString(name) &&
		strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// OriginFromURL returns the checkpoint origin that sigstore-go v1.3.0
// expects of the log whose trusted-root baseUrl is baseURL: its host,
// without scheme, port, user or path.
func OriginFromURL(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("invalid log base url: %w", err)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("log base url %q has no host", baseURL)
	}
	return u.Hostname(), nil
}
