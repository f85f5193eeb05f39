package verify

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"hash"
	"io"

	"hallmark.dev/attest"
	"hallmark.dev/oci"
)

// A large attestation whose predicate the caller does not read
// (AttestationPolicy.WithoutPredicate) is verified by verifyStatementDigest
// without its payload ever being in memory, in two reads of the bundle:
//
//  1. the bundle is checked as JSON, and kept but for the DSSE payload's
//     base64 characters, which are only counted and checked to be
//     canonical: their number gives the payload's length (3 bytes for 4
//     characters, less one for each '=' of padding), which the DSSE
//     pre-authentication encoding (PAE) starts with, so that its digest
//     can be computed in one pass;
//  2. the bundle is read again, and must be the same but for the
//     payload's characters, which must be as many: they are decoded, a
//     chunk at a time, into the PAE digests the authority's verifiers
//     check the signature over (Authority.paeHashes), and into
//     attest.ReadStatement, which checks the statement strictly as it
//     streams by and keeps it without its predicate.
//
// Then the signature is checked over the PAE digests (signed.variant),
// with the statement checks sigstore-go makes after it (postChecks) and
// hallmark's (checkStatement), as for a bundle read whole. What this path
// accepts, the in-memory path accepts, with the same statement (less its
// predicate) and signer; it may leave a bundle to that path, as the
// keyless cached path leaves a signature to sigstore-go's: when a verifier
// would check the envelope itself (pure Ed25519, ECDSA P-384 or P-521
// certificates, a key ID another verifier would skip, Rekor v1 entries), a
// payload not in canonical base64, a bundle with no DSSE payload, or any
// rejection of a bundle small enough for the in-memory path (but one that
// changed between its two reads), which then gives the verdict and its
// error. Over the in-memory limits, its rejections are final.
//
// It holds a chunk of the bundle, the bundle without its payload and the
// statement without its predicate (each at most 16 MiB), and the keys of
// the objects open where it reads (within the same bounds); not the
// payload, whatever its size.

// errChanged is a second read of a bundle that differs from the first.
var errChanged = errors.New("the bundle changed between its two reads")

// digestOutcome is what verifyStatementDigest decided, or why it did not.
type digestOutcome struct {
	st        *attest.Statement
	signer    Signer
	serr      *SignatureError
	undecided error // set when the bundle is left to the in-memory path
	read      int64 // bytes of the bundle read (in its first read)
}

func verifyStatementDigest(t target, src BundleSource, authority Authority) digestOutcome {
	reject := func(step Step, err error) digestOutcome {
		return digestOutcome{serr: &SignatureError{Source: src.Source, Step: step, Err: err}}
	}
	if src.Open == nil {
		return reject(StepBundle, errors.New("bundle could not be read"))
	}
	if src.Size > oci.MaxStreamedBundleSize {
		return reject(StepBundle, fmt.Errorf("bundle is %d bytes, over the %d byte limit", src.Size, oci.MaxStreamedBundleSize))
	}
	// First read: the bundle but for its payload, and the payload's length.
	var rest bytes.Buffer
	first := &payloadChars{}
	n, err := readSourceOnce(src, &rest, first)
	// Any rejection of a bundle the in-memory path can read is left to
	// that path, which gives the verdict and its error (the streamed path
	// has bounds of its own, such as the bundle without its payload); a
	// bundle that changed between two reads is refused here.
	decide := func(step Step, err error) digestOutcome {
		if n <= oci.MaxBundleSize && !errors.Is(err, errChanged) {
			return digestOutcome{undecided: &SignatureError{Source: src.Source, Step: step, Err: err}, read: n}
		}
		return reject(step, err)
	}
	switch {
	case errors.Is(err, errNotCanonical):
		return digestOutcome{undecided: err, read: n}
	case err != nil && src.Size >= 0 && src.Size <= oci.MaxBundleSize:
		return digestOutcome{undecided: &SignatureError{Source: src.Source, Step: StepBundle, Err: err}, read: n}
	case err != nil:
		return reject(StepBundle, err)
	case !first.done:
		return digestOutcome{undecided: errors.New("the bundle holds no DSSE payload"), read: n}
	}
	out := digestOutcome{read: n}
	b, err := parseBundleRest(rest.Bytes(), first)
	if err != nil {
		return decide(StepBundle, err)
	}
	d, err := newDSSEBundle(b, nil)
	if err != nil {
		return decide(StepBundle, err)
	}
	if d.payloadType != attest.PayloadType {
		return decide(StepPayload, fmt.Errorf("DSSE payload type %q, want %q", d.payloadType, attest.PayloadType))
	}
	d.digestOnly, d.payloadLen = true, first.decodedLen()
	if d.payloadLen > attest.MaxStreamedPayloadSize {
		return decide(StepBundle, fmt.Errorf("DSSE payload is %d bytes, over the %d byte limit", d.payloadLen, attest.MaxStreamedPayloadSize))
	}
	hs, ok := authority.paeHashes(d)
	if !ok {
		out.undecided = errors.New("the signature's verifier checks the DSSE envelope itself, not a digest of it")
		return out
	}

	// Second read: the payload into the PAE digests and the statement.
	st, stErr, err := readPayloadDigests(src, rest.Bytes(), first, d, hs)
	if err != nil {
		return decide(StepBundle, err)
	}
	d.statement = st
	out.st, _, out.signer, out.serr = checkStatement(t, src.Source, signed{entity: b, dsse: d}, nil, st, stErr, authority)
	if out.serr != nil && fitsInMemory(n, d.payloadLen) {
		out.undecided = out.serr
		out.serr = nil
	}
	return out
}

