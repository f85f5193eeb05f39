package buildenv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"hallmark.dev/attest"
)

// ErrNoDigest is returned (wrapped) for an image reference without a
// digest.
var ErrNoDigest = errors.New("an image subject must be named by digest (NAME@sha256:HEX)")

// FileSubject returns the subject for a file: its base name and the
// SHA-256 of its content, read as a stream.
func FileSubject(path string) (attest.Subject, error) {
	f, err := OpenArtifact(path)
	if err != nil {
		return attest.Subject{}, err
	}
	defer f.Close()
	return ReaderSubject(filepath.Base(path), f)
}

// OpenArtifact opens an artifact file, which must be a regular file.
func OpenArtifact(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("buildenv: artifact: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("buildenv: artifact: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("buildenv: artifact %s is not a regular file", path)
	}
	return f, nil
}

// ReaderSubject returns the subject named name whose content r streams.
func ReaderSubject(name string, r io.Reader) (attest.Subject, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return attest.Subject{}, fmt.Errorf("buildenv: artifact %s: %w", name, err)
	}
	return attest.Subject{Name: name, Digest: map[string]string{"sha256": hex.EncodeToString(h.Sum(nil))}}, nil
}

// ImageSubject returns the subject for an image reference
// NAME[:TAG]@sha256:HEX: the repository's full name and the digest. It
// reads no registry; a reference without a digest is refused with
// [ErrNoDigest].
func ImageSubject(ref string) (attest.Subject, error) {
	if !strings.Contains(ref, "@") {
		return attest.Subject{}, fmt.Errorf("buildenv: image %q: %w", ref, ErrNoDigest)
	}
	d, err := name.NewDigest(ref)
	if err != nil {
		return attest.Subject{}, fmt.Errorf("buildenv: image %q: %w", ref, err)
	}
	alg, hexDigest, err := attest.SplitDigest(d.DigestStr())
	if err != nil {
		return attest.Subject{}, fmt.Errorf("buildenv: image %q: %w", ref, err)
	}
	if alg != "sha256" {
		return attest.Subject{}, fmt.Errorf("buildenv: image %q: digest algorithm %s: want sha256", ref, alg)
	}
	return attest.Subject{Name: d.Context().Name(), Digest: map[string]string{alg: hexDigest}}, nil
}

// Subjects checks a list of subjects: a name given twice must have the
// same digest (it is then kept once).
func Subjects(in []attest.Subject) ([]attest.Subject, error) {
	seen := map[string]string{}
	var out []attest.Subject
	for _, s := range in {
		d := s.Digest["sha256"]
		if prev, ok := seen[s.Name]; ok {
			if prev != d {
				return nil, fmt.Errorf("buildenv: two subjects are named %s with different digests", s.Name)
			}
			continue
		}
		seen[s.Name] = d
		out = append(out, s)
	}
	return out, nil
}
