// Package slsa checks what a verified SLSA build provenance statement says
// against what the user expects: the source repository, the tag or branch
// built, the builder, the workflow inputs and the artifacts. It is the
// policy half of provenance verification; the signature half (who signed
// the statement) is [hallmark.dev/verify]'s. The package is pure: no
// network, no registry, no files.
//
// Formats: SLSA Provenance v1 (https://slsa.dev/spec/v1.0/provenance,
// predicate type https://slsa.dev/provenance/v1) and v0.2
// (https://slsa.dev/spec/v0.2/provenance, https://slsa.dev/provenance/v0.2)
// in an in-toto Statement.
//
// The checks are slsa-verifier's (https://github.com/slsa-framework/slsa-verifier,
// its documented --source-uri, --source-tag, --source-versioned-tag,
// --source-branch, --builder-id and --build-workflow-input options), applied
// to any builder rather than to a fixed list:
//
//   - source uri: the expected URI is normalised as slsa-verifier does
//     ("github.com/o/r" and "https://github.com/o/r" both mean
//     "git+https://github.com/o/r") and must equal, up to the "@ref", the
//     URI the build was triggered from (v0.2 invocation.configSource.uri;
//     v1 externalParameters.workflow.{repository,ref} or the
//     GITHUB_WORKFLOW_REF internal parameter) and the first source material
//     (v0.2 materials[0].uri, v1 resolvedDependencies[0].uri). For the
//     GitHub builders' build types the trigger must name a ref, and the
//     trigger and the source must be the same URI with the same ref.
//   - builder: the builder id (v0.2 builder.id, v1 runDetails.builder.id)
//     is "name" or "name@version". An expected "name" matches any version;
//     "name@version" matches that version exactly, "name@v1.2.3" also
//     matching "name@refs/tags/v1.2.3". With trusted builders configured the
//     builder must match one of them too.
//   - subject: each artifact's digest must be the digest of one of the
//     statement's subjects (provenance may cover several artifacts).
//   - tag, branch: read as slsa-verifier reads them for the build type:
//     from the GitHub context the GitHub builders record (github_ref_type,
//     github_ref, github_base_ref and the event payload; upper-case names in
//     v1 internalParameters and in the BYOB build type), from the source
//     ref for BYOB builds, and otherwise from the ref of the trigger or
//     source URI (refs/tags/… or refs/heads/…).
//   - versioned tag: the tag is a semantic version compatible with the
//     expected one: "v1" accepts any v1.x.y, "v1.2" any v1.2.y, "v1.2.3"
//     only v1.2.3 (with the same pre-release); build metadata is ignored.
//   - certificate source repository ([CheckSigner], run by the caller with
//     the verified signer): the repository the signing certificate's
//     Fulcio extensions name must be the expected one, normalised the same
//     way; a certificate without them (and a key) leaves nothing to check.
//   - workflow inputs: the workflow_dispatch inputs of a GitHub build
//     (event payload "inputs"), or the build's external parameters
//     "inputs" (v0.2 invocation.parameters) for other build types.
//
// [NewCheck] makes the requirements a verification policy
// ([hallmark.dev/policy] Check) over verified provenance statements, as
// verify-attestation and verify-provenance run it.
//
// Where this package differs from slsa-verifier it says so next to the
// code. Fields are read by their exact names: Go's encoding/json matches
// struct fields case-insensitively, which would let "BUILDER" stand in for
// "builder".
package slsa

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"hallmark.dev/attest"
	"hallmark.dev/policy"
)

// The predicate types this package checks.
const (
	PredicateV1  = attest.PredicateSLSAProvenance1
	PredicateV02 = attest.PredicateSLSAProvenance02
)

// PredicateTypes are the SLSA provenance predicate types, newest first.
var PredicateTypes = []string{PredicateV1, PredicateV02}

// The names of the checks, in the order they run.
const (
	CheckPredicateType  = "predicate type"
	CheckBuilder        = "builder"
	CheckSourceURI      = "source uri"
	CheckSubject        = "subject"
	CheckBranch         = "branch"
	CheckTag            = "tag"
	CheckVersionedTag   = "versioned tag"
	CheckWorkflowInputs = "workflow inputs"
)

