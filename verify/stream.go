package verify

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/sigstore/sigstore-go/pkg/bundle"

	"hallmark.dev/attest"
	"hallmark.dev/internal/jsonstrict"
	"hallmark.dev/oci"
)

// streamedBundleSize is the size from which a bundle held in memory is
// read as a stream all the same: its DSSE payload is then decoded once,
// not three times.
const streamedBundleSize = 1 << 20

// BundleSource is a bundle read as a stream rather than held in memory:
// an attestation too large to hold more than once (an SBOM of tens of
// megabytes). Its DSSE payload is decoded from base64 straight into one
// buffer, sized from Size, and the rest of the bundle (certificates, log
// entries, timestamps) is kept for the signature checks.
type BundleSource struct {
	// Source names the bundle in messages: its file name, or the referrer.
	Source string
	// Size is the bundle's size in bytes, or -1 when it is not known.
	Size int64
	// Open returns the bundle's JSON from its first byte. It is called
	// once; or twice for a bundle whose DSSE payload is not in canonical
	// base64, which is then read whole and checked as a bundle in memory.
	Open func() (io.ReadCloser, error)
}

func bytesSource(source string, b []byte) BundleSource {
	return BundleSource{Source: source, Size: int64(len(b)), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}

// verifyStatementSource is verifyStatementBundle for a bundle read as a
// stream. withoutPredicate says the caller does not read the predicate:
// a bundle of streamedBundleSize or more (or of unknown size) is then
// verified without its payload in memory (verifyStatementDigest), up to
// oci.MaxStreamedBundleSize, and the payload is not returned.
func verifyStatementSource(t target, src BundleSource, authority Authority, withoutPredicate bool) (*attest.Statement, []byte, Signer, *SignatureError) {
	fail := func(step Step, err error) (*attest.Statement, []byte, Signer, *SignatureError) {
		return nil, nil, Signer{}, &SignatureError{Source: src.Source, Step: step, Err: err}
	}
	if withoutPredicate && (src.Size < 0 || src.Size >= streamedBundleSize) {
		o := verifyStatementDigest(t, src, authority)
		switch {
		case o.undecided == nil:
			return o.st, nil, o.signer, o.serr
		case o.read > oci.MaxBundleSize:
			return fail(StepBundle, fmt.Errorf("bundle is %d bytes, over the %d byte limit of a bundle verified in memory, and it cannot be verified as a stream: %v", o.read, oci.MaxBundleSize, o.undecided))
		}
	}
	b, payload, err := readSource(src, readStreamedBundle)
	if errors.Is(err, errNotCanonical) {
		b, payload, err = readSource(src, readWholeBundle)
	}
	if err != nil {
		return fail(StepBundle, err)
	}
	if payload == nil {
		return verifyParsedStatement(t, src.Source, b, authority)
	}
	return verifyStreamedStatement(t, src.Source, b, payload, authority)
}

func readSource(src BundleSource, read func(io.Reader, int64) (*bundle.Bundle, []byte, error)) (*bundle.Bundle, []byte, error) {
	if src.Open == nil {
		return nil, nil, errors.New("bundle could not be read")
	}
	if src.Size > oci.MaxBundleSize {
		return nil, nil, fmt.Errorf("bundle is %d bytes, over the %d byte limit", src.Size, oci.MaxBundleSize)
	}
	rc, err := src.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("read bundle: %w", err)
	}
	defer rc.Close()
	return read(rc, src.Size)
}

func readWholeBundle(r io.Reader, _ int64) (*bundle.Bundle, []byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, oci.MaxBundleSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read bundle: %w", err)
	}
	b, err := ParseBundle(data)
	return b, nil, err
}

// errNotCanonical means the DSSE payload is not written as the streaming
// reader decodes it: standard base64, padded, without escapes.
var errNotCanonical = errors.New("DSSE payload is not in canonical base64")

// readStreamedBundle reads a bundle's JSON and returns it parsed, with the
// DSSE payload (the string value of the top-level "dsseEnvelope" object's
// "payload" key) decoded into one buffer of at most 3/4 of size, and left
// out of the JSON that sigstore-go parses: the bundle is what
// [ParseBundle] makes of the same bytes, with the payload in the returned
// buffer. The payload is nil when the JSON does not carry it there as a
// plain string (sigstore-go then decoded it from the rest); a payload
// that is there but not in canonical base64 is errNotCanonical, for the
// caller to read the bundle whole.
//
// Why the result is ParseBundle's: only the characters of one string
// value are left out, and they are base64 characters only; the JSON
// without them is valid exactly when the JSON with them is, and means the
// same but for that one value. In valid JSON, the value found is the one
// protobuf's parser reads as the envelope's payload (a second "payload"
// or envelope key is a duplicate it rejects); and canonical base64 decodes
// to the bytes protobuf decodes from it.
func readStreamedBundle(r io.Reader, size int64) (*bundle.Bundle, []byte, error) {
	var (
		rest    bytes.Buffer
		payload []byte
	)
	chars := &payloadChars{sink: func(p []byte) error {
		if payload == nil {
			// The size is a claim (a file's, a descriptor's): no more than
			// the bundle limit is read, so no more is allocated.
			payload = make([]byte, 0, max(min(size, oci.MaxBundleSize)/4*3+3, int64(len(p))))
		}
		payload = append(payload, p...)
		return nil
	}}
	if _, err := scanBundle(r, oci.MaxBundleSize, 0, &rest, chars); err != nil {
		return nil, nil, err
	}
	b, err := parseBundleRest(rest.Bytes(), chars)
	if err != nil || !chars.done {
		return b, nil, err
	}
	if payload == nil {
		payload = []byte{}
	}
	b.GetDsseEnvelope().Payload = payload
	return b, payload, nil
}

