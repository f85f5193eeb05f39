package verify

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"hallmark.dev/attest"
)

// Outcome is what verifying one statement bundle by one path gave.
type Outcome struct {
	Step      Step // "" when it verified
	Err       error
	Statement *attest.Statement
	Payload   []byte
	Signer    Signer
	// Prehashed says the signature was checked over the PAE digest.
	Prehashed bool
}

func outcome(st *attest.Statement, payload []byte, s Signer, serr *SignatureError) Outcome {
	if serr != nil {
		return Outcome{Step: serr.Step, Err: serr.Err}
	}
	return Outcome{Statement: st, Payload: payload, Signer: s}
}

// VerifyStatementInMemory is the path of a bundle held in memory: parsed
// whole, with sigstore-go's envelope checks.
func VerifyStatementInMemory(digest string, bundleJSON []byte, a Authority) Outcome {
	b, err := ParseBundle(bundleJSON)
	if err != nil {
		return Outcome{Step: StepBundle, Err: err}
	}
	return outcome(verifyParsedStatement(digestTarget(digest), "b", b, a))
}

// VerifyStatementStreamed is the path of a bundle read as a stream (of
// unknown size when size is false).
func VerifyStatementStreamed(digest string, bundleJSON []byte, a Authority, size bool) Outcome {
	prehashed := false
	testHookPrehashed = func() { prehashed = true }
	defer func() { testHookPrehashed = nil }()
	src := BundleSource{Source: "b", Size: -1, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(bundleJSON)), nil
	}}
	if size {
		src.Size = int64(len(bundleJSON))
	}
	o := outcome(verifyStatementSource(digestTarget(digest), src, a, false))
	o.Prehashed = prehashed
	return o
}

// VerifyStatementWithoutPredicate is the path of a bundle read as a
// stream of known size by a caller that does not read the predicate.
func VerifyStatementWithoutPredicate(digest string, bundleJSON []byte, a Authority) Outcome {
	src := BundleSource{Source: "b", Size: int64(len(bundleJSON)), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(bundleJSON)), nil
	}}
	return outcome(verifyStatementSource(digestTarget(digest), src, a, true))
}

// DigestOutcome is what the path of a large attestation verified without
// its payload in memory made of a bundle: Undecided when it left it to the
// in-memory path, with the rejection it would have given (Own) when the
// bundle is too large for that path.
type DigestOutcome struct {
	Outcome
	Undecided bool
	Own       Outcome
	Opened    int
}

// VerifyStatementDigestOnly is verifyStatementDigest on a bundle held in
// memory, whatever its size.
func VerifyStatementDigestOnly(digest string, bundleJSON []byte, a Authority) DigestOutcome {
	opened := 0
	src := BundleSource{Source: "b", Size: int64(len(bundleJSON)), Open: func() (io.ReadCloser, error) {
		opened++
		return io.NopCloser(bytes.NewReader(bundleJSON)), nil
	}}
	o := verifyStatementDigest(digestTarget(digest), src, a)
	out := DigestOutcome{Outcome: outcome(o.st, nil, o.signer, o.serr), Undecided: o.undecided != nil, Opened: opened}
	out.Own = out.Outcome
	if se, ok := errors.AsType[*SignatureError](o.undecided); ok {
		out.Own = Outcome{Step: se.Step, Err: se.Err}
	}
	if out.Undecided {
		out.Outcome = Outcome{Err: o.undecided}
	}
	return out
}

// ReadStreamedBundle exposes the streaming reader to its fuzz test.
var ReadStreamedBundle = readStreamedBundle

// CountCached returns a copy of the keyless authority (sharing its
// caches) that counts the signatures its cached path decided, and those
// it left to the full verification.
func (k *Keyless) CountCached() (counted *Keyless, decided, undecided *atomic.Int64) {
	c := *k
	cv := &countingVerifier{keylessVerifier: k.cached}
	c.cached = cv
	return &c, &cv.decided, &cv.undecided
}

type countingVerifier struct {
	keylessVerifier
	decided, undecided atomic.Int64
}

