package policy

import (
	"context"
	"errors"
	"strings"
	"time"

	"hallmark.dev/verify"
)

// Check is one verification policy over the attestations that verified
// for a subject. CUE and Rego policies ([Parse]) require every verified
// statement to pass; hallmark.dev/slsa and hallmark.dev/gate provide checks
// of their own (SLSA provenance requirements, the gate attestation's age),
// and every caller runs them the same way ([Run]).
type Check interface {
	// Name names the check in reports and errors: "policy builder.cue",
	// "slsa", "gate".
	Name() string
	// Evaluate judges the verified attestations. Attestations that fail
	// the check make a Result with Passed false and Err saying why, not an
	// error; an error means the check could not be evaluated (a policy
	// that cannot be run over the input, or ctx ended first: the error
	// then wraps ctx.Err()).
	Evaluate(ctx context.Context, in Input) (Result, error)
}

// ForPredicateTypes is implemented by checks that apply only to statements
// of some predicate types, so that a caller can refuse a check that cannot
// apply before it fetches anything.
type ForPredicateTypes interface {
	PredicateTypes() []string
}

// Input is what a check judges: the attestations that verified for the
// subjects, whose signatures, signers and subjects the verifier checked.
type Input struct {
	// Subjects are what was verified: an image (its repository@digest
	// and digest), or files (their names and digests).
	Subjects []Subject
	// Attestations are the attestations that verified, each with its
	// statement, the signed payload and the signer with its verified
	// times.
	Attestations []verify.VerifiedAttestation
	// Time is the time ages are judged at; the zero time means now.
	Time time.Time
}

// Now returns in.Time, or the current time when it is zero.
func (in Input) Now() time.Time {
	if in.Time.IsZero() {
		return time.Now()
	}
	return in.Time
}

// Subject is an artifact the attestations were verified to be about.
type Subject struct {
	// Name names it in messages: repository@digest, or a file name.
	Name string `json:"name"`
	// Digests are its digests ("sha256:<hex>", and others such as
	// "sha512:<hex>" for statements that name it by them).
	Digests []string `json:"digests"`
}

// Result is one check's verdict.
type Result struct {
	// Check is the check's Name.
	Check  string `json:"check"`
	Passed bool   `json:"passed"`
	// Findings are what the check found about each attestation, in the
	// order of the input's attestations.
	Findings []Finding `json:"findings"`
	// Err says why the check failed, naming the attestations that failed
	// it; nil when Passed. It may wrap a cause callers branch on
	// (gate.ErrNoTrustedTime).
	Err error `json:"-"`
}

// Finding is one thing a check found about one attestation.
type Finding struct {
	// Attestation is the attestation's source (where it was found).
	Attestation string `json:"attestation"`
	// Name is the part of the check ("source uri", "signed time"); empty
	// when the check judges the statement as a whole (a CUE or Rego
	// policy).
	Name   string `json:"name,omitempty"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail,omitempty"`
	// Messages say why a CUE or Rego policy failed: CUE errors (path and
	// message) or Rego deny messages.
	Messages []string `json:"messages,omitempty"`
}

// FindingsFor returns the findings about one attestation.
func (r Result) FindingsFor(source string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Attestation == source {
			out = append(out, f)
		}
	}
	return out
}

// Error is returned when checks fail. It names each failed check, and each
// its failed attestations; errors.Is and errors.As see each check's Err.
type Error struct {
	Failed []Result
}

func (e *Error) Error() string {
	msgs := make([]string, len(e.Failed))
	for i, r := range e.Failed {
		msgs[i] = r.Err.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns each failed check's Err.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, r := range e.Failed {
		errs[i] = r.Err
	}
	return errs
}

// Run evaluates the checks in order over the input. It returns every
// result and, when checks failed, an *[Error] naming them; a check that
// cannot be evaluated stops it with that error.
func Run(ctx context.Context, in Input, checks ...Check) ([]Result, error) {
	results := make([]Result, 0, len(checks))
	var failed []Result
	for _, c := range checks {
		r, err := c.Evaluate(ctx, in)
		if err != nil {
			return results, err
		}
		if r.Check == "" {
			r.Check = c.Name()
		}
		if !r.Passed && r.Err == nil {
			r.Err = errors.New(r.Check + ": failed")
		}
		results = append(results, r)
		if !r.Passed {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		return results, &Error{Failed: failed}
	}
	return results, nil
}
