package ops

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"hallmark.dev/oci"
	"hallmark.dev/oci/store"
	"hallmark.dev/policy"
	"hallmark.dev/slsa"
	"hallmark.dev/verify"
)

// MaxProvenanceFileSize bounds a provenance file (.intoto.jsonl files hold
// one envelope per line).
const MaxProvenanceFileSize = 64 << 20

// VerifiedProvenance is one provenance statement whose signature verified,
// with the findings of the SLSA check about it.
type VerifiedProvenance struct {
	verify.VerifiedAttestation
	Checks []policy.Finding `json:"checks"`
}

// Passed reports whether the statement passed every check.
func (v *VerifiedProvenance) Passed() bool {
	if len(v.Checks) == 0 {
		return false
	}
	for _, f := range v.Checks {
		if !f.Passed {
			return false
		}
	}
	return true
}

// VerifyProvenanceResult reports the provenance found for an image or for
// artifacts.
type VerifyProvenanceResult struct {
	// Subject is the image (repository@digest) or the artifacts' names.
	Subject   string          `json:"subject"`
	Artifacts []slsa.Artifact `json:"artifacts"`
	// Verified are the statements whose signature verified, each with its
	// checks; Rejected those whose signature did not (or that are not SLSA
	// provenance).
	Verified []VerifiedProvenance     `json:"verified"`
	Rejected []*verify.SignatureError `json:"rejected,omitempty"`
}

// Passing returns the first verified provenance that passed every check.
func (r *VerifyProvenanceResult) Passing() *VerifiedProvenance {
	if r == nil {
		return nil
	}
	for i := range r.Verified {
		if r.Verified[i].Passed() {
			return &r.Verified[i]
		}
	}
	return nil
}

// VerifyImageProvenanceRequest says which image's provenance to verify.
type VerifyImageProvenanceRequest struct {
	Reference  string
	Repository string
	Authority  verify.Authority
	// Requirements are checked against each verified provenance, with
	// the image as the artifact (their Artifacts must be empty).
	Requirements slsa.Requirements
	// Checks are further checks (signpolicy.NewProvenanceCheck): one
	// verified statement must pass the requirements and every check.
	Checks []policy.Check
}

// VerifyImageProvenance resolves the image once, fetches its attestations
// (referrers and the legacy .att tag), verifies those that are SLSA
// provenance (v1 or v0.2) under the authority, and checks each verified
// statement against the requirements. It succeeds when one passes; when
// none does, the error is a *policy.Error.
func VerifyImageProvenance(ctx context.Context, c *store.Client, req VerifyImageProvenanceRequest) (*VerifyProvenanceResult, error) {
	if req.Authority == nil {
		return nil, verify.ErrNoAuthority
	}
	check, err := slsa.NewCheck(req.Requirements, slsa.One)
	if err != nil {
		return nil, err
	}
	d, h, sigRepo, atts, err := fetch(ctx, c, req.Reference, req.Repository, c.Attestations)
	if err != nil {
		return nil, err
	}
	out := &VerifyProvenanceResult{
		Subject:   d.String(),
		Artifacts: []slsa.Artifact{{Name: d.String(), Digests: []string{d.DigestStr()}}},
	}
	if len(atts) == 0 {
		return out, fmt.Errorf("no attestations found for %s (looked for referrers and the %s tag in %s)", d, oci.LegacyTag(h, oci.LegacyAttestationTagSuffix), sigRepo)
	}
	// One pass per SLSA predicate type; a statement verifies in at most
	// one, and one rejected in every pass is reported once.
	verified := map[string]bool{}
	var passes [][]*verify.SignatureError
	var statements []verify.VerifiedAttestation
	for _, pt := range slsa.PredicateTypes {
		res, err := verify.Attestations(d.DigestStr(), atts, verify.AttestationPolicy{Authority: req.Authority, PredicateType: pt})
		var nv *verify.NoValidSignatureError
		if err != nil && !errors.As(err, &nv) {
			return out, err
		}
		if res == nil {
			continue
		}
		for _, v := range res.Verified {
			verified[v.Source] = true
			statements = append(statements, v)
		}
		passes = append(passes, res.Rejected)
	}
	seen := map[string]bool{}
	for _, rejected := range passes {
		for _, r := range rejected {
			if verified[r.Source] || seen[r.Source] {
				continue
			}
			seen[r.Source] = true
			if ot := (*verify.OtherPredicateTypeError)(nil); errors.As(r.Err, &ot) {
				r = &verify.SignatureError{Source: r.Source, Step: r.Step, Err: fmt.Errorf("predicate type %s is not SLSA provenance", ot.Got)}
			}
			out.Rejected = append(out.Rejected, r)
		}
	}
	return out, evaluate(ctx, out, statements, append([]policy.Check{check}, req.Checks...))
}

