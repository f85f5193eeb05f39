package signpolicy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"hallmark.dev/attest"
	"hallmark.dev/internal/jsonstrict"
	"hallmark.dev/policy"
	"hallmark.dev/verify"
)

// ProvenanceParameter is the key, under buildDefinition.internalParameters
// of a SLSA v1 provenance predicate
// (https://slsa.dev/spec/v1.0/provenance#builddefinition), at which
// hallmark release records the signing policy version that allowed the
// release ([ReleaseRecord]). internalParameters is the builder's own
// (a JSON object of its choosing, as GitHub's "github" key), and a URI as
// the key keeps it apart from any other builder's.
const ProvenanceParameter = "https://hallmark.dev/signing-policy/v1"

// ErrRecorded is returned by [AddToProvenance] for a predicate that
// records a signing policy already: only the release that checked the
// policy writes the record.
var ErrRecorded = errors.New("the provenance records a signing policy already")

// ReleaseRecord is the signing policy version that allowed a release, and
// what it was checked against, as the release's provenance records it.
type ReleaseRecord struct {
	Repository string `json:"repository"`
	Version    int    `json:"version"`
	// Digest is the policy file's digest, "sha256:<hex>".
	Digest string `json:"digest"`
	// Tag and Commit are the release tag and the commit the check was
	// about.
	Tag    string `json:"tag"`
	Commit string `json:"commit"`
}

// Check checks that the record is well formed.
func (r ReleaseRecord) Check() error {
	if err := checkVersion(r.Repository, r.Version, r.Digest); err != nil {
		return err
	}
	if r.Tag == "" {
		return errors.New("no tag")
	}
	return CheckCommit(r.Commit)
}

// String describes the record in one line.
func (r ReleaseRecord) String() string {
	return fmt.Sprintf("version %d (%s) of the signing policy of %s, for tag %s (commit %s)", r.Version, r.Digest, r.Repository, r.Tag, r.Commit)
}

// provenanceRules read a provenance predicate: I-JSON, no repeated key,
// nesting as deep as the slsa package reads it.
var provenanceRules = jsonstrict.Rules{MaxDepth: 128}

// object decodes a JSON object into its members, keys compared exactly.
func object(data json.RawMessage, what string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%s is not a JSON object", what)
	}
	return m, nil
}

// provenanceParameters returns the predicate's members, its
// buildDefinition's, and its internalParameters' (nil when absent or
// null).
func provenanceParameters(predicate []byte) (top, def, params map[string]json.RawMessage, err error) {
	if err := jsonstrict.Check(predicate, provenanceRules); err != nil {
		return nil, nil, nil, fmt.Errorf("provenance predicate: %w", err)
	}
	if top, err = object(predicate, "the provenance predicate"); err != nil {
		return nil, nil, nil, err
	}
	raw, ok := top["buildDefinition"]
	if !ok {
		return nil, nil, nil, errors.New("the provenance predicate has no buildDefinition (SLSA v1 provenance has one)")
	}
	if def, err = object(raw, "the provenance's buildDefinition"); err != nil {
		return nil, nil, nil, err
	}
	raw, ok = def["internalParameters"]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return top, def, nil, nil
	}
	if params, err = object(raw, "the provenance's buildDefinition.internalParameters"); err != nil {
		return nil, nil, nil, err
	}
	return top, def, params, nil
}

// ProvenanceRecord reads the signing policy record of a SLSA v1
// provenance predicate: nil when it has none. A record that is there but
// malformed (unknown or missing fields, a key in another case) is an
// error, as is a predicate that is not SLSA v1 provenance.
func ProvenanceRecord(predicate []byte) (*ReleaseRecord, error) {
	_, _, params, err := provenanceParameters(predicate)
	if err != nil {
		return nil, fmt.Errorf("signpolicy: %w", err)
	}
	raw, ok := params[ProvenanceParameter]
	if !ok {
		return nil, nil
	}
	var r ReleaseRecord
	if err := decodeExact(raw, &r); err != nil {
		return nil, fmt.Errorf("signpolicy: the provenance's signing policy record: %w", err)
	}
	if err := r.Check(); err != nil {
		return nil, fmt.Errorf("signpolicy: the provenance's signing policy record: %w", err)
	}
	return &r, nil
}

// Recorded reports whether a SLSA v1 provenance predicate carries a
// signing policy record, well formed or not. A predicate that is not
// SLSA v1 provenance, or not JSON, carries none.
func Recorded(predicate []byte) bool {
	_, _, params, err := provenanceParameters(predicate)
	if err != nil {
		return false
	}
	_, ok := params[ProvenanceParameter]
	return ok
}