// Requirements are what the provenance must say.
type Requirements struct {
	// SourceURI is the repository the artifact must be built from, with or
	// without "git+https://" (e.g. "github.com/org/repo"); required.
	SourceURI string
	// SourceTag is the exact tag that must have been built ("v1.2.3").
	SourceTag string
	// SourceVersionedTag is a semantic version ("v1", "v1.2" or "v1.2.3")
	// the built tag must be compatible with.
	SourceVersionedTag string
	// SourceBranch is the branch that must have been built ("main").
	SourceBranch string
	// BuilderID is the builder that must have built the artifact: its name
	// (any version) or name@version (that version).
	BuilderID string
	// BuildWorkflowInputs are inputs the build must have been given.
	BuildWorkflowInputs map[string]string
	// TrustedBuilders, when not empty, are the builders the user trusts
	// (each a name or name@version, as BuilderID): the provenance's builder
	// must be one of them. Empty means any builder (BuilderID, when given,
	// still applies).
	TrustedBuilders []string
	// Artifacts are what the provenance must be about; at least one.
	Artifacts []Artifact
}

// Artifact is a file or image the provenance must cover: its name (a file
// name, an image) in messages, and its digests ("sha256:<hex>", and others
// such as "sha512:<hex>" for provenance that uses them); a subject with any
// of them matches. It is a verified subject of [hallmark.dev/policy].
type Artifact = policy.Subject

// CheckResult is the outcome of one check.
type CheckResult struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	// NotApplicable says the check had nothing to check (it passed).
	NotApplicable bool   `json:"notApplicable,omitempty"`
	Detail        string `json:"detail"`
}

// Result is what the provenance says and every check that ran.
type Result struct {
	PredicateType string        `json:"predicateType"`
	BuildType     string        `json:"buildType,omitempty"`
	BuilderID     string        `json:"builderId,omitempty"`
	Checks        []CheckResult `json:"checks"`
}

// Passed reports whether every check passed.
func (r *Result) Passed() bool {
	if r == nil || len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.Passed {
			return false
		}
	}
	return true
}

// Failed returns the checks that failed.
func (r *Result) Failed() []CheckResult {
	var out []CheckResult
	for _, c := range r.Checks {
		if !c.Passed {
			out = append(out, c)
		}
	}
	return out
}

// Error is returned when checks fail; it names each.
type Error struct {
	Failed []CheckResult
}

