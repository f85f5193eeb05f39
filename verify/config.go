package verify

import (
	"crypto"
	"errors"

	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/tlog"
)

// Contradictions and gaps NewAuthority refuses.
var (
	// ErrKeysAndIdentities means both trusted keys and expected
	// certificate identities were given: a signature is checked one way.
	ErrKeysAndIdentities = errors.New("trusted keys and expected certificate identities are mutually exclusive")
	// ErrKeylessNoRoot means identities were given without a trusted root
	// whose certificate authorities issue their certificates.
	ErrKeylessNoRoot = errors.New("keyless verification needs a trusted root")
	// ErrSignedTimestampsNoRoot means signed timestamps were required of
	// key signatures without a trusted root naming the timestamp
	// authorities.
	ErrSignedTimestampsNoRoot = errors.New("requiring signed timestamps needs a trusted root that lists the timestamp authority")
	// ErrSignedTimestampsWithTlog means signed timestamps were required
	// while the log entry is: the log entry then gives the time, and the
	// requirement would not apply.
	ErrSignedTimestampsWithTlog = errors.New("signed timestamps are required in place of the log entry: without waiving the log entry, it is required and gives the time")
	// ErrNoTransparencyLog means a trusted root that lists no
	// transparency log was given without waiving the log entry: no
	// signature's log entry could be verified under it (decision D14).
	ErrNoTransparencyLog = errors.New("the trusted root lists no transparency log, so no signature's log entry can be verified")
	// ErrWitnessesNeedLog means a witness policy was given where no log
	// entry is checked (no trusted root, or the log entry waived):
	// witnesses cosign the checkpoints of log entries.
	ErrWitnessesNeedLog = errors.New("a witness policy checks the checkpoints of log entries: it needs a trusted root and the log entry required")
	// ErrIgnoreSCTWithKeys means the SCT check was waived for key
	// signatures, which carry no certificate to have one.
	ErrIgnoreSCTWithKeys = errors.New("the SCT check applies to keyless certificates only: key signatures have none to waive")
)

// AuthorityConfig says who may have signed, for [NewAuthority]: trusted
// keys, or expected certificate identities under a trusted root.
type AuthorityConfig struct {
	// Keys are the trusted public keys (key signatures).
	Keys []crypto.PublicKey
	// Identities are the expected certificate identities (keyless
	// signatures); they need TrustedRoot.
	Identities []Identity
	// TrustedRoot lists the certificate authorities, transparency logs,
	// CT logs and timestamp authorities to trust. Keyless signatures need
	// it; key signatures checked under it must be in one of its logs.
	TrustedRoot TrustedRoot
	// InsecureIgnoreTlogUnsafe accepts signatures without a transparency
	// log entry (cosign's --insecure-ignore-tlog): a log entry is what
	// makes the use of a stolen key or a mis-issued certificate visible.
	// Each signature must then carry an RFC 3161 timestamp from one of the
	// trusted root's timestamp authorities instead (decision D14).
	// Without a trusted root key signatures are never checked against a
	// log, and this changes nothing.
	InsecureIgnoreTlogUnsafe bool
	// RequireSignedTimestamps asks for that timestamp explicitly (cosign's
	// --use-signed-timestamps): it applies with InsecureIgnoreTlogUnsafe
	// and a trusted root only.
	RequireSignedTimestamps bool
	// InsecureIgnoreSCTUnsafe accepts keyless certificates without a
	// signed certificate timestamp from one of the trusted root's CT logs
	// (cosign's --insecure-ignore-sct, policy-controller's
	// keyless.insecureIgnoreSCT): the SCT is what makes a mis-issued
	// certificate visible. It has the effect of a trusted root that lists
	// no CT log (decision D12) and applies to keyless signatures only.
	InsecureIgnoreSCTUnsafe bool
	// WitnessPolicy, when set, requires the checkpoint of every log entry
	// to carry its quorum of witness cosignatures ([Witnessed]).
	WitnessPolicy *tlog.Policy
}