// fitsInMemory says whether the in-memory path reads a bundle of n bytes
// whose payload is payloadLen bytes.
func fitsInMemory(n, payloadLen int64) bool {
	return n <= oci.MaxBundleSize && payloadLen <= attest.MaxPayloadSize
}

// readSourceOnce opens src and scans it with scanBundle, rest bounded.
func readSourceOnce(src BundleSource, rest io.Writer, chars *payloadChars) (int64, error) {
	rc, err := src.Open()
	if err != nil {
		return 0, fmt.Errorf("read bundle: %w", err)
	}
	defer rc.Close()
	return scanBundle(rc, oci.MaxStreamedBundleSize, maxBundleRest, &boundedWriter{w: rest, n: maxBundleRest}, chars)
}

// readPayloadDigests reads src a second time, which must give rest again
// and a payload of as many characters as first counted, and computes the
// PAE digests hs of the payload (into d.digests) and the statement it
// holds, without its predicate (or why it is not one).
func readPayloadDigests(src BundleSource, rest []byte, first *payloadChars, d *dsseBundle, hs []crypto.Hash) (*attest.Statement, error, error) {
	hashes := make([]hash.Hash, len(hs))
	for i, h := range hs {
		hashes[i] = newPAEHash(h, d.payloadType, d.payloadLen)
	}
	pr, pw := io.Pipe()
	type result struct {
		st  *attest.Statement
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := attest.ReadStatement(pr)
		// Stop the payload's writes, which go on into the digests.
		pr.CloseWithError(errStatementRead)
		done <- result{st, err}
	}()
	statementOpen := true
	second := &payloadChars{sink: func(p []byte) error {
		for _, w := range hashes {
			w.Write(p)
		}
		if statementOpen {
			if _, err := pw.Write(p); err != nil {
				statementOpen = false
			}
		}
		return nil
	}}
	same := &sameWriter{want: rest}
	_, err := readSourceOnce(src, same, second)
	switch {
	case errors.Is(err, errChanged), err == nil && (!same.complete() || !second.done || second.chars != first.chars || second.pad != first.pad):
		err = errChanged
	case errors.Is(err, errNotCanonical):
		err = errChanged // it was canonical the first time
	}
	pw.CloseWithError(err) // nil: the statement's end
	r := <-done
	if err != nil {
		return nil, nil, err
	}
	for i, h := range hs {
		d.digests[h] = hashes[i].Sum(nil)
	}
	return r.st, r.err, nil
}

var errStatementRead = errors.New("statement read")

// sameWriter fails with errChanged unless what is written to it is want,
// in pieces.
type sameWriter struct {
	want []byte
	off  int
}

func (w *sameWriter) Write(p []byte) (int, error) {
	if len(p) > len(w.want)-w.off || !bytes.Equal(p, w.want[w.off:w.off+len(p)]) {
		return 0, errChanged
	}
	w.off += len(p)
	return len(p), nil
}

func (w *sameWriter) complete() bool { return w.off == len(w.want) }

// errTooLarge is what boundedWriter fails with.
var errTooLarge = errors.New("over the bound")

// boundedWriter writes to w up to n bytes, then fails with errTooLarge.
type boundedWriter struct {
	w io.Writer
	n int
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	if len(p) > b.n {
		return 0, fmt.Errorf("the bundle without its DSSE payload is %w of %d bytes", errTooLarge, maxBundleRest)
	}
	b.n -= len(p)
	return b.w.Write(p)
}