func (e *Error) Error() string {
	if len(e.Failed) == 1 {
		return e.Failed[0].Name + ": " + e.Failed[0].Detail
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d provenance checks failed:", len(e.Failed))
	for _, f := range e.Failed {
		fmt.Fprintf(&b, "\n  %s: %s", f.Name, f.Detail)
	}
	return b.String()
}

// Has reports whether the named check failed.
func (e *Error) Has(name string) bool {
	for _, f := range e.Failed {
		if f.Name == name {
			return true
		}
	}
	return false
}

// Check checks a verified provenance statement against the requirements.
// st must be the statement parsed from payload, the signed bytes (as
// [hallmark.dev/verify] returns them). It runs every check that applies and
// returns the result with an *[Error] naming each failed check; invalid
// requirements and a statement that does not match its payload are other
// errors.
func Check(st *attest.Statement, payload []byte, req Requirements) (*Result, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if len(req.Artifacts) == 0 {
		return nil, errors.New("slsa: no artifact given: the provenance must be checked against what it is about")
	}
	if st == nil {
		return nil, errors.New("slsa: no statement")
	}
	parsed, err := attest.ParseStatement(payload)
	if err != nil {
		return nil, fmt.Errorf("slsa: %w", err)
	}
	if !reflect.DeepEqual(parsed, st) {
		return nil, errors.New("slsa: the statement is not the one its payload holds")
	}
	res := &Result{PredicateType: st.PredicateType}
	add := func(name string, detail string, err error) {
		if err != nil {
			res.Checks = append(res.Checks, CheckResult{Name: name, Detail: err.Error()})
			return
		}
		res.Checks = append(res.Checks, CheckResult{Name: name, Passed: true, Detail: detail})
	}
	p, err := parseProvenance(st)
	if err != nil {
		add(CheckPredicateType, "", err)
		return res, &Error{Failed: res.Failed()}
	}
	add(CheckPredicateType, st.PredicateType, nil)
	res.BuildType, res.BuilderID = p.buildType, p.builderID

	add(CheckBuilder, p.builderID, p.checkBuilder(req.BuilderID, req.TrustedBuilders))
	detail, err := p.checkSource(req.SourceURI)
	add(CheckSourceURI, detail, err)
	for _, a := range req.Artifacts {
		detail, err := checkSubject(st, a)
		add(CheckSubject, detail, err)
	}
	if req.SourceBranch != "" {
		add(CheckBranch, req.SourceBranch, p.checkBranch(req.SourceBranch))
	}
	if req.SourceTag != "" {
		add(CheckTag, req.SourceTag, p.checkTag(req.SourceTag))
	}
	if req.SourceVersionedTag != "" {
		detail, err := p.checkVersionedTag(req.SourceVersionedTag)
		add(CheckVersionedTag, detail, err)
	}
	if len(req.BuildWorkflowInputs) > 0 {
		add(CheckWorkflowInputs, formatInputs(req.BuildWorkflowInputs), p.checkInputs(req.BuildWorkflowInputs))
	}
	if failed := res.Failed(); len(failed) > 0 {
		return res, &Error{Failed: failed}
	}
	return res, nil
}

// Validate checks the requirements themselves (a source URI, well-formed
// builder ids and versioned tag, named inputs), before anything is
// fetched. [Check] also requires at least one artifact.
func (req Requirements) Validate() error {
	if strings.TrimSpace(req.SourceURI) == "" {
		return errors.New("slsa: no source uri given: name the repository the artifact must be built from")
	}
	for _, a := range req.Artifacts {
		if len(a.Digests) == 0 {
			return fmt.Errorf("slsa: artifact %s has no digest", a.Name)
		}
		for _, d := range a.Digests {
			if _, _, err := attest.SplitDigest(d); err != nil {
				return fmt.Errorf("slsa: artifact %s: %w", a.Name, err)
			}
		}
	}
	if req.BuilderID != "" {
		if _, _, err := parseBuilderID(req.BuilderID); err != nil {
			return fmt.Errorf("slsa: expected builder: %w", err)
		}
	}
	for _, b := range req.TrustedBuilders {
		if _, _, err := parseBuilderID(b); err != nil {
			return fmt.Errorf("slsa: trusted builder: %w", err)
		}
	}
	if req.SourceVersionedTag != "" {
		if err := validSemver(req.SourceVersionedTag); err != nil {
			return fmt.Errorf("slsa: expected versioned tag: %w", err)
		}
	}
	for k := range req.BuildWorkflowInputs {
		if k == "" {
			return errors.New("slsa: a workflow input has an empty name")
		}
	}
	return nil
}

// checkSubject checks that the artifact is one of the statement's subjects.
func checkSubject(st *attest.Statement, a Artifact) (string, error) {
	for _, d := range a.Digests {
		alg, hexDigest, err := attest.SplitDigest(d)
		if err != nil {
			return "", err
		}
		for _, s := range st.Subject {
			if got, ok := s.Digest[alg]; ok && strings.EqualFold(got, hexDigest) {
				name := s.Name
				if name == "" {
					name = alg + ":" + hexDigest
				}
				return fmt.Sprintf("%s is subject %s", a.Name, name), nil
			}
		}
	}
	subjects := make([]string, 0, len(st.Subject))
	for _, s := range st.Subject {
		subjects = append(subjects, describeSubject(s))
	}
	return "", fmt.Errorf("artifact %s (%s) is not among the provenance subjects: %s",
		a.Name, strings.Join(a.Digests, ", "), strings.Join(subjects, ", "))
}

func describeSubject(s attest.Subject) string {
	var ds []string
	for _, alg := range []string{"sha256", "sha512", "sha384", "sha1"} {
		if d, ok := s.Digest[alg]; ok {
			ds = append(ds, alg+":"+d)
		}
	}
	if len(ds) == 0 {
		for alg, d := range s.Digest {
			ds = append(ds, alg+":"+d)
			break
		}
	}
	if s.Name == "" {
		return strings.Join(ds, " ")
	}
	return fmt.Sprintf("%s (%s)", s.Name, strings.Join(ds, " "))
}

func formatInputs(m map[string]string) string {
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ", ")
}
