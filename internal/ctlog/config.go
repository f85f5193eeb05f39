package ctlog

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/transparency-dev/tessera"
)

// Errors callers branch on.
var (
	// ErrInvalidConfig means a Config field is missing or out of range.
	ErrInvalidConfig = errors.New("invalid CT log configuration")
	// ErrInvalidChain means a submitted chain is not one this log accepts:
	// malformed, not ending at an accepted root, with a signature that does
	// not verify, or a certificate where a precertificate is expected (and
	// the reverse). The HTTP API answers it 400.
	ErrInvalidChain = errors.New("invalid certificate chain")
	// ErrClosed means the log has been closed.
	ErrClosed = errors.New("ct log closed")
)

// Defaults of the Config knobs.
const (
	DefaultBatchMaxAge        = 10 * time.Millisecond
	DefaultCheckpointInterval = 100 * time.Millisecond // the POSIX driver's minimum
	DefaultWitnessTimeout     = tessera.DefaultWitnessTimeout
	// maxChain bounds the certificates of a submitted chain.
	maxChain = 10
	// maxRequestBytes bounds an add-chain request body.
	maxRequestBytes = 512 << 10
)

// Config configures a Log. Dir, Origin and Roots are required.
type Config struct {
	// Dir holds the log: the tessera POSIX tree (CT layout) and the
	// issuers in Dir/tiles, the ECDSA P-256 key in Dir/ct-key.pem (PKCS #8,
	// mode 0600), created on first start. One process at a time may open
	// a Dir. With Storage set, Dir holds only the key.
	Dir string
	// Storage, if set, holds the tree and the issuers instead of
	// Dir/tiles: a storage that several processes write (tessera's AWS
	// driver). The key is created only if the storage holds no log yet.
	Storage Storage
	// Origin is the checkpoint origin: the log's submission prefix as a
	// schema-less URL without a trailing slash, lowercase
	// ("log.example/ctlog"). OriginFromURL computes it from the URL the
	// trusted root lists.
	Origin string
	// Roots are the root certificates whose chains the log accepts.
	Roots []*x509.Certificate
	// Witnesses is the quorum of witnesses that must cosign a checkpoint
	// before it is published (tessera.NewWitnessGroupFromPolicy); the zero
	// value publishes without witnesses.
	Witnesses tessera.WitnessGroup
	// WitnessTimeout bounds one round of asking the witnesses to cosign;
	// DefaultWitnessTimeout if zero.
	WitnessTimeout time.Duration
	// HTTPClient reaches the witnesses; nil means one with WitnessTimeout.
	HTTPClient *http.Client
	// Logger receives the log's diagnostics; nil discards them.
	Logger *slog.Logger
	// Now is the clock of SCT and checkpoint timestamps; nil means
	// time.Now.
	Now func() time.Time
	// BatchMaxAge bounds how long an entry waits to be sequenced with
	// others; DefaultBatchMaxAge if zero.
	BatchMaxAge time.Duration
	// CheckpointInterval is how often a checkpoint may be published;
	// DefaultCheckpointInterval if zero (the storage's minimum if that is
	// more), at least 100 ms.
	CheckpointInterval time.Duration
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.BatchMaxAge == 0 {
		c.BatchMaxAge = DefaultBatchMaxAge
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
		if c.Storage != nil && c.Storage.MinCheckpointInterval() > c.CheckpointInterval {
			c.CheckpointInterval = c.Storage.MinCheckpointInterval()
		}
	}
	if c.WitnessTimeout == 0 {
		c.WitnessTimeout = DefaultWitnessTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.WitnessTimeout}
	}
	return c
}

func (c Config) validate() error {
	if c.Dir == "" {
		return fmt.Errorf("%w: no directory", ErrInvalidConfig)
	}
	if c.Origin == "" || c.Origin != strings.ToLower(c.Origin) || strings.ContainsAny(c.Origin, " \t\n+") ||
		strings.HasSuffix(c.Origin, "/") || strings.Contains(c.Origin, "://") {
		return fmt.Errorf("%w: origin %q must be a lowercase schema-less URL without a trailing slash", ErrInvalidConfig, c.Origin)
	}
	if len(c.Roots) == 0 {
		return fmt.Errorf("%w: no accepted roots", ErrInvalidConfig)
	}
	if c.Storage != nil {
		if min := c.Storage.MinCheckpointInterval(); c.CheckpointInterval < min {
			return fmt.Errorf("%w: checkpoint interval %v is below the storage driver's minimum of %v", ErrInvalidConfig, c.CheckpointInterval, min)
		}
	} else if c.CheckpointInterval < 100*time.Millisecond {
		return fmt.Errorf("%w: checkpoint interval %v is below the POSIX driver's minimum of 100ms", ErrInvalidConfig, c.CheckpointInterval)
	}
	if c.BatchMaxAge < 0 || c.WitnessTimeout < 0 {
		return fmt.Errorf("%w: negative duration", ErrInvalidConfig)
	}
	return nil
}

// OriginFromURL returns the checkpoint origin of the log whose submission
// prefix is baseURL (trusted_root.json ctlogs[].baseUrl): the URL without
// its scheme, port and trailing slash, lowercase. Static-ct-api names the
// log by its submission prefix with the port; this leaves the port out, as
// hallmark's transparency log does (its origin is the host, which
// sigstore-go requires), so that a log keeps its name when its server
// moves to another port. For a log on the default port the two agree.
func OriginFromURL(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("invalid ct log url: %w", err)
	}
	if u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("ct log url %q: want http(s)://host[/path]", baseURL)
	}
	return strings.ToLower(strings.TrimSuffix(u.Hostname()+u.Path, "/")), nil
}