func (v *countingVerifier) verify(entity sgverify.SignedEntity, art artifact, post func() error) (*sgverify.VerificationResult, error) {
	res, err := v.keylessVerifier.verify(entity, art, post)
	if errors.Is(err, errUndecided) {
		v.undecided.Add(1)
	} else {
		v.decided.Add(1)
	}
	return res, err
}

// CacheSizes reports how many chains, timestamps and checkpoints a keyless
// authority remembers.
func (k *Keyless) CacheSizes() (chains, timestamps, checkpoints int) {
	return k.cache.chains.len(), k.cache.stamps.len(), k.cache.checkpoints.len()
}

// ParseCacheSizes returns how many SCT checks, log entry hashes and parsed
// bundles a keyless authority remembers.
func (k *Keyless) ParseCacheSizes() (scts, entryHashes, bundles int) {
	return k.cache.scts.len(), k.cache.entryHashes.len(), k.cache.bundles.len()
}

// FullOnly returns a copy of the keyless authority without its cached
// path: sigstore-go's verification alone.
func (k *Keyless) FullOnly() *Keyless {
	c := *k
	c.cached = nil
	return &c
}

// PathVerdict is what one keyless verifier made of a signature.
type PathVerdict struct {
	Accepted  bool
	Undecided bool // the cached path left the signature to the full one
	Step      Step // of a rejection
	Err       error
	Signer    Signer // of an acceptance
}

func (v PathVerdict) String() string {
	switch {
	case v.Accepted:
		return "accepted"
	case v.Undecided:
		return fmt.Sprintf("undecided (%v)", v.Err)
	}
	return fmt.Sprintf("rejected at %s (%v)", v.Step, v.Err)
}

// CompareKeylessPaths hands one signature to each of the keyless
// authority's verifiers, the cached one (on its caches as they are) and
// the full one: a bundle about digest ("alg:hex"), parsed as Blob parses
// it or, with streamed, read as a stream as a large attestation is (a
// DSSE signature is then checked over the PAE digest where it can be).
// err is set when the bundle does not get as far as the verifiers.
func (k *Keyless) CompareKeylessPaths(bundleJSON []byte, digest string, streamed bool) (cached, full PathVerdict, err error) {
	alg, hexDigest, err := attest.SplitDigest(digest)
	if err != nil {
		return cached, full, err
	}
	d, err := decodeHex(hexDigest)
	if err != nil {
		return cached, full, err
	}
	s := signed{artifact: digestArtifact(alg, d)}
	fullS := s
	if streamed {
		b, payload, err := readStreamedBundle(bytes.NewReader(bundleJSON), int64(len(bundleJSON)))
		if err != nil {
			return cached, full, err
		}
		s.entity = b
		if payload != nil {
			if s.dsse, err = newDSSEBundle(b, payload); err != nil {
				return cached, full, err
			}
		}
		fullS = s
	} else {
		// The cached path gets the bundle as Blob hands it over (parsed
		// once and remembered, with its certificate and log entries);
		// the full verification, a bundle parsed afresh.
		_, entity, err := k.parseBundle(bundleJSON)
		if err != nil {
			return cached, full, err
		}
		s.entity = entity
		if fullS.entity, err = ParseBundle(bundleJSON); err != nil {
			return cached, full, err
		}
	}
	verdict := func(v keylessVerifier, s signed) PathVerdict {
		entity, art, post := keylessVariant(s)
		res, err := v.verify(entity, art, post)
		switch {
		case err == nil:
			return PathVerdict{Accepted: true, Signer: k.signer(res, entity)}
		case errors.Is(err, errUndecided):
			return PathVerdict{Undecided: true, Err: err}
		}
		step, err := classify(err)
		return PathVerdict{Step: step, Err: err}
	}
	return verdict(k.cached, s), verdict(k.full, fullS), nil
}

// LeafChains is the cached certificate check of a keyless authority.
func (k *Keyless) LeafChains(leaf *x509.Certificate, t time.Time) ([][]*x509.Certificate, error) {
	return k.cache.leafChains(leaf, nil, t)
}
