package slsa

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"hallmark.dev/policy"
)

// CheckName is the name of the SLSA provenance check in reports.
const CheckName = "slsa"

// Quantifier says how many verified provenance statements must meet the
// requirements.
type Quantifier int

const (
	// Every verified statement must meet them: a provenance statement that
	// fails is a claim someone trusted signed (verify-attestation).
	Every Quantifier = iota
	// One verified statement that meets them suffices, as slsa-verifier
	// accepts an artifact when one of its provenance statements passes
	// (verify-provenance).
	One
)

// provenanceCheck is the requirements as a [policy.Check].
type provenanceCheck struct {
	req Requirements
	q   Quantifier
}

var (
	_ policy.Check             = (*provenanceCheck)(nil)
	_ policy.ForPredicateTypes = (*provenanceCheck)(nil)
)

// NewCheck returns the requirements as a verification policy over
// verified SLSA provenance statements: [Check] and the signing
// certificate's source repository ([CheckSigner]) for each, with the
// input's subjects as the artifacts (req.Artifacts must be empty); q says
// whether every statement or one must pass.
func NewCheck(req Requirements, q Quantifier) (policy.Check, error) {
	if len(req.Artifacts) > 0 {
		return nil, errors.New("slsa: the check's artifacts are the verified subjects: give none in the requirements")
	}
	if q != Every && q != One {
		return nil, fmt.Errorf("slsa: unknown quantifier %d", q)
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return &provenanceCheck{req: req, q: q}, nil
}

func (c *provenanceCheck) Name() string { return CheckName }

// PredicateTypes says the check applies to SLSA provenance only.
func (c *provenanceCheck) PredicateTypes() []string { return PredicateTypes }

// failure is one statement that failed its checks.
type failure struct {
	source string
	failed []CheckResult
}

func (c *provenanceCheck) Evaluate(ctx context.Context, in policy.Input) (policy.Result, error) {
	if err := ctx.Err(); err != nil {
		return policy.Result{}, fmt.Errorf("slsa: %w", err)
	}
	req := c.req
	req.Artifacts = in.Subjects
	res := policy.Result{Check: CheckName, Findings: []policy.Finding{}}
	var failures []failure
	passed := 0
	for _, a := range in.Attestations {
		r, err := Check(a.Statement, a.Payload, req)
		var ce *Error
		if err != nil && !errors.As(err, &ce) {
			return policy.Result{}, fmt.Errorf("%s: %w", a.Source, err)
		}
		// The certificate's record of the repository the signer ran in
		// must agree with the expected source too (slsa-verifier checks
		// it first).
		r.Checks = append(r.Checks, CheckSigner(req.SourceURI, a.Signer.SourceRepositoryURI, a.Signer.GitHubRepository))
		for _, cr := range r.Checks {
			res.Findings = append(res.Findings, policy.Finding{Attestation: a.Source, Name: cr.Name, Passed: cr.Passed, Detail: cr.Detail})
		}
		if f := r.Failed(); len(f) > 0 {
			failures = append(failures, failure{source: a.Source, failed: f})
		} else {
			passed++
		}
	}
	switch c.q {
	case Every:
		res.Passed = len(failures) == 0
	case One:
		res.Passed = passed > 0
	}
	if !res.Passed {
		res.Err = c.failed(in, failures)
	}
	return res, nil
}

// failed says which statements failed which checks.
func (c *provenanceCheck) failed(in policy.Input, failures []failure) error {
	if len(failures) == 0 {
		return fmt.Errorf("no verified SLSA provenance for %s", subjectNames(in.Subjects))
	}
	if len(failures) == 1 {
		return fmt.Errorf("%s: %w", failures[0].source, &Error{Failed: failures[0].failed})
	}
	var b strings.Builder
	if c.q == Every {
		fmt.Fprintf(&b, "%d verified provenance statements failed the SLSA checks", len(failures))
	} else {
		fmt.Fprintf(&b, "none of the %d verified provenance statements for %s passed the checks", len(failures), subjectNames(in.Subjects))
	}
	for _, f := range failures {
		for _, cr := range f.failed {
			fmt.Fprintf(&b, "\n  %s: %s: %s", f.source, cr.Name, cr.Detail)
		}
	}
	return errors.New(b.String())
}

func subjectNames(subjects []policy.Subject) string {
	names := make([]string, len(subjects))
	for i, s := range subjects {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}