// NewAuthority builds the authority the config describes, refusing
// contradictions: keys and identities together ([ErrKeysAndIdentities]),
// neither ([ErrNoAuthority]), identities without a trusted root
// ([ErrKeylessNoRoot]), an identity both exact and a regular expression,
// signed timestamps required where they would not apply, and a trusted
// root that lists no transparency log while the log entry is required
// ([ErrNoTransparencyLog]), and a witness policy where no log entry is
// checked ([ErrWitnessesNeedLog]), and the SCT check waived for keys
// ([ErrIgnoreSCTWithKeys]). The CLI (through internal/setup) and
// quickstart build their verifiers with it.
func NewAuthority(cfg AuthorityConfig) (Authority, error) {
	if cfg.WitnessPolicy == nil {
		return newAuthority(cfg)
	}
	if cfg.TrustedRoot == nil || cfg.InsecureIgnoreTlogUnsafe {
		return nil, ErrWitnessesNeedLog
	}
	a, err := newAuthority(cfg)
	if err != nil {
		return nil, err
	}
	return Witnessed(a, cfg.WitnessPolicy)
}

func newAuthority(cfg AuthorityConfig) (Authority, error) {
	keyless := len(cfg.Identities) > 0
	switch {
	case len(cfg.Keys) > 0 && keyless:
		return nil, ErrKeysAndIdentities
	case len(cfg.Keys) > 0 && cfg.InsecureIgnoreSCTUnsafe:
		return nil, ErrIgnoreSCTWithKeys
	case len(cfg.Keys) > 0:
		ks, err := NewKeys(cfg.Keys...)
		if err != nil {
			return nil, err
		}
		if cfg.TrustedRoot == nil {
			if cfg.RequireSignedTimestamps {
				return nil, ErrSignedTimestampsNoRoot
			}
			return ks, nil
		}
		ks = ks.WithTrustedRoot(cfg.TrustedRoot)
		if !cfg.InsecureIgnoreTlogUnsafe {
			if cfg.RequireSignedTimestamps {
				return nil, ErrSignedTimestampsWithTlog
			}
			if len(cfg.TrustedRoot.RekorLogs()) == 0 {
				return nil, ErrNoTransparencyLog
			}
			return ks, nil
		}
		tk, err := ks.TimestampOnly()
		if err != nil {
			return nil, err
		}
		return tk, nil
	case keyless:
		if cfg.TrustedRoot == nil {
			return nil, ErrKeylessNoRoot
		}
		for _, id := range cfg.Identities {
			if _, err := id.certificateIdentity(); err != nil {
				return nil, err
			}
		}
		if cfg.RequireSignedTimestamps && !cfg.InsecureIgnoreTlogUnsafe {
			return nil, ErrSignedTimestampsWithTlog
		}
		if !cfg.InsecureIgnoreTlogUnsafe && len(cfg.TrustedRoot.RekorLogs()) == 0 {
			return nil, ErrNoTransparencyLog
		}
		tr := cfg.TrustedRoot
		if cfg.InsecureIgnoreSCTUnsafe {
			tr = withoutCTLogs{tr}
		}
		k, err := NewKeyless(tr, cfg.Identities...)
		if err != nil {
			return nil, err
		}
		if !cfg.InsecureIgnoreTlogUnsafe {
			return k, nil
		}
		tk, err := k.TimestampOnly()
		if err != nil {
			return nil, err
		}
		return tk, nil
	}
	return nil, ErrNoAuthority
}

// withoutCTLogs is a trusted root whose CT logs are not trusted, so that
// certificates need no SCT (AuthorityConfig.InsecureIgnoreSCTUnsafe).
type withoutCTLogs struct{ TrustedRoot }

func (withoutCTLogs) CTLogs() map[string]*root.TransparencyLog { return nil }
