package sign

import (
	"crypto"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
)

// Contradictions and gaps New refuses.
var (
	// ErrNoSigner means neither a key nor an identity token was given.
	ErrNoSigner = errors.New("no signing key or identity token")
	// ErrKeyAndToken means both were: a signature is made one way.
	ErrKeyAndToken = errors.New("a signing key and an identity token are mutually exclusive")
	// ErrKeylessNoConfig means keyless signing was asked for without a
	// signing config naming the certificate authority.
	ErrKeylessNoConfig = errors.New("keyless signing needs a certificate authority")
	// ErrNoTlogConfigured means a transparency log entry was required
	// without a signing config naming the log.
	ErrNoTlogConfigured = errors.New("no transparency log configured")
	// ErrTlogChoice means a log entry was both required and skipped.
	ErrTlogChoice = errors.New("a transparency log entry cannot be both required and skipped")
)

// Config says how to sign, for [New]: with a key or keylessly with an
// identity token, and through which services.
type Config struct {
	// Key signs with a long-lived key (a key file, a hardware key); or
	Key crypto.Signer
	// IDToken signs keylessly: with an ephemeral key that the signing
	// config's certificate authority certifies for the token's identity.
	IDToken string
	// SigningConfig names the certificate authority, transparency logs
	// and timestamp authorities. Without one, a key signs alone: no log
	// entry and no timestamp; keyless signing needs one.
	SigningConfig *root.SigningConfig
	// TrustedRoot, if set, checks each new bundle before it is stored.
	TrustedRoot root.TrustedMaterial
	// RequireTlog refuses to sign without a transparency log.
	RequireTlog bool
	// SkipTlogUnsafe signs without a transparency log entry although the
	// signing config names logs (for content too large for a log): a log
	// entry is what makes the use of a stolen key or a mis-issued
	// certificate visible. A keyless signature then needs a timestamp.
	SkipTlogUnsafe bool
	// SkipTimestamp signs without an RFC 3161 timestamp.
	SkipTimestamp bool
	// Timeout bounds each request to a service; zero means 30 s.
	Timeout time.Duration
	// Transport, if set, carries the CA and TSA requests.
	Transport http.RoundTripper
	// Now is the time services are selected at; nil means time.Now.
	Now func() time.Time
}

// Signer is a key and the services a signature involves, built by [New].
type Signer struct {
	// Keypair signs: the key, or an ephemeral key for keyless signing.
	Keypair sgsign.Keypair
	// Options are the bundle options: certificate authority, logs and
	// timestamp authorities.
	Options Options
	// TimestampOnly, when the signing config names a timestamp authority
	// and timestamps are not skipped, are the options for a signature
	// with a signed timestamp and no log entry, for content too large for
	// a log; nil otherwise.
	TimestampOnly *Options

	key crypto.Signer
}

// Close releases the key if it holds resources (a key in a hardware
// token implements io.Closer): the Signer owns the Config.Key it was built
// with. Close is a no-op for keys in memory.
func (s *Signer) Close() error {
	if c, ok := s.key.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// New builds the signer the config describes, refusing contradictions:
// a key and a token together ([ErrKeyAndToken]), neither
// ([ErrNoSigner]), keyless signing without a signing config
// ([ErrKeylessNoConfig]), a log entry required without a log
// ([ErrNoTlogConfigured]), and a keyless signature with neither a log
// entry nor a timestamp. The CLI (through internal/setup) and quickstart
// build their signers with it.
func New(cfg Config) (*Signer, error) {
	var kp sgsign.Keypair
	switch {
	case cfg.Key != nil && cfg.IDToken != "":
		return nil, ErrKeyAndToken
	case cfg.Key != nil:
		k, err := NewKeySigner(cfg.Key)
		if err != nil {
			return nil, err
		}
		kp = k
	case cfg.IDToken != "":
		k, err := sgsign.NewEphemeralKeypair(nil)
		if err != nil {
			return nil, err
		}
		kp = k
	default:
		return nil, ErrNoSigner
	}
	if cfg.RequireTlog && cfg.SkipTlogUnsafe {
		return nil, ErrTlogChoice
	}
	if cfg.SigningConfig == nil {
		switch {
		case cfg.IDToken != "":
			return nil, ErrKeylessNoConfig
		case cfg.RequireTlog:
			return nil, ErrNoTlogConfigured
		}
		return &Signer{Keypair: kp, key: cfg.Key}, nil
	}
	s := Services{Config: cfg.SigningConfig, TrustedRoot: cfg.TrustedRoot, IDToken: cfg.IDToken,
		Timeout: cfg.Timeout, Transport: cfg.Transport, Log: !cfg.SkipTlogUnsafe, Timestamp: !cfg.SkipTimestamp}
	if cfg.IDToken == "" {
		s.Key = cfg.Key.Public()
	}
	now := time.Now()
	if cfg.Now != nil {
		now = cfg.Now()
	}
	opts, err := s.Options(now)
	if err != nil {
		return nil, err
	}
	out := &Signer{Keypair: kp, Options: opts, key: cfg.Key}
	if s.Timestamp {
		ts, err := s.TimestampOnlyOptions(now)
		if err != nil {
			return nil, err
		}
		out.TimestampOnly = &ts
	}
	return out, nil
}
