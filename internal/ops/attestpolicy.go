package ops

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"hallmark.dev/policy"
	"hallmark.dev/verify"
)

// runChecks runs the request's checks over the verified attestations of
// one subject and records their results.
func runChecks(ctx context.Context, out *VerifyAttestationsResult, checks []policy.Check, now func() time.Time, subject policy.Subject) error {
	if len(checks) == 0 {
		return nil
	}
	t := time.Now
	if now != nil {
		t = now
	}
	results, err := policy.Run(ctx, policy.Input{Subjects: []policy.Subject{subject}, Attestations: out.Verified, Time: t()}, checks...)
	out.Checks = results
	return err
}

// validateChecks refuses a check that cannot apply to the predicate type
// verified, before anything is fetched.
func validateChecks(checks []policy.Check, predicateType string) error {
	for _, c := range checks {
		typed, ok := c.(policy.ForPredicateTypes)
		if !ok {
			continue
		}
		if pts := typed.PredicateTypes(); !slices.Contains(pts, predicateType) {
			return fmt.Errorf("the %s check applies to %s attestations, not %s", c.Name(), strings.Join(pts, " or "), predicateType)
		}
	}
	return nil
}

// imageSubject is the verified image as a subject of the checks.
func imageSubject(res *verify.AttestationResult, image string) policy.Subject {
	return policy.Subject{Name: image, Digests: []string{res.Digest}}
}