// AddToProvenance returns the SLSA v1 provenance predicate with r recorded
// at buildDefinition.internalParameters[ProvenanceParameter]; every other
// member is kept as it was (the predicate's members are written in key
// order). A predicate that records a signing policy already is refused
// with [ErrRecorded].
func AddToProvenance(predicate []byte, r ReleaseRecord) ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, fmt.Errorf("signpolicy: signing policy record: %w", err)
	}
	top, def, params, err := provenanceParameters(predicate)
	if err != nil {
		return nil, fmt.Errorf("signpolicy: %w", err)
	}
	if _, ok := params[ProvenanceParameter]; ok {
		return nil, fmt.Errorf("signpolicy: %w (buildDefinition.internalParameters[%q])", ErrRecorded, ProvenanceParameter)
	}
	if params == nil {
		params = map[string]json.RawMessage{}
	}
	rec, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	params[ProvenanceParameter] = rec
	if def["internalParameters"], err = json.Marshal(params); err != nil {
		return nil, err
	}
	if top["buildDefinition"], err = json.Marshal(def); err != nil {
		return nil, err
	}
	return json.Marshal(top)
}

// ProvenanceCheckName is the name of the signing policy provenance check
// in reports.
const ProvenanceCheckName = "signing-policy"

// provenanceCheck requires a provenance that records a release allowed by
// one signing policy.
type provenanceCheck struct{ digest string }

var (
	_ policy.Check             = (*provenanceCheck)(nil)
	_ policy.ForPredicateTypes = (*provenanceCheck)(nil)
)

// NewProvenanceCheck returns a verification policy over verified SLSA v1
// provenance statements: one of them must record ([ProvenanceRecord]) a
// release allowed by the signing policy whose digest is digest
// ("sha256:<hex>"). One suffices: the builder signs a record only after the
// check passed, and a release made before the repository had a policy
// leaves provenance without one beside it. When none does, the failure
// names the digest wanted and what each statement records.
func NewProvenanceCheck(digest string) (policy.Check, error) {
	if err := CheckDigest(digest); err != nil {
		return nil, fmt.Errorf("signpolicy: %w", err)
	}
	return &provenanceCheck{digest: digest}, nil
}

func (c *provenanceCheck) Name() string { return ProvenanceCheckName }

// PredicateTypes says the check applies to SLSA v1 provenance only.
func (c *provenanceCheck) PredicateTypes() []string { return []string{attest.PredicateSLSAProvenance1} }

func (c *provenanceCheck) Evaluate(ctx context.Context, in policy.Input) (policy.Result, error) {
	if err := ctx.Err(); err != nil {
		return policy.Result{}, fmt.Errorf("signpolicy: %w", err)
	}
	res := policy.Result{Check: ProvenanceCheckName, Findings: []policy.Finding{}}
	var found []string
	for _, a := range in.Attestations {
		f := policy.Finding{Attestation: a.Source, Name: "signing policy"}
		switch rec, err := c.record(a); {
		case err != nil:
			f.Detail = err.Error()
		case rec == nil:
			f.Detail = "records no signing policy"
		case rec.Digest != c.digest:
			f.Detail = fmt.Sprintf("records signing policy %s (version %d of %s), not %s", rec.Digest, rec.Version, rec.Repository, c.digest)
		default:
			f.Passed, f.Detail = true, "allowed by "+rec.String()
		}
		res.Findings = append(res.Findings, f)
		res.Passed = res.Passed || f.Passed
		found = append(found, a.Source+": "+f.Detail)
	}
	if !res.Passed {
		if len(found) == 0 {
			res.Err = fmt.Errorf("no verified SLSA v1 provenance records a release allowed by signing policy %s", c.digest)
		} else {
			res.Err = fmt.Errorf("no verified provenance records a release allowed by signing policy %s: %s", c.digest, strings.Join(found, "; "))
		}
	}
	return res, nil
}

// record reads a verified statement's record.
func (c *provenanceCheck) record(a verify.VerifiedAttestation) (*ReleaseRecord, error) {
	if a.Statement == nil || a.Statement.PredicateType != attest.PredicateSLSAProvenance1 {
		return nil, errors.New("not SLSA v1 provenance")
	}
	return ProvenanceRecord(a.Statement.Predicate)
}
