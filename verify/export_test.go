package verify

import (
	"bytes"
	"crypto/x509"
	"io"
	"time"

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
	o := outcome(verifyStatementSource(digestTarget(digest), src, a))
	o.Prehashed = prehashed
	return o
}

// ReadStreamedBundle exposes the streaming reader to its fuzz test.
var ReadStreamedBundle = readStreamedBundle

// CountFast counts, until the returned function is called, the keyless
// verifications the fast path decided, and the others.
func CountFast() (fast, plain *int, done func()) {
	fast, plain = new(int), new(int)
	testHookFast = func(err error) {
		if err == nil {
			*fast++
		} else {
			*plain++
		}
	}
	return fast, plain, func() { testHookFast = nil }
}

// CacheSizes reports how many chains, timestamps and checkpoints a keyless
// authority remembers.
func (k *Keyless) CacheSizes() (chains, timestamps, checkpoints int) {
	return k.cache.chains.len(), k.cache.stamps.len(), k.cache.checkpoints.len()
}

// WithoutFast turns the keyless fast path off until restore is called.
func WithoutFast() (restore func()) {
	testNoFast = true
	return func() { testNoFast = false }
}

// LeafChains is the cached certificate check of a keyless authority.
func (k *Keyless) LeafChains(leaf *x509.Certificate, t time.Time) ([][]*x509.Certificate, error) {
	return k.cache.leafChains(leaf, nil, t)
}
