// Package policy evaluates user policies over verified in-toto attestation
// statements (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md).
//
// Two policy languages are supported, chosen by the file's extension:
//
//   - .cue: a CUE (https://cuelang.org/docs/reference/spec/) document, with
//     cosign's `verify-attestation --policy` semantics: the statement passes
//     when it unifies with the policy and the result is concrete
//     (cue.Concrete(true)), so every field the policy names must be present.
//   - .rego: an OPA Rego v1 module (https://www.openpolicyagent.org/docs/policy-language),
//     as Conforma and OPA users write them: the statement is `input`, and
//     `data.<package>.deny` (a set of strings or of objects with a `msg`
//     field) lists why it fails. A module without `deny` may instead define a
//     boolean `allow`. Builtins that reach outside the evaluation (http.send,
//     net.lookup_ip_addr, opa.runtime) are not available, and builtin errors
//     fail the evaluation instead of being silently undefined.
//
// A parsed policy is a [Check] every verified statement must pass; the
// package also defines that interface, the one [Result] and [Error] of
// every verification policy, and [Run], which evaluates checks in order.
//
// A policy is parsed once and may be evaluated concurrently. Evaluation is
// pure: no network, no files, no environment.
package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Policy is a parsed policy file. As a [Check] it requires every verified
// statement to pass; its Name is "policy " and the file name.
type Policy interface {
	Check
	// evaluate checks one in-toto statement, given as decoded JSON
	// (map[string]any, predicate included; json.RawMessage works too). A
	// statement the policy rejects is a Finding with Passed false, not an
	// error; an error means the policy could not be evaluated, including
	// when ctx ends first (the error then wraps ctx.Err()).
	evaluate(ctx context.Context, input any) (Finding, error)
}

// Parse parses a policy; name's extension, .cue or .rego, picks the
// language, and name appears in every error (as file:line for syntax and
// compile errors).
func Parse(name string, src []byte) (Policy, error) {
	k, err := kindOf(name)
	if err != nil {
		return nil, err
	}
	switch k {
	case kindCUE:
		return parseCUE(name, src)
	default:
		return parseRego(name, src)
	}
}

type kind int

const (
	kindCUE kind = iota
	kindRego
)

func kindOf(name string) (kind, error) {
	switch filepath.Ext(name) {
	case ".cue":
		return kindCUE, nil
	case ".rego":
		return kindRego, nil
	}
	return 0, fmt.Errorf("policy %s: unknown policy language (want a .cue or .rego file)", name)
}

// passedOrNot builds a Finding from failure messages.
func passedOrNot(msgs []string) Finding {
	return Finding{Passed: len(msgs) == 0, Messages: msgs}
}

// everyStatement evaluates a policy over each verified statement: the
// check passes when every statement does.
func everyStatement(ctx context.Context, p Policy, in Input) (Result, error) {
	res := Result{Check: p.Name(), Findings: []Finding{}}
	var failed []Finding
	for _, a := range in.Attestations {
		f, err := p.evaluate(ctx, json.RawMessage(a.Payload))
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", a.Source, err)
		}
		f.Attestation = a.Source
		res.Findings = append(res.Findings, f)
		if !f.Passed {
			failed = append(failed, f)
		}
	}
	res.Passed = len(failed) == 0
	if !res.Passed {
		var b strings.Builder
		fmt.Fprintf(&b, "%d policy check(s) failed", len(failed))
		for _, f := range failed {
			for _, m := range f.Messages {
				fmt.Fprintf(&b, "\n  %s: %s: %s", f.Attestation, p.Name(), m)
			}
		}
		res.Err = errors.New(b.String())
	}
	return res, nil
}

// ctxErr wraps the context's error if ctx has ended, or returns err.
func ctxErr(ctx context.Context, name string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("policy %s: evaluation stopped: %w", name, cerr)
	}
	return err
}
