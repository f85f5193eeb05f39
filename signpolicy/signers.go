package signpolicy

import (
	"crypto"
	"errors"
	"fmt"
	"strings"

	"hallmark.dev/keys"
	"hallmark.dev/verify"
)

// ErrNoLog is returned for a trusted root that lists no transparency log:
// every approval and policy version must be logged, and without a log in
// the root nothing would check that they are.
var ErrNoLog = errors.New("the trusted root lists no transparency log: approvals and policy versions must be logged, so their log entries must be checked")

// signerSet says which named signer made a signed statement: trusted keys
// and keyless identities, each belonging to a name.
type signerSet struct {
	keys *verify.Keys
	// bare are the same keys without the root: they check the signature
	// alone, to say why a signature did not verify.
	bare       *verify.Keys
	byKey      map[string]string // key fingerprint (keys.Fingerprint) to name
	keyless    *verify.Keyless
	byIdentity map[Identity]string
	// anyone verifies any identity under the root, to name a keyless
	// signer that belongs to no one.
	anyone *verify.Keyless
}

// named is a key or identity with the name it acts for.
type named struct {
	name     string
	key      crypto.PublicKey
	identity *Identity
}

func newSignerSet(root verify.TrustedRoot, members []named) (*signerSet, error) {
	if root == nil {
		return nil, verify.ErrNoAuthority
	}
	if len(root.RekorLogs()) == 0 {
		return nil, ErrNoLog
	}
	s := &signerSet{byKey: map[string]string{}, byIdentity: map[Identity]string{}}
	var (
		pubs []crypto.PublicKey
		ids  []verify.Identity
	)
	for _, m := range members {
		switch {
		case m.key != nil:
			if _, err := verify.NewKeys(m.key); err != nil {
				continue // a key type statements are never signed with
			}
			pubs = append(pubs, m.key)
			s.byKey[keys.Fingerprint(m.key)] = m.name
		case m.identity != nil:
			ids = append(ids, verify.Identity{Issuer: m.identity.Issuer, Subject: m.identity.Subject})
			s.byIdentity[*m.identity] = m.name
		}
	}
	if len(pubs) > 0 {
		ks, err := verify.NewKeys(pubs...)
		if err != nil {
			return nil, err
		}
		s.bare, s.keys = ks, ks.WithTrustedRoot(root)
	}
	if len(ids) > 0 {
		k, err := verify.NewKeyless(root, ids...)
		if err != nil {
			return nil, err
		}
		s.keyless = k
	}
	anyone, err := verify.NewKeyless(root, verify.Identity{IssuerRegexp: ".+", SubjectRegexp: ".+"})
	if err == nil {
		s.anyone = anyone
	}
	return s, nil
}

// principalSigners returns the signer set of a policy's principals.
func principalSigners(p *Policy, root verify.TrustedRoot) (*signerSet, error) {
	var members []named
	for _, pr := range p.principals {
		for _, k := range pr.Keys {
			if k.Public != nil {
				members = append(members, named{name: pr.Name, key: k.Public})
			}
		}
		for i := range pr.Identities {
			members = append(members, named{name: pr.Name, identity: &pr.Identities[i]})
		}
	}
	return newSignerSet(root, members)
}

// identified is a statement whose signer verified and has a name.
type identified struct {
	name string
	att  *verify.VerifiedAttestation
	how  string // "key SHA256:…, 1 log entry"
}

// identify verifies a bundle holding a statement of the predicate type
// and names its signer. The error says why no named signer signed it.
func (s *signerSet) identify(source string, bundle []byte, predicateType string) (*identified, error) {
	policy := func(a verify.Authority) verify.StatementPolicy {
		return verify.StatementPolicy{Authority: a, PredicateTypes: []string{predicateType}}
	}
	var errs []error
	if s.keys != nil {
		va, err := verify.Statement(source, bundle, policy(s.keys))
		if err == nil {
			name := s.byKey[va.Signer.KeyFingerprint]
			return &identified{name: name, att: va, how: describe(va.Signer)}, nil
		}
		errs = append(errs, err)
	}
	if s.keyless != nil {
		va, err := verify.Statement(source, bundle, policy(s.keyless))
		if err == nil {
			name := s.byIdentity[Identity{Issuer: va.Signer.Issuer, Subject: va.Signer.Subject}]
			if name != "" {
				return &identified{name: name, att: va, how: describe(va.Signer)}, nil
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if s.anyone != nil {
		if va, err := verify.Statement(source, bundle, policy(s.anyone)); err == nil {
			return nil, fmt.Errorf("signed by identity %s from %s, which no principal holds (unnamed signer)", va.Signer.Subject, va.Signer.Issuer)
		}
	}
	// A key signature fails the log check when no trusted key made it
	// (the log entry names the key): check the signature alone to tell an
	// unnamed signer from a bad log entry.
	if s.bare != nil {
		if _, err := verify.Statement(source, bundle, policy(s.bare)); err != nil {
			var se *verify.SignatureError
			if errors.As(err, &se) && se.Step == verify.StepSignature {
				return nil, fmt.Errorf("signed by no principal's key or identity (unnamed signer): %v", se.Err)
			}
		}
	}
	for _, err := range errs {
		var se *verify.SignatureError
		if errors.As(err, &se) && se.Step != verify.StepSignature && se.Step != verify.StepIdentity && se.Step != verify.StepCertificate {
			return nil, fmt.Errorf("%s check failed: %v", se.Step, se.Err)
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("no key or identity to verify with")
	}
	var se *verify.SignatureError
	if errors.As(errs[0], &se) {
		return nil, fmt.Errorf("signed by no principal's key or identity (unnamed signer): %v", se.Err)
	}
	return nil, fmt.Errorf("signed by no principal's key or identity (unnamed signer): %v", errs[0])
}

// describe says how a signer verified: the key or identity and the log
// entries.
func describe(s verify.Signer) string {
	var parts []string
	if s.KeyFingerprint != "" {
		parts = append(parts, "key "+s.KeyFingerprint)
	}
	if s.Subject != "" {
		parts = append(parts, fmt.Sprintf("identity %s from %s", s.Subject, s.Issuer))
	}
	parts = append(parts, fmt.Sprintf("%d log entries", s.LogEntries))
	return strings.Join(parts, ", ")
}
