package verify

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/sigstore/sigstore-go/pkg/bundle"

	"hallmark.dev/attest"
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
	if err != nil {
		return nil, nil, err
	}
	switch {
	case n == 0:
		return nil, nil, errors.New("empty bundle")
	case n > oci.MaxBundleSize:
		return nil, nil, fmt.Errorf("bundle is over the %d byte limit", oci.MaxBundleSize)
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

// bundleStream follows the structure of a JSON document as it reads it,
// enough to find one string value; it does not check the grammar, which
// protobuf's parser does on the rest.
type bundleStream struct {
	size int64
	rest bytes.Buffer

	stack []frame // open containers
	// key holds the last key read in the object at depth 1 and 2, as
	// written (without escapes only; longer keys are irrelevant).
	key      [3][]byte
	inString bool
	isKey    bool
	escape   bool
	// envelope is set while inside the top-level "dsseEnvelope" object.
	envelope bool

	inPayload bool
	streamed  bool
	payload   []byte
	pend      []byte // base64 characters not decoded yet
	pad       int    // '=' characters seen
}

type frame struct {
	object    bool
	expectKey bool // in an object: the next string is a key
	envelope  bool // this object is the dsseEnvelope value
}

const payloadChunk = 48 << 10 // base64 characters decoded at a time (a multiple of 4)

func (s *bundleStream) read(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if m > 0 {
			if perr := s.feed(buf[:m]); perr != nil {
				return n, perr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("read bundle: %w", err)
		}
	}
	if s.inPayload {
		return n, errNotCanonical // unterminated: let the whole read say why
	}
	return n, nil
}

func (s *bundleStream) feed(p []byte) error {
	for i := 0; i < len(p); {
		if s.inPayload {
			j, err := s.payloadBytes(p[i:])
			if err != nil {
				return err
			}
			i += j
			continue
		}
		c := p[i]
		if s.inString {
			start := i
			for i < len(p) {
				c = p[i]
				if s.escape {
					s.escape = false
				} else if c == '\\' {
					s.escape = true
				} else if c == '"' {
					break
				}
				i++
			}
			s.rest.Write(p[start:i])
			if s.isKey {
				if d := len(s.stack); d <= 2 && len(s.key[d])+(i-start) <= 32 {
					s.key[d] = append(s.key[d], p[start:i]...)
				} else if d <= 2 {
					s.key[d] = append(s.key[d][:0], '\\') // too long to matter; never a match
				}
			}
			if i == len(p) {
				return nil
			}
			// The closing quote.
			s.rest.WriteByte('"')
			i++
			s.inString = false
			if s.isKey {
				if d := len(s.stack); d > 0 {
					s.stack[d-1].expectKey = false
				}
			}
			continue
		}
		s.rest.WriteByte(c)
		i++
		switch c {
		case '"':
			s.startString()
		case '{':
			f := frame{object: true, expectKey: true}
			d := len(s.stack)
			if d == 1 && s.stack[0].object && string(s.key[1]) == "dsseEnvelope" {
				f.envelope = true
			}
			s.stack = append(s.stack, f)
		case '[':
			s.stack = append(s.stack, frame{})
		case '}', ']':
			if len(s.stack) > 0 {
				s.stack = s.stack[:len(s.stack)-1]
			}
		case ',':
			if d := len(s.stack); d > 0 && s.stack[d-1].object {
				s.stack[d-1].expectKey = true
			}
		}
	}
	return nil
}

func (s *bundleStream) startString() {
	s.inString, s.escape = true, false
	d := len(s.stack)
	s.isKey = d > 0 && s.stack[d-1].object && s.stack[d-1].expectKey
	if s.isKey && d <= 2 {
		s.key[d] = s.key[d][:0]
	}
	if s.isKey || s.streamed || d != 2 || !s.stack[1].envelope || string(s.key[2]) != "payload" {
		return
	}
	// The payload: decode it instead of keeping it.
	s.inString, s.inPayload = false, true
	// The size is a claim (a file's, a descriptor's): no more than the
	// bundle limit is read, so no more is allocated.
	if size := min(s.size, oci.MaxBundleSize); size > 0 {
		s.payload = make([]byte, 0, size/4*3+3)
	}
}

// payloadBytes decodes the payload's characters at the start of p and
// returns how many it consumed, through the closing quote.
func (s *bundleStream) payloadBytes(p []byte) (int, error) {
	i := 0
	if s.pad == 0 {
		for i < len(p) && isStdBase64[p[i]] {
			i++
		}
		s.pend = append(s.pend, p[:i]...)
		if len(s.pend) >= payloadChunk {
			k := len(s.pend) / 4 * 4
			if err := s.decode(s.pend[:k]); err != nil {
				return 0, err
			}
			s.pend = append(s.pend[:0], s.pend[k:]...)
		}
	}
	for i < len(p) {
		switch p[i] {
		case '=':
			s.pad++
			if s.pad > 2 {
				return 0, errNotCanonical
			}
			i++
			continue
		case '"':
			if (len(s.pend)+s.pad)%4 != 0 || (s.pad > 0 && len(s.pend)%4 != 4-s.pad) {
				return 0, errNotCanonical
			}
			tail := append(s.pend, "=="[:s.pad]...)
			if err := s.decode(tail); err != nil {
				return 0, err
			}
			s.pend, s.inPayload, s.streamed = nil, false, true
			s.rest.WriteByte('"')
			return i + 1, nil
		default:
			// Another character: an escape, a URL-safe character, a
			// character after the padding.
			return 0, errNotCanonical
		}
	}
	return i, nil
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