// VerifyArtifactProvenanceRequest says which provenance file to verify
// for which artifacts.
type VerifyArtifactProvenanceRequest struct {
	// ProvenancePath is a Sigstore bundle, a .intoto.jsonl file (one DSSE
	// envelope or bundle per line), or npm's attestations JSON.
	ProvenancePath string
	// Artifacts are the files the provenance must cover; at least one.
	Artifacts []string
	Authority verify.Authority
	// Requirements are checked against each verified provenance, with
	// the files as the artifacts (their Artifacts must be empty).
	Requirements slsa.Requirements
	// Checks are further checks (signpolicy.NewProvenanceCheck): one
	// verified statement must pass the requirements and every check.
	Checks []policy.Check
}

// VerifyArtifactProvenance reads the provenance file and the artifacts,
// verifies each signed statement in the file under the authority, and
// checks each verified SLSA provenance against the requirements with the
// artifacts' digests. It succeeds when one passes; when none does, the
// error is a *policy.Error.
func VerifyArtifactProvenance(ctx context.Context, req VerifyArtifactProvenanceRequest) (*VerifyProvenanceResult, error) {
	if req.Authority == nil {
		return nil, verify.ErrNoAuthority
	}
	if len(req.Artifacts) == 0 {
		return nil, errors.New("no artifact given")
	}
	check, err := slsa.NewCheck(req.Requirements, slsa.One)
	if err != nil {
		return nil, err
	}
	data, err := readLimited(req.ProvenancePath, MaxProvenanceFileSize)
	if err != nil {
		return nil, fmt.Errorf("read provenance: %w", err)
	}
	entries, err := provenanceEntries(filepath.Base(req.ProvenancePath), data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.ProvenancePath, err)
	}
	out := &VerifyProvenanceResult{Subject: strings.Join(req.Artifacts, ", ")}
	for _, path := range req.Artifacts {
		a, err := hashArtifact(path)
		if err != nil {
			return nil, err
		}
		out.Artifacts = append(out.Artifacts, a)
	}
	var statements []verify.VerifiedAttestation
	for _, e := range entries {
		v, err := verify.Statement(e.source, e.data, verify.StatementPolicy{Authority: req.Authority, PredicateTypes: slsa.PredicateTypes})
		var se *verify.SignatureError
		switch {
		case errors.As(err, &se):
			out.Rejected = append(out.Rejected, se)
		case err != nil:
			return out, err
		default:
			statements = append(statements, *v)
		}
	}
	return out, evaluate(ctx, out, statements, append([]policy.Check{check}, req.Checks...))
}

// evaluate runs the SLSA check and the further checks over the verified
// statements and records each with its findings. One statement must pass
// them all.
func evaluate(ctx context.Context, out *VerifyProvenanceResult, statements []verify.VerifiedAttestation, checks []policy.Check) error {
	if len(statements) == 0 {
		if len(out.Rejected) == 0 {
			return fmt.Errorf("no SLSA provenance found for %s", out.Subject)
		}
		return &verify.NoValidSignatureError{Subject: out.Subject, Rejected: out.Rejected}
	}
	results, err := policy.Run(ctx, policy.Input{Subjects: out.Artifacts, Attestations: statements}, checks...)
	if len(results) < len(checks) {
		return err
	}
	for _, v := range statements {
		vp := VerifiedProvenance{VerifiedAttestation: v}
		for _, r := range results {
			vp.Checks = append(vp.Checks, r.FindingsFor(v.Source)...)
		}
		out.Verified = append(out.Verified, vp)
	}
	if err != nil || out.Passing() != nil {
		return err
	}
	// Each check passed on some statement, but no one statement passed
	// them all.
	var failed []string
	for _, v := range out.Verified {
		for _, f := range v.Checks {
			if !f.Passed {
				failed = append(failed, fmt.Sprintf("%s: %s: %s", v.Source, f.Name, f.Detail))
			}
		}
	}
	return fmt.Errorf("no verified provenance for %s passes every check: %s", out.Subject, strings.Join(failed, "; "))
}

