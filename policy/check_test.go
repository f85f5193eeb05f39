package policy

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"hallmark.dev/verify"
)

// attestation makes a verified attestation of a testdata statement.
func attestation(t *testing.T, source, file string) verify.VerifiedAttestation {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return verify.VerifiedAttestation{Source: source, Payload: json.RawMessage(b)}
}

// A parsed policy is a Check every verified statement must pass: one
// finding per attestation, and an error naming each that failed.
func TestPolicyCheck(t *testing.T) {
	p, err := load(t, "testdata/slsa-v1.rego")
	if err != nil {
		t.Fatal(err)
	}
	good := attestation(t, "good", "slsa-v1.json")
	bad := attestation(t, "bad", "cyclonedx.json")
	for _, tc := range []struct {
		name   string
		atts   []verify.VerifiedAttestation
		passed []bool // per finding
		err    string // "" when the check passes
	}{
		{"all pass", []verify.VerifiedAttestation{good, good}, []bool{true, true}, ""},
		{"one fails", []verify.VerifiedAttestation{good, bad}, []bool{true, false}, "1 policy check(s) failed\n  bad: policy testdata/slsa-v1.rego: "},
		{"nothing verified", nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := p.Evaluate(context.Background(), Input{Attestations: tc.atts})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := res.Check, "policy testdata/slsa-v1.rego"; got != want {
				t.Errorf("Check = %q, want %q", got, want)
			}
			var passed []bool
			for i, f := range res.Findings {
				if f.Attestation != tc.atts[i].Source {
					t.Errorf("finding %d is about %q, want %q", i, f.Attestation, tc.atts[i].Source)
				}
				passed = append(passed, f.Passed)
			}
			if diff := cmp.Diff(tc.passed, passed, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("findings passed (-want +got):\n%s", diff)
			}
			if res.Passed != (tc.err == "") {
				t.Errorf("Passed = %v, want %v", res.Passed, tc.err == "")
			}
			if tc.err != "" && (res.Err == nil || !strings.HasPrefix(res.Err.Error(), tc.err)) {
				t.Errorf("Err = %v, want prefix %q", res.Err, tc.err)
			}
		})
	}
}

type fixedCheck struct {
	name string
	res  Result
	err  error
}

func (c fixedCheck) Name() string                                    { return c.name }
func (c fixedCheck) Evaluate(context.Context, Input) (Result, error) { return c.res, c.err }

var errCause = errors.New("the cause")

// Run evaluates every check, names the failed ones in one *Error whose
// causes errors.Is sees, and stops at a check that cannot be evaluated.
func TestRun(t *testing.T) {
	pass := fixedCheck{"a", Result{Passed: true}, nil}
	fail := fixedCheck{"b", Result{Err: errors.Join(errors.New("b failed"), errCause)}, nil}
	fail2 := fixedCheck{"c", Result{Err: errors.New("c failed")}, nil}
	broken := fixedCheck{"d", Result{}, errors.New("cannot run d")}

	results, err := Run(context.Background(), Input{}, pass, fail, fail2)
	if len(results) != 3 || results[0].Check != "a" || results[1].Check != "b" {
		t.Fatalf("got results %+v, want a, b and c named", results)
	}
	var pe *Error
	if !errors.As(err, &pe) || len(pe.Failed) != 2 {
		t.Fatalf("got %v, want an *Error naming b and c", err)
	}
	if got, want := err.Error(), "b failed\nthe cause\nc failed"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if !errors.Is(err, errCause) {
		t.Errorf("errors.Is(%v, errCause) = false, want true", err)
	}
	if _, err := Run(context.Background(), Input{}, pass); err != nil {
		t.Errorf("all passed: got %v, want nil", err)
	}
	if _, err := Run(context.Background(), Input{}, broken, pass); err == nil || err.Error() != "cannot run d" {
		t.Errorf("got %v, want the evaluation error", err)
	}
}
