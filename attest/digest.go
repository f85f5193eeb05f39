package attest

import (
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"maps"
	"slices"
	"strings"
)

// ArtifactDigestAlgorithms are the digests of an artifact's bytes by
// which it is matched with a statement's subjects, in order of
// preference: the algorithms that both in-toto's DigestSet
// (https://github.com/in-toto/attestation/blob/main/spec/v1/digest_set.md)
// names and Sigstore's HashAlgorithm (protobuf-specs, common/v1) lists:
// SHA2-256, SHA2-512, SHA2-384, SHA3-256 and SHA3-384. SHA-256 first, as
// in-toto recommends; SHA-512 next, by which npm's provenance names a
// package. in-toto's other entries (dirHash, gitCommit, …) are not
// digests of a file's bytes, and its weaker ones (md5, sha1) are not
// accepted.
var ArtifactDigestAlgorithms = []string{"sha256", "sha512", "sha384", "sha3_256", "sha3_384"}

func newHash(alg string) (hash.Hash, error) {
	switch alg {
	case "sha256":
		return sha256.New(), nil
	case "sha384":
		return sha512.New384(), nil
	case "sha512":
		return sha512.New(), nil
	case "sha3_256":
		return sha3.New256(), nil
	case "sha3_384":
		return sha3.New384(), nil
	}
	return nil, fmt.Errorf("attest: digest algorithm %q is not one of %s", alg, strings.Join(ArtifactDigestAlgorithms, ", "))
}

// SubjectAlgorithms returns the algorithms of [ArtifactDigestAlgorithms]
// that the subjects' digests use, in that order; sha256 when they use
// none.
func SubjectAlgorithms(subjects []Subject) []string {
	var algs []string
	for _, alg := range ArtifactDigestAlgorithms {
		for _, s := range subjects {
			if _, ok := s.Digest[alg]; ok {
				algs = append(algs, alg)
				break
			}
		}
	}
	if len(algs) == 0 {
		return ArtifactDigestAlgorithms[:1]
	}
	return algs
}

// DigestReader reads r to its end, once, and returns its digest
// ("alg:hex") with each of algs, in order; each must be one of
// [ArtifactDigestAlgorithms].
func DigestReader(r io.Reader, algs []string) ([]string, error) {
	hs := make([]hash.Hash, len(algs))
	ws := make([]io.Writer, len(algs))
	for i, alg := range algs {
		h, err := newHash(alg)
		if err != nil {
			return nil, err
		}
		hs[i], ws[i] = h, h
	}
	if _, err := io.Copy(io.MultiWriter(ws...), r); err != nil {
		return nil, err
	}
	out := make([]string, len(algs))
	for i, h := range hs {
		out[i] = algs[i] + ":" + hex.EncodeToString(h.Sum(nil))
	}
	return out, nil
}

// MatchReader reads r once, hashing it with each algorithm the subjects
// use (see [SubjectAlgorithms]), and returns the digest by which it is
// one of the subjects; when it is none of them, its digest with the
// first of those algorithms, and false. Two digest sets match when any
// acceptable algorithm's digests match, as in-toto says.
func MatchReader(r io.Reader, subjects []Subject) (string, bool, error) {
	digests, err := DigestReader(r, SubjectAlgorithms(subjects))
	if err != nil {
		return "", false, err
	}
	for _, d := range digests {
		if matchSubject(subjects, d) {
			return d, true, nil
		}
	}
	return digests[0], false, nil
}

// matchSubject reports whether one of subjects has digest ("alg:hex").
func matchSubject(subjects []Subject, digest string) bool {
	alg, hexDigest, ok := strings.Cut(digest, ":")
	return ok && slices.ContainsFunc(subjects, func(s Subject) bool {
		d, ok := s.Digest[alg]
		return ok && strings.EqualFold(d, hexDigest)
	})
}

// PreferredDigest returns the subject's digest ("alg:hex") with the first
// of [ArtifactDigestAlgorithms] it has, or else with its first algorithm
// in name order; "" when it has none.
func (s Subject) PreferredDigest() string {
	for _, alg := range ArtifactDigestAlgorithms {
		if d, ok := s.Digest[alg]; ok {
			return alg + ":" + d
		}
	}
	algs := slices.Sorted(maps.Keys(s.Digest))
	if len(algs) == 0 {
		return ""
	}
	return algs[0] + ":" + s.Digest[algs[0]]
}