// scanBundle reads a bundle's JSON from r, at most limit bytes, under
// jsonstrict's rules (which protobuf's parser also applies), writing all
// of it but the DSSE payload's characters to rest and handing those to
// chars. held bounds the keys it holds (see jsonstrict.Stream.MaxHeld). It
// returns how many bytes it read.
func scanBundle(r io.Reader, limit, held int64, rest io.Writer, chars *payloadChars) (int64, error) {
	st := jsonstrict.Stream{Out: rest, Divert: payloadPath, OnDivert: chars.write, MaxHeld: held}
	n, err := st.ReadFrom(io.LimitReader(r, limit+1))
	switch {
	case n == 0 && (err == nil || errors.Is(err, jsonstrict.ErrSyntax)):
		return n, errors.New("empty bundle")
	case n > limit:
		return n, fmt.Errorf("bundle is over the %d byte limit", limit)
	case err == nil, errors.Is(err, errNotCanonical):
		return n, err
	}
	if _, ok := errors.AsType[*jsonstrict.Error](err); ok {
		return n, fmt.Errorf("malformed bundle: %w", err)
	}
	return n, fmt.Errorf("read bundle: %w", err)
}

// parseBundleRest parses what scanBundle wrote of a bundle: a DSSE
// payload that chars followed must be in a DSSE envelope.
func parseBundleRest(rest []byte, chars *payloadChars) (*bundle.Bundle, error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(rest); err != nil {
		return nil, fmt.Errorf("malformed bundle: %w", err)
	}
	if chars.done && b.GetDsseEnvelope() == nil {
		return nil, errors.New("malformed bundle: the DSSE payload is outside a DSSE envelope")
	}
	return &b, nil
}

// maxBundleRest bounds what reading a bundle as a stream holds besides
// its payload: the rest of the bundle (certificates, log entries and
// timestamps, about 10 KB in a keyless bundle), and the keys of its open
// objects.
const maxBundleRest = 16 << 20

// payloadPath is where a bundle's DSSE payload is.
var payloadPath = jsonstrict.Path{{Key: "dsseEnvelope"}, {Key: "payload"}}

const payloadChunk = 48 << 10 // base64 characters decoded at a time (a multiple of 4)

// payloadChars follows the characters of a DSSE payload in canonical
// base64 (the standard alphabet, padded, no escapes) as they come,
// decoding them a chunk at a time for sink, or only counting them when
// sink is nil. Anything else is errNotCanonical.
type payloadChars struct {
	sink func([]byte) error

	started bool  // the payload string was reached
	done    bool  // and read to its end
	chars   int64 // base64 characters but the padding
	pad     int   // '=' characters
	pend    []byte
	buf     []byte
}

// decodedLen is the length of the payload followed to its end.
func (c *payloadChars) decodedLen() int64 {
	return (c.chars+int64(c.pad))/4*3 - int64(c.pad)
}

// write takes the next characters of the payload; end is set after its
// last.
func (c *payloadChars) write(p []byte, end bool) error {
	c.started = true
	i := 0
	if c.pad == 0 {
		for i < len(p) && isStdBase64[p[i]] {
			i++
		}
		c.chars += int64(i)
		if c.sink != nil {
			c.pend = append(c.pend, p[:i]...)
			if len(c.pend) >= payloadChunk {
				k := len(c.pend) / 4 * 4
				if err := c.decode(c.pend[:k]); err != nil {
					return err
				}
				c.pend = append(c.pend[:0], c.pend[k:]...)
			}
		}
	}
	for ; i < len(p); i++ {
		// Past the base64 characters only padding may come: an escape, a
		// URL-safe character or a character after the padding is not
		// canonical.
		if p[i] != '=' {
			return errNotCanonical
		}
		c.pad++
		if c.pad > 2 {
			return errNotCanonical
		}
	}
	if !end {
		return nil
	}
	if (c.chars+int64(c.pad))%4 != 0 || (c.pad > 0 && c.chars%4 != int64(4-c.pad)) {
		return errNotCanonical
	}
	if c.sink != nil {
		if err := c.decode(append(c.pend, "=="[:c.pad]...)); err != nil {
			return err
		}
	}
	c.pend, c.done = nil, true
	return nil
}

func (c *payloadChars) decode(b64 []byte) error {
	need := base64.StdEncoding.DecodedLen(len(b64))
	if cap(c.buf) < need {
		c.buf = make([]byte, max(need, base64.StdEncoding.DecodedLen(payloadChunk+4)))
	}
	n, err := base64.StdEncoding.Decode(c.buf[:need], b64)
	if err != nil {
		return errNotCanonical
	}
	if n == 0 {
		return nil
	}
	return c.sink(c.buf[:n])
}

var isStdBase64 = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = true
	}
	return t
}()
