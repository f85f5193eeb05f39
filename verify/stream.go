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
// stream.
func verifyStatementSource(t target, src BundleSource, authority Authority) (*attest.Statement, []byte, Signer, *SignatureError) {
	fail := func(step Step, err error) (*attest.Statement, []byte, Signer, *SignatureError) {
		return nil, nil, Signer{}, &SignatureError{Source: src.Source, Step: step, Err: err}
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
	s := &bundleStream{size: size}
	n, err := s.read(io.LimitReader(r, oci.MaxBundleSize+1))
	switch {
	case n == 0 && (err == nil || errors.Is(err, jsonstrict.ErrSyntax)):
		return nil, nil, errors.New("empty bundle")
	case n > oci.MaxBundleSize:
		return nil, nil, fmt.Errorf("bundle is over the %d byte limit", oci.MaxBundleSize)
	case err != nil:
		return nil, nil, err
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(s.rest.Bytes()); err != nil {
		return nil, nil, fmt.Errorf("malformed bundle: %w", err)
	}
	if !s.streamed {
		return &b, nil, nil
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil, nil, errors.New("malformed bundle: the DSSE payload is outside a DSSE envelope")
	}
	if s.payload == nil {
		s.payload = []byte{}
	}
	env.Payload = s.payload
	return &b, s.payload, nil
}

// bundleStream reads a bundle's JSON under jsonstrict's rules (which
// protobuf's parser also applies), keeping all of it but the DSSE
// payload's characters, which it decodes as they come.
type bundleStream struct {
	size int64
	rest bytes.Buffer

	started  bool // the payload string was reached
	streamed bool // and decoded whole
	payload  []byte
	pend     []byte // base64 characters not decoded yet
	pad      int    // '=' characters seen
}

// payloadPath is where a bundle's DSSE payload is.
var payloadPath = jsonstrict.Path{{Key: "dsseEnvelope"}, {Key: "payload"}}

const payloadChunk = 48 << 10 // base64 characters decoded at a time (a multiple of 4)

func (s *bundleStream) read(r io.Reader) (int64, error) {
	st := jsonstrict.Stream{Out: &s.rest, Divert: payloadPath, OnDivert: s.payloadChars}
	n, err := st.ReadFrom(r)
	if err != nil && !errors.Is(err, errNotCanonical) {
		if _, ok := errors.AsType[*jsonstrict.Error](err); ok {
			return n, fmt.Errorf("malformed bundle: %w", err)
		}
		return n, fmt.Errorf("read bundle: %w", err)
	}
	return n, err
}

// payloadChars decodes the next characters of the payload; end is set
// after its last.
func (s *bundleStream) payloadChars(p []byte, end bool) error {
	if !s.started {
		s.started = true
		// The size is a claim (a file's, a descriptor's): no more than the
		// bundle limit is read, so no more is allocated.
		if size := min(s.size, oci.MaxBundleSize); size > 0 {
			s.payload = make([]byte, 0, size/4*3+3)
		}
	}
	i := 0
	if s.pad == 0 {
		for i < len(p) && isStdBase64[p[i]] {
			i++
		}
		s.pend = append(s.pend, p[:i]...)
		if len(s.pend) >= payloadChunk {
			k := len(s.pend) / 4 * 4
			if err := s.decode(s.pend[:k]); err != nil {
				return err
			}
			s.pend = append(s.pend[:0], s.pend[k:]...)
		}
	}
	for ; i < len(p); i++ {
		// Past the base64 characters only padding may come: an escape, a
		// URL-safe character or a character after the padding is not
		// canonical.
		if p[i] != '=' {
			return errNotCanonical
		}
		s.pad++
		if s.pad > 2 {
			return errNotCanonical
		}
	}
	if !end {
		return nil
	}
	if (len(s.pend)+s.pad)%4 != 0 || (s.pad > 0 && len(s.pend)%4 != 4-s.pad) {
		return errNotCanonical
	}
	if err := s.decode(append(s.pend, "=="[:s.pad]...)); err != nil {
		return err
	}
	s.pend, s.streamed = nil, true
	return nil
}

func (s *bundleStream) decode(b64 []byte) error {
	need := base64.StdEncoding.DecodedLen(len(b64))
	if cap(s.payload)-len(s.payload) < need {
		grown := make([]byte, len(s.payload), 2*cap(s.payload)+need)
		copy(grown, s.payload)
		s.payload = grown
	}
	n, err := base64.StdEncoding.Decode(s.payload[len(s.payload):len(s.payload)+need], b64)
	if err != nil {
		return errNotCanonical
	}
	s.payload = s.payload[:len(s.payload)+n]
	return nil
}

var isStdBase64 = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = true
	}
	return t
}()
