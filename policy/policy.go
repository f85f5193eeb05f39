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
// A policy is parsed once and may be evaluated concurrently. Evaluation is
// pure: no network, no files, no environment.
package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Policy is a parsed policy file.
type Policy interface {
	// Name is the file name the policy was parsed from, for reports.
	Name() string
	// Evaluate checks an in-toto statement, given as decoded JSON
	// (map[string]any, predicate included; json.RawMessage works too).
	// A statement the policy rejects is a Result with Passed false, not
	// an error; an error means the policy could not be evaluated, including
	// when ctx ends first (the error then wraps ctx.Err()).
	Evaluate(ctx context.Context, input any) (Result, error)
}

// Result is the outcome of evaluating one policy over one statement.
type Result struct {
	Passed bool
	// Messages say why the statement failed: CUE errors (path and message)
	// or Rego deny messages. Empty if and only if Passed.
	Messages []string
}

// Load reads and parses the policy file at path; see [Parse].
func Load(path string) (Policy, error) {
	if _, err := kindOf(path); err != nil {
		return nil, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	return Parse(path, src)
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

// passedOrNot builds a Result from failure messages.
func passedOrNot(msgs []string) Result {
	return Result{Passed: len(msgs) == 0, Messages: msgs}
}

// ctxErr wraps the context's error if ctx has ended, or returns err.
func ctxErr(ctx context.Context, name string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("policy %s: evaluation stopped: %w", name, cerr)
	}
	return err
}
