// Package attest builds and parses the payloads hallmark signs: in-toto
// Statements (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md)
// carried in DSSE envelopes (https://github.com/secure-systems-lab/dsse), and
// cosign's legacy "simple signing" payload
// (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md).
//
// An image signature in the Sigstore bundle layout is an in-toto Statement
// whose predicate type is [CosignSignPredicateType], whose single subject is
// the image manifest digest, and whose subject annotations are the
// user's signed annotations. This is the statement cosign v3 writes.
//
// Parsing is strict: unknown top-level fields of a statement, duplicate JSON
// keys, a statement type other than v1 (or v0.1, which older tools write),
// and malformed digests are errors.
package attest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"hallmark.dev/internal/jsonstrict"
)

const (
	// StatementTypeV1 is the _type of an in-toto Statement v1.
	StatementTypeV1 = "https://in-toto.io/Statement/v1"
	// StatementTypeV01 is the _type of an in-toto Statement v0.1, still
	// written by some tools; it is accepted when reading.
	StatementTypeV01 = "https://in-toto.io/Statement/v0.1"
	// PayloadType is the DSSE payload type of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
	// CosignSignPredicateType is the predicate type of an image signature
	// in the Sigstore bundle layout.
	CosignSignPredicateType = "https://sigstore.dev/cosign/sign/v1"
)

// ErrImageSignatureType is returned (wrapped) for an attestation whose
// predicate type is [CosignSignPredicateType]: attached as a referrer, it
// would verify as an image signature carrying annotations its author
// chose.
var ErrImageSignatureType = errors.New("is the image signature's predicate type: an attestation of it would verify as an image signature; sign images with hallmark sign")

// CheckAttestationType refuses the image signature's predicate type for an
// attestation ([ErrImageSignatureType]).
func CheckAttestationType(predicateType string) error {
	if predicateType == CosignSignPredicateType {
		return fmt.Errorf("attest: %s %w", predicateType, ErrImageSignatureType)
	}
	return nil
}

// MaxPayloadSize bounds the statements and payloads this package parses.
const MaxPayloadSize = 128 << 20

// Subject is one artifact a statement is about
// (an in-toto ResourceDescriptor).
type Subject struct {
	Name             string            `json:"name,omitempty"`
	URI              string            `json:"uri,omitempty"`
	Digest           map[string]string `json:"digest"`
	Content          []byte            `json:"content,omitempty"`
	DownloadLocation string            `json:"downloadLocation,omitempty"`
	MediaType        string            `json:"mediaType,omitempty"`
	Annotations      map[string]any    `json:"annotations,omitempty"`
}

// Statement is an in-toto Statement. Predicate is kept as raw JSON.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate,omitempty"`
}

// ImageSignatureStatement returns the statement an image signature signs:
// subject the manifest digest ("sha256:<hex>"), predicate type
// [CosignSignPredicateType], an empty predicate, and the annotations on the
// subject.
func ImageSignatureStatement(digest string, annotations map[string]string) ([]byte, error) {
	alg, hexDigest, err := SplitDigest(digest)
	if err != nil {
		return nil, err
	}
	subj := Subject{Digest: map[string]string{alg: hexDigest}}
	if len(annotations) > 0 {
		subj.Annotations = make(map[string]any, len(annotations))
		for k, v := range annotations {
			subj.Annotations[k] = v
		}
	}
	st := Statement{
		Type:          StatementTypeV1,
		Subject:       []Subject{subj},
		PredicateType: CosignSignPredicateType,
		Predicate:     json.RawMessage(`{}`),
	}
	return json.Marshal(st)
}

// ParseStatement parses an in-toto statement strictly: exact-case keys, no
// duplicate keys, no unknown fields, UTF-8 text with paired surrogate
// escapes, finite numbers, a predicate that is an object, subject digests
// that are strings and subject content in canonical base64. Predicate is a
// copy.
func ParseStatement(payload []byte) (*Statement, error) {
	st, err := ParseStatementInPlace(payload)
	if err != nil {
		return nil, err
	}
	if st.Predicate != nil {
		st.Predicate = bytes.Clone(st.Predicate)
	}
	return st, nil
}

// CheckStatement checks a statement held in memory, to sign it: as
// [ParseStatementInPlace] up to MaxPayloadSize, and, over it, as
// [ReadStatement] reads one, up to [MaxStreamedPayloadSize], without its
// predicate (the returned statement's Predicate is then nil). What a
// verifier checks without holding it (an SBOM of hundreds of megabytes),
// a signer signs.
func CheckStatement(payload []byte) (*Statement, error) {
	if len(payload) <= MaxPayloadSize {
		return ParseStatementInPlace(payload)
	}
	return ReadStatement(bytes.NewReader(payload))
}

