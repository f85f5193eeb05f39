package setup

import (
	"crypto"
	"fmt"
	"os"

	"hallmark.dev/keys"
	"hallmark.dev/tlog"
	"hallmark.dev/verify"
)

// Authority is who may have signed, as a command names it: a public key
// file, or an identity under a trusted root file.
type Authority struct {
	// KeyPath is a PEM public key (or certificate) file.
	KeyPath string
	// TrustedRootPath is a trusted_root.json file.
	TrustedRootPath string
	// Identity is the expected certificate identity; the zero value
	// means none (key verification).
	Identity verify.Identity
	// InsecureIgnoreTlogUnsafe and RequireSignedTimestamps are passed to
	// verify.AuthorityConfig.
	InsecureIgnoreTlogUnsafe bool
	RequireSignedTimestamps  bool
	// WitnessPolicyPath is a tlog-policy file whose witness quorum every
	// log entry's checkpoint must carry.
	WitnessPolicyPath string
}

// NewAuthority reads the files and builds the authority with
// verify.NewAuthority, which refuses contradictions.
func NewAuthority(a Authority) (verify.Authority, error) {
	cfg := verify.AuthorityConfig{
		InsecureIgnoreTlogUnsafe: a.InsecureIgnoreTlogUnsafe,
		RequireSignedTimestamps:  a.RequireSignedTimestamps,
	}
	if a.Identity != (verify.Identity{}) {
		cfg.Identities = []verify.Identity{a.Identity}
	}
	if a.KeyPath != "" && len(cfg.Identities) > 0 {
		return nil, verify.ErrKeysAndIdentities
	}
	if a.WitnessPolicyPath != "" {
		if a.TrustedRootPath == "" || a.InsecureIgnoreTlogUnsafe {
			return nil, verify.ErrWitnessesNeedLog
		}
		p, err := ReadWitnessPolicy(a.WitnessPolicyPath)
		if err != nil {
			return nil, err
		}
		cfg.WitnessPolicy = p
	}
	if a.TrustedRootPath != "" {
		tr, err := ReadTrustedRoot(a.TrustedRootPath)
		if err != nil {
			return nil, err
		}
		cfg.TrustedRoot = tr
	}
	if a.KeyPath != "" {
		pub, err := ReadPublicKey(a.KeyPath)
		if err != nil {
			return nil, err
		}
		cfg.Keys = []crypto.PublicKey{pub}
	}
	return verify.NewAuthority(cfg)
}

// ReadTrustedRoot reads and parses a trusted_root.json file.
func ReadTrustedRoot(path string) (verify.TrustedRoot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read trusted root: %w", err)
	}
	tr, err := verify.ParseTrustedRoot(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tr, nil
}

// ReadPublicKey reads a PEM public key (or certificate) file.
func ReadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	pub, err := keys.ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("load public key %s: %w", path, err)
	}
	return pub, nil
}

// ReadWitnessPolicy reads a tlog-policy file (C2SP tlog-policy).
func ReadWitnessPolicy(path string) (*tlog.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read witness policy: %w", err)
	}
	p, err := tlog.ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}
