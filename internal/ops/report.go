package ops

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"hallmark.dev/attest"
	"hallmark.dev/verify"
)

// Report is the outcome of verifying an image's (or an artifact's)
// attestations, as Conforma reports a validation: every attestation found,
// every check made on it, every policy evaluated, and one verdict.
type Report struct {
	// Success is true when at least one attestation of the requested type
	// verified and every check (policy.Check) over the verified
	// attestations passed.
	Success       bool   `json:"success"`
	Subject       string `json:"subject"`
	PredicateType string `json:"predicateType"`
	// Attestations lists every attestation found, verified or not.
	Attestations []AttestationReport `json:"attestations"`
	// Error says why the verification failed, when it did.
	Error string `json:"error,omitempty"`
}

// AttestationReport is one attestation and the checks made on it.
type AttestationReport struct {
	Source string `json:"source"`
	// Result is "verified", "rejected" or "ignored" (it verified but is of
	// another predicate type).
	Result    string            `json:"result"`
	Signer    *verify.Signer    `json:"signer,omitempty"`
	Checks    []Check           `json:"checks"`
	Statement *attest.Statement `json:"statement,omitempty"`
}

// Check is one check on one attestation: a verification step, or a
// finding of a verification policy ("policy FILE", "slsa …", "gate …").
type Check struct {
	Name string `json:"name"`
	// Result is "passed", "failed", "not-required" or "skipped".
	Result   string   `json:"result"`
	Detail   string   `json:"detail,omitempty"`
	Messages []string `json:"messages,omitempty"`
}

// Check results.
const (
	Passed      = "passed"
	Failed      = "failed"
	NotRequired = "not-required"
	Skipped     = "skipped" // not made: another predicate type, or a check the verifier waived
)

// NewReport builds the report of a verification: res may be nil when
// nothing was found; err is what the verification returned.
func NewReport(res *VerifyAttestationsResult, predicateType string, err error) *Report {
	r := &Report{PredicateType: predicateType, Success: err == nil}
	if err != nil {
		r.Error = err.Error()
	}
	if res == nil {
		return r
	}
	r.Subject = res.Image
	if res.AttestationResult == nil {
		return r
	}
	for _, v := range res.Verified {
		signer := v.Signer
		a := AttestationReport{Source: v.Source, Result: "verified", Signer: &signer, Statement: v.Statement, Checks: verifiedChecks(signer, res.Digest, v.Statement)}
		for _, cr := range res.Checks {
			for _, f := range cr.FindingsFor(v.Source) {
				name := cr.Check
				if f.Name != "" {
					name += " " + f.Name
				}
				a.Checks = append(a.Checks, Check{Name: name, Result: result(f.Passed), Detail: f.Detail, Messages: f.Messages})
			}
		}
		r.Attestations = append(r.Attestations, a)
	}
	for _, rej := range res.Rejected {
		a := AttestationReport{Source: rej.Source, Result: "rejected",
			Checks: []Check{{Name: string(rej.Step), Result: Failed, Detail: rej.Err.Error()}}}
		if errors.Is(rej.Err, verify.ErrOtherPredicateType) {
			a.Result = "ignored"
			a.Checks = []Check{{Name: "predicate type", Result: Skipped, Detail: rej.Err.Error()}}
		}
		r.Attestations = append(r.Attestations, a)
	}
	return r
}

func result(passed bool) string {
	if passed {
		return Passed
	}
	return Failed
}

// verifiedChecks lists the checks a verified attestation passed.
func verifiedChecks(s verify.Signer, digest string, st *attest.Statement) []Check {
	var cs []Check
	if s.KeyFingerprint != "" {
		cs = append(cs, Check{Name: "signature", Result: Passed, Detail: "key " + s.KeyFingerprint})
	} else {
		cs = append(cs,
			Check{Name: "signature", Result: Passed, Detail: "certificate key"},
			Check{Name: "certificate", Result: Passed, Detail: "chains to the trusted root at the verified time"},
			Check{Name: "identity", Result: Passed, Detail: fmt.Sprintf("%s from %s", s.Subject, s.Issuer)})
	}
	switch {
	case s.LogEntries > 0:
		cs = append(cs, Check{Name: "log", Result: Passed, Detail: fmt.Sprintf("%d entries with inclusion proofs", s.LogEntries)})
	case s.LogSkipped:
		cs = append(cs, Check{Name: "log", Result: Skipped, Detail: "not checked: the verifier waived the log entry"})
	default:
		cs = append(cs, Check{Name: "log", Result: NotRequired})
	}
	var times []string
	for _, t := range s.Timestamps {
		if t.Type == "timestamp-authority" {
			times = append(times, t.Time.Format(time.RFC3339))
		}
	}
	if len(times) > 0 {
		cs = append(cs, Check{Name: "timestamp", Result: Passed, Detail: "signed at " + strings.Join(times, ", ")})
	} else {
		cs = append(cs, Check{Name: "timestamp", Result: NotRequired})
	}
	cs = append(cs, Check{Name: "subject", Result: Passed, Detail: digest})
	if st != nil {
		cs = append(cs, Check{Name: "predicate type", Result: Passed, Detail: st.PredicateType})
	}
	return cs
}