// ParseStatementInPlace is [ParseStatement] without copying the
// predicate: Predicate is a sub-slice of payload, which must not change
// while the statement is in use. One pass checks the whole document; the
// fields other than the predicate are then decoded from a copy of the
// document without it, so a large predicate (an SBOM) is never copied.
func ParseStatementInPlace(payload []byte) (*Statement, error) {
	if len(payload) > MaxPayloadSize {
		return nil, fmt.Errorf("attest: statement is %d bytes, over the %d byte limit", len(payload), MaxPayloadSize)
	}
	top, err := jsonstrict.Spans(payload, statementRules)
	if err != nil {
		return nil, fmt.Errorf("attest: statement: %w", err)
	}
	doc := payload
	var kind byte
	pred, hasPred := top["predicate"]
	if hasPred {
		kind = payload[pred.Start]
		doc = make([]byte, 0, len(payload)-(pred.End-pred.Start)+2)
		doc = append(doc, payload[:pred.Start]...)
		doc = append(doc, predicatePlaceholder...)
		doc = append(doc, payload[pred.End:]...)
	}
	st, err := statementWithout(doc, kind)
	if err != nil {
		return nil, err
	}
	if hasPred {
		st.Predicate = payload[pred.Start:pred.End:pred.End]
	}
	return st, nil
}

// predicatePlaceholder stands for the predicate in a statement checked
// without it.
const predicatePlaceholder = "{}"

// statementWithout decodes and checks a statement that was checked under
// statementRules with its predicate, whose first byte was kind (0 for
// none), replaced by predicatePlaceholder in doc. Predicate is not set.
func statementWithout(doc []byte, kind byte) (*Statement, error) {
	// in-toto: the predicate is an object (protobuf's Struct, which also
	// takes null for absent).
	if kind != 0 && kind != '{' && kind != 'n' {
		return nil, errors.New("attest: statement: predicate is not a JSON object")
	}
	st, err := parseStatementDoc(doc)
	if err != nil {
		return nil, err
	}
	st.Predicate = nil
	if err := checkSubjectEncoding(doc, st); err != nil {
		return nil, fmt.Errorf("attest: statement: %w", err)
	}
	return st, nil
}

// MaxStreamedPayloadSize bounds the statements [ReadStatement] reads: a
// statement of this size is read in memory independent of its size, so
// the bound is on the time and bandwidth a verifier gives one statement
// (about 5 seconds a gigabyte here), not on its memory. It admits the
// largest SBOMs of whole operating system images, hundreds of
// megabytes, twice over.
const MaxStreamedPayloadSize = 1 << 30

// maxStatementWithout bounds what ReadStatement holds: the statement
// without its predicate (its subjects, types and annotations), and the
// keys of the objects open where it reads (for the duplicate-key rule).
const maxStatementWithout = 16 << 20

// ReadStatement reads an in-toto statement from r, to its end, and checks
// it as [ParseStatement] does, without keeping the predicate: the
// returned statement's Predicate is nil. It holds in memory a chunk of
// the input and the statement without its predicate, so a statement of
// hundreds of megabytes (an SBOM) is checked in memory independent of its
// size. A statement whose predicate-less part, or any object's keys, are
// over 16 MiB is refused, as is one over [MaxStreamedPayloadSize].
func ReadStatement(r io.Reader) (*Statement, error) {
	var doc bytes.Buffer
	st := jsonstrict.Stream{
		Rules:       statementRules,
		Out:         &boundedWriter{w: &doc, n: maxStatementWithout},
		Elide:       jsonstrict.Path{{Key: "predicate"}},
		Placeholder: []byte(predicatePlaceholder),
		MaxHeld:     maxStatementWithout,
	}
	n, err := st.ReadFrom(io.LimitReader(r, MaxStreamedPayloadSize+1))
	switch {
	case n > MaxStreamedPayloadSize:
		return nil, fmt.Errorf("attest: statement is over the %d byte limit", MaxStreamedPayloadSize)
	case errors.Is(err, errTooLarge):
		return nil, fmt.Errorf("attest: statement without its predicate is over %d bytes", maxStatementWithout)
	case err != nil:
		if _, ok := errors.AsType[*jsonstrict.Error](err); ok {
			return nil, fmt.Errorf("attest: statement: %w", err)
		}
		return nil, fmt.Errorf("attest: read statement: %w", err)
	}
	return statementWithout(doc.Bytes(), st.Elided)
}

