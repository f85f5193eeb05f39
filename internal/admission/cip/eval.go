package cip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"hallmark.dev/policy"
)

// A ClusterImagePolicy's cue and rego policies are evaluated as cosign
// evaluates them for policy-controller (cosign pkg/policy
// EvaluatePolicyAgainstJSON), so that published policies keep their
// meaning:
//
//   - cue: the policy is unified with the input and the result must be
//     valid; unlike hallmark's own CUE policies (policy package), fields
//     the input lacks are not required to be concrete.
//   - rego: the module is Rego v0, in package sigstore, and its rule
//     isCompliant decides: true passes; a set of objects
//     {result, warning, error} passes when one has result true (its
//     warning is reported), else fails with the last error.
//
// The input is the in-toto statement of an attestation, or the policy
// result of the authorities that matched (for the ClusterImagePolicy-level
// policy). Builtins that reach outside the evaluation (http.send,
// net.lookup_ip_addr, opa.runtime) are not available.

// Outcome is the result of evaluating a policy.
type Outcome struct {
	Passed bool
	// Warning is the rego policy's warning, passed or not.
	Warning string
	// Reason says why the input failed.
	Reason string
}

// CompiledPolicy is a parsed cue or rego policy, safe for concurrent use.
type CompiledPolicy struct {
	name string
	typ  string
	// cue: a CUE context is not safe for concurrent use, so evaluations
	// of one policy take turns.
	mu     sync.Mutex
	cueCtx *cue.Context
	cueVal cue.Value
	// rego:
	rego rego.PreparedEvalQuery
}

const (
	regoPackage = "sigstore"
	regoRule    = "isCompliant"
)

var regoQuery = fmt.Sprintf("%s = data.%s.%s", regoRule, regoPackage, regoRule)

// CompilePolicy parses a policy of type "cue" or "rego"; name names it in
// messages.
func CompilePolicy(name, typ, src string) (*CompiledPolicy, error) {
	p := &CompiledPolicy{name: name, typ: typ}
	switch typ {
	case "cue":
		p.cueCtx = cuecontext.New()
		p.cueVal = p.cueCtx.CompileString(src, cue.Filename(name+".cue"))
		if err := p.cueVal.Err(); err != nil {
			return nil, fmt.Errorf("policy %s: cue does not compile: %s", name, cueMessage(err))
		}
	case "rego":
		q, err := rego.New(
			rego.Query(regoQuery),
			rego.Module(regoPackage+".rego", src),
			rego.SetRegoVersion(ast.RegoV0),
			rego.Capabilities(policy.SafeRegoCapabilities()),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(context.Background())
		if err != nil {
			return nil, fmt.Errorf("policy %s: rego does not compile: %v", name, err)
		}
		p.rego = q
	default:
		return nil, fmt.Errorf("policy %s: type %q, want cue or rego", name, typ)
	}
	return p, nil
}

// Name names the policy.
func (p *CompiledPolicy) Name() string { return p.name }

// Evaluate evaluates the policy over input (JSON). An input the policy
// refuses is an Outcome with Passed false; an error means the policy could
// not be evaluated.
func (p *CompiledPolicy) Evaluate(ctx context.Context, input []byte) (Outcome, error) {
	if p.typ == "cue" {
		return p.evaluateCUE(input)
	}
	return p.evaluateRego(ctx, input)
}

func (p *CompiledPolicy) evaluateCUE(input []byte) (Outcome, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.cueCtx.CompileBytes(input, cue.Filename("input.json"))
	if err := in.Err(); err != nil {
		return Outcome{}, fmt.Errorf("policy %s: input does not compile: %s", p.name, cueMessage(err))
	}
	if err := p.cueVal.Unify(in).Validate(); err != nil {
		return Outcome{Reason: fmt.Sprintf("policy %s: %s", p.name, cueMessage(err))}, nil
	}
	return Outcome{Passed: true}, nil
}

func cueMessage(err error) string {
	var msgs []string
	for _, e := range cueerrors.Errors(err) {
		msgs = append(msgs, cueerrors.Details(e, nil))
	}
	if len(msgs) == 0 {
		return err.Error()
	}
	return string(bytes.TrimSpace([]byte(joinLines(msgs))))
}

func joinLines(msgs []string) string {
	var b bytes.Buffer
	for i, m := range msgs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(string(bytes.TrimSpace(bytes.ReplaceAll([]byte(m), []byte("\n"), []byte(" ")))))
	}
	return b.String()
}

func (p *CompiledPolicy) evaluateRego(ctx context.Context, input []byte) (Outcome, error) {
	var in any
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return Outcome{}, fmt.Errorf("policy %s: input: %w", p.name, err)
	}
	rs, err := p.rego.Eval(ctx, rego.EvalInput(in))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return Outcome{}, fmt.Errorf("policy %s: evaluation stopped: %w", p.name, cerr)
		}
		return Outcome{}, fmt.Errorf("policy %s: %v", p.name, err)
	}
	notCompliant := fmt.Sprintf("policy %s is not compliant for query '%s'", p.name, regoQuery)
	for _, r := range rs {
		switch v := r.Bindings[regoRule].(type) {
		case bool:
			if v {
				return Outcome{Passed: true}, nil
			}
		case []any:
			return regoResults(notCompliant, v)
		}
	}
	return Outcome{Reason: notCompliant}, nil
}

// regoResults reads a set of {result, warning, error} objects.
func regoResults(notCompliant string, results []any) (Outcome, error) {
	out := Outcome{Reason: notCompliant}
	for _, r := range results {
		m, ok := r.(map[string]any)
		if !ok {
			return Outcome{}, errors.New(notCompliant + ": isCompliant holds a value that is not an object")
		}
		result, _ := m["result"].(bool)
		warning, _ := m["warning"].(string)
		msg, _ := m["error"].(string)
		if result {
			return Outcome{Passed: true, Warning: warning}, nil
		}
		out.Warning = warning
		out.Reason = fmt.Sprintf("%s with errors: %s", notCompliant, msg)
	}
	return out, nil
}
