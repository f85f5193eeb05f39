package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// unsafeBuiltins reach outside the evaluation: the network, DNS, or the
// process's environment and configuration.
var unsafeBuiltins = map[string]bool{
	"http.send":          true,
	"net.lookup_ip_addr": true,
	"opa.runtime":        true,
}

// capabilities are OPA's own, less unsafeBuiltins and with no network host
// allowed.
var capabilities = sync.OnceValue(func() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	var safe []*ast.Builtin
	for _, b := range caps.Builtins {
		if !unsafeBuiltins[b.Name] {
			safe = append(safe, b)
		}
	}
	caps.Builtins = safe
	caps.AllowNet = []string{}
	return caps
})

type regoPolicy struct {
	name  string
	rule  string // "deny" or "allow"
	query string // data.<package>.<rule>
	eval  rego.PreparedEvalQuery
}

var _ Policy = (*regoPolicy)(nil)

func parseRego(name string, src []byte) (*regoPolicy, error) {
	mod, err := ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, RegoError(name, err)
	}
	rule := ""
	for _, r := range mod.Rules {
		switch RegoRuleName(r) {
		case "deny":
			rule = "deny"
		case "allow":
			if rule == "" {
				rule = "allow"
			}
		}
	}
	if rule == "" {
		return nil, fmt.Errorf("%s: policy has neither a deny nor an allow rule", name)
	}
	query := mod.Package.Path.Append(ast.StringTerm(rule)).String()
	pq, err := rego.New(
		rego.SetRegoVersion(ast.RegoV1),
		rego.ParsedModule(mod),
		rego.Query(query),
		rego.Capabilities(capabilities()),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(context.Background())
	if err != nil {
		return nil, RegoError(name, err)
	}
	return &regoPolicy{name: name, rule: rule, query: query, eval: pq}, nil
}

// RegoRuleName is the name a Rego rule's head gives it ("allow" for allow
// if { … }), or "" for a head that does not start with a name. Other Rego
// evaluators in hallmark (the signing policy) read rule names with it.
func RegoRuleName(r *ast.Rule) string {
	ref := r.Head.Ref()
	if len(ref) == 0 {
		return ""
	}
	if v, ok := ref[0].Value.(ast.Var); ok {
		return string(v)
	}
	return ""
}

// Name is "policy " and the file name.
func (p *regoPolicy) Name() string { return "policy " + p.name }

// Evaluate requires every verified statement to pass the policy.
func (p *regoPolicy) Evaluate(ctx context.Context, in Input) (Result, error) {
	return everyStatement(ctx, p, in)
}

// Evaluate runs data.<package>.deny (or .allow) with the statement as input.
// An undefined deny passes (no deny rule fired); an undefined allow fails.
func (p *regoPolicy) evaluate(ctx context.Context, input any) (Finding, error) {
	if raw, ok := input.(json.RawMessage); ok {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return Finding{}, fmt.Errorf("policy %s: decoding input: %w", p.name, err)
		}
		input = v
	}
	rs, err := p.eval.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return Finding{}, ctxErr(ctx, p.name, fmt.Errorf("policy %s: evaluating %s: %v", p.name, p.query, err))
	}
	var value any
	defined := len(rs) > 0 && len(rs[0].Expressions) > 0
	if defined {
		value = rs[0].Expressions[0].Value
	}
	if p.rule == "allow" {
		switch {
		case !defined:
			return passedOrNot([]string{"allow is undefined"}), nil
		case value == true:
			return passedOrNot(nil), nil
		case value == false:
			return passedOrNot([]string{"allow is false"}), nil
		}
		return Finding{}, fmt.Errorf("policy %s: %s is %T, want a boolean", p.name, p.query, value)
	}
	if !defined {
		return passedOrNot(nil), nil
	}
	switch v := value.(type) {
	case bool:
		if v {
			return passedOrNot([]string{"deny is true"}), nil
		}
		return passedOrNot(nil), nil
	case []any:
		msgs := make([]string, 0, len(v))
		for _, d := range v {
			msgs = append(msgs, RegoDenyMessage(d))
		}
		return passedOrNot(msgs), nil
	}
	return Finding{}, fmt.Errorf("policy %s: %s is %T, want a set of messages", p.name, p.query, value)
}

// RegoDenyMessage renders one deny entry: a string, an object's msg
// field, or else the entry as JSON. The signing policy renders its deny
// entries with it too.
func RegoDenyMessage(d any) string {
	switch d := d.(type) {
	case string:
		return d
	case map[string]any:
		if m, ok := d["msg"].(string); ok {
			return m
		}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Sprint(d)
	}
	return string(b)
}

// RegoError formats the OPA errors of the module named name as
// "file:line: message", one per line (the file is name unless OPA says
// otherwise). The signing policy reports its Rego errors with it too.
func RegoError(name string, err error) error {
	var errs ast.Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		return fmt.Errorf("%s: %v", name, err)
	}
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		loc := name
		if e.Location != nil {
			file := e.Location.File
			if file == "" {
				file = name
			}
			loc = fmt.Sprintf("%s:%d", file, e.Location.Row)
		}
		lines = append(lines, fmt.Sprintf("%s: %s", loc, e.Message))
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}