// provenanceEntry is one signed statement read from a provenance file.
type provenanceEntry struct {
	source string
	data   []byte
}

// provenanceEntries splits a provenance file into its signed statements: a
// single JSON document (a Sigstore bundle or a DSSE envelope, possibly
// indented), npm's attestations document ({"attestations": [{"bundle": …},
// …]}), or JSON lines, one bundle or envelope per line (.intoto.jsonl, and
// `gh attestation download` output).
func provenanceEntries(name string, data []byte) ([]provenanceEntry, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("the provenance file is empty")
	}
	if json.Valid(trimmed) {
		var npm struct {
			Attestations []struct {
				PredicateType string          `json:"predicateType"`
				Bundle        json.RawMessage `json:"bundle"`
			} `json:"attestations"`
			MediaType   *string `json:"mediaType"`
			PayloadType *string `json:"payloadType"`
		}
		if err := json.Unmarshal(trimmed, &npm); err == nil && npm.Attestations != nil && npm.MediaType == nil && npm.PayloadType == nil {
			var out []provenanceEntry
			for i, a := range npm.Attestations {
				if !slices.Contains(slsa.PredicateTypes, a.PredicateType) {
					// npm's publish attestation, signed by the registry:
					// not provenance. (The type listed here is only a
					// hint; the signed statement's own is checked.)
					continue
				}
				if len(a.Bundle) == 0 {
					return nil, fmt.Errorf("attestation %d has no bundle", i+1)
				}
				out = append(out, provenanceEntry{source: fmt.Sprintf("%s attestation %d (%s)", name, i+1, a.PredicateType), data: a.Bundle})
			}
			if len(out) == 0 {
				return nil, errors.New("the attestations document lists no SLSA provenance")
			}
			return out, nil
		}
		return []provenanceEntry{{source: name, data: trimmed}}, nil
	}
	var out []provenanceEntry
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			return nil, fmt.Errorf("line %d is not JSON (want a Sigstore bundle, a DSSE envelope, or one of them per line)", i+1)
		}
		out = append(out, provenanceEntry{source: fmt.Sprintf("%s line %d", name, i+1), data: line})
	}
	return out, nil
}

// hashArtifact reads a file once and returns its SHA-256 and SHA-512
// digests (npm provenance names packages by SHA-512).
func hashArtifact(path string) (slsa.Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return slsa.Artifact{}, fmt.Errorf("read artifact: %w", err)
	}
	defer f.Close()
	h256, h512 := sha256.New(), sha512.New()
	if _, err := io.Copy(io.MultiWriter(h256, h512), f); err != nil {
		return slsa.Artifact{}, fmt.Errorf("read artifact %s: %w", path, err)
	}
	return slsa.Artifact{Name: path, Digests: []string{
		"sha256:" + hex.EncodeToString(h256.Sum(nil)),
		"sha512:" + hex.EncodeToString(h512.Sum(nil)),
	}}, nil
}

// readLimited reads a file of at most limit bytes. A regular file's size
// is checked before anything is read; any file is read no further than
// the limit (it may grow, or be a pipe).
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if fi.Mode().IsRegular() {
		if fi.Size() > limit {
			return nil, fmt.Errorf("%s is %d bytes, over the %d byte limit", path, fi.Size(), limit)
		}
		buf.Grow(int(fi.Size()) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%s is over the %d byte limit", path, limit)
	}
	return buf.Bytes(), nil
}
