package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"hallmark.dev/attest"
	"hallmark.dev/internal/buildenv"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// Artifact is a release artifact named by a file or by its digest.
type Artifact struct {
	// Path is the file; empty when only the digest is known.
	Path string
	// Digest is "alg:<hex>", alg one of attest.ArtifactDigestAlgorithms;
	// when empty, the file is hashed (with SHA-256, or when it is checked
	// against a statement, with the algorithms its subjects use).
	Digest string
}

// Resolve returns the artifact's subject (name: the file's base name) with
// its digest, hashing the file in constant memory when needed.
func (a Artifact) Resolve() (attest.Subject, error) {
	if a.Digest == "" {
		return buildenv.FileSubject(a.Path)
	}
	alg, h, err := attest.SplitDigest(a.Digest)
	if err != nil {
		return attest.Subject{}, err
	}
	name := ""
	if a.Path != "" {
		name = filepath.Base(a.Path)
	}
	return attest.Subject{Name: name, Digest: map[string]string{alg: h}}, nil
}

// AttestBlobRequest says what to attest about release artifacts: either a
// complete statement, or a predicate of a type whose subjects are the
// artifacts.
type AttestBlobRequest struct {
	// Statement is a complete in-toto statement (one provenance for a
	// whole release); each of Artifacts must be among its subjects.
	Statement []byte
	// PredicateType (a URI) and Predicate build the statement when
	// Statement is empty; its subjects are Artifacts.
	PredicateType string
	Predicate     []byte
	Artifacts     []Artifact
	Signer        sgsign.Keypair
	Options       sign.Options
	Now           func() time.Time
}

// AttestBlobResult is the signed bundle and what it covers.
type AttestBlobResult struct {
	Bundle        []byte           `json:"-"`
	PredicateType string           `json:"predicateType"`
	Subjects      []attest.Subject `json:"subjects"`
}

// AttestBlob signs an in-toto statement about files into a Sigstore bundle.
func AttestBlob(ctx context.Context, req AttestBlobRequest) (*AttestBlobResult, error) {
	if req.Signer == nil {
		return nil, errors.New("no signing key")
	}
	now := time.Now
	if req.Now != nil {
		now = req.Now
	}
	var (
		st       []byte
		subjects []attest.Subject
	)
	switch {
	case len(req.Statement) > 0 && len(req.Predicate) > 0:
		return nil, errors.New("give a statement or a predicate, not both")
	case len(req.Statement) > 0:
		parsed, err := attest.CheckStatement(req.Statement)
		if err != nil {
			return nil, err
		}
		for _, a := range req.Artifacts {
			if err := a.checkSubjectOf(parsed); err != nil {
				return nil, err
			}
		}
		if err := attest.CheckAttestationType(parsed.PredicateType); err != nil {
			return nil, err
		}
		st = req.Statement
		subjects = parsed.Subject
		req.PredicateType = parsed.PredicateType
	case len(req.Predicate) > 0:
		if len(req.Artifacts) == 0 {
			return nil, errors.New("no artifacts to attest about")
		}
		if err := attest.CheckAttestationType(req.PredicateType); err != nil {
			return nil, err
		}
		for _, a := range req.Artifacts {
			s, err := a.Resolve()
			if err != nil {
				return nil, err
			}
			subjects = append(subjects, s)
		}
		pred, err := attest.Predicate(req.PredicateType, req.Predicate, now())
		if err != nil {
			return nil, err
		}
		if st, err = attest.NewStatement(req.PredicateType, pred, subjects...); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("no statement or predicate given")
	}
	b, err := sign.Statement(ctx, req.Signer, st, req.Options)
	if err != nil {
		return nil, err
	}
	return &AttestBlobResult{Bundle: b, PredicateType: req.PredicateType, Subjects: subjects}, nil
}

// checkSubjectOf checks that the artifact is one of the statement's
// subjects: by its digest, or by its file's digest with the algorithms
// the subjects use (see attest.MatchReader).
func (a Artifact) checkSubjectOf(st *attest.Statement) error {
	d, ok := a.Digest, false
	if d != "" {
		_, ok = st.SubjectFor(d)
	} else {
		f, err := buildenv.OpenArtifact(a.Path)
		if err != nil {
			return err
		}
		defer f.Close()
		if d, ok, err = attest.MatchReader(f, st.Subject); err != nil {
			return fmt.Errorf("buildenv: artifact %s: %w", a.Path, err)
		}
	}
	if !ok {
		name := a.Path
		if name == "" {
			name = d
		}
		return fmt.Errorf("artifact %s (%s) is not a subject of the statement", name, d)
	}
	return nil
}

// VerifyBlobAttestation verifies the attestation bundle in the file
// bundlePath about an artifact: signature and authority, that the artifact
// is one of the statement's subjects (by any digest of
// attest.ArtifactDigestAlgorithms: a file is hashed with those its
// subjects use), and the predicate type. The bundle is read as a stream,
// so that an attestation of tens of megabytes (an SBOM) is verified in
// about its own size of memory.
func VerifyBlobAttestation(bundlePath string, a Artifact, p verify.AttestationPolicy) (*verify.AttestationResult, error) {
	fi, err := os.Stat(bundlePath)
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read bundle: %s is not a regular file", bundlePath)
	}
	src := verify.BundleSource{
		Source: bundlePath,
		Size:   fi.Size(),
		Open:   func() (io.ReadCloser, error) { return os.Open(bundlePath) },
	}
	va := verify.Artifact{Digest: a.Digest}
	if a.Digest == "" {
		f, err := buildenv.OpenArtifact(a.Path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		va.Content = f
	}
	return verify.BlobAttestation(src, va, p)
}