var errTooLarge = errors.New("too large")

// boundedWriter writes to w up to n bytes, then fails with errTooLarge.
type boundedWriter struct {
	w io.Writer
	n int
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	if len(p) > b.n {
		return 0, errTooLarge
	}
	b.n -= len(p)
	return b.w.Write(p)
}

// parseStatementDoc decodes a statement and checks its fields.
func parseStatementDoc(payload []byte) (*Statement, error) {
	var st Statement
	if err := jsonstrict.Unmarshal(payload, &st, statementRules); err != nil {
		return nil, decodeError("statement", err)
	}
	switch st.Type {
	case StatementTypeV1, StatementTypeV01:
	default:
		return nil, fmt.Errorf("attest: statement type %q is not an in-toto statement", st.Type)
	}
	if st.PredicateType == "" {
		return nil, errors.New("attest: statement has no predicateType")
	}
	if len(st.Subject) == 0 {
		return nil, errors.New("attest: statement has no subject")
	}
	for i, s := range st.Subject {
		if len(s.Digest) == 0 {
			return nil, fmt.Errorf("attest: subject %d has no digest", i)
		}
		for alg, d := range s.Digest {
			if err := checkDigest(alg, d); err != nil {
				return nil, fmt.Errorf("attest: subject %d: %w", i, err)
			}
		}
	}
	return &st, nil
}

// checkSubjectEncoding rejects what Go's decoder reads leniently and
// protobuf's JSON (the in-toto Statement schema) does not: a null digest
// value, and subject content not in canonical standard base64.
func checkSubjectEncoding(doc []byte, st *Statement) error {
	var raw struct {
		Subject []struct {
			Digest  map[string]json.RawMessage `json:"digest"`
			Content json.RawMessage            `json:"content"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	for i, s := range raw.Subject {
		for alg, v := range s.Digest {
			if len(v) == 0 || v[0] != '"' {
				return fmt.Errorf("subject %d: %s digest is not a string", i, alg)
			}
		}
		if len(s.Content) > 0 && string(s.Content) != "null" && i < len(st.Subject) {
			if want := `"` + base64.StdEncoding.EncodeToString(st.Subject[i].Content) + `"`; string(s.Content) != want {
				return fmt.Errorf("subject %d: content is not in canonical base64", i)
			}
		}
	}
	return nil
}

// SubjectFor returns the subject whose digest matches digest
// ("sha256:<hex>"), or false.
func (s *Statement) SubjectFor(digest string) (Subject, bool) {
	alg, hexDigest, err := SplitDigest(digest)
	if err != nil {
		return Subject{}, false
	}
	for _, subj := range s.Subject {
		if d, ok := subj.Digest[alg]; ok && strings.EqualFold(d, hexDigest) {
			return subj, true
		}
	}
	return Subject{}, false
}

// StringAnnotations returns the annotations of a subject whose values are
// strings, and the keys whose values are not.
func (s Subject) StringAnnotations() (map[string]string, []string) {
	out := make(map[string]string, len(s.Annotations))
	var other []string
	for k, v := range s.Annotations {
		if sv, ok := v.(string); ok {
			out[k] = sv
		} else {
			other = append(other, k)
		}
	}
	sort.Strings(other)
	return out, other
}

// SplitDigest splits "alg:hex" and checks the hex length for the algorithm.
func SplitDigest(digest string) (alg, hexDigest string, err error) {
	alg, hexDigest, ok := strings.Cut(digest, ":")
	if !ok {
		return "", "", fmt.Errorf("attest: digest %q is not of the form algorithm:hex", digest)
	}
	if err := checkDigest(alg, hexDigest); err != nil {
		return "", "", err
	}
	return alg, strings.ToLower(hexDigest), nil
}

var digestLengths = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128, "sha3_256": 64, "sha3_384": 96, "sha1": 40, "gitCommit": 40}

func checkDigest(alg, hexDigest string) error {
	n, ok := digestLengths[alg]
	if !ok {
		// Other algorithms (e.g. dirHash) are carried but not interpreted.
		if alg == "" {
			return errors.New("empty digest algorithm")
		}
		return nil
	}
	if len(hexDigest) != n {
		return fmt.Errorf("%s digest %q has %d hex characters, want %d", alg, hexDigest, len(hexDigest), n)
	}
	if _, err := hex.DecodeString(hexDigest); err != nil {
		return fmt.Errorf("%s digest %q is not hex", alg, hexDigest)
	}
	return nil
}
