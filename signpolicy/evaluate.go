package signpolicy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"

	"hallmark.dev/policy"
)

// Decision is the verdict of a policy over an input.
type Decision struct {
	// Allowed is true only when allow is true, deny is empty and the
	// evaluation succeeded.
	Allowed bool `json:"allowed"`
	// Reason says why, in one line: "allowed", or what denied.
	Reason string `json:"reason"`
	// Deny are the deny rule's messages, sorted.
	Deny []string `json:"deny,omitempty"`
	// Error is set when the policy could not be evaluated (a Rego error,
	// an allow that is undefined or not a boolean): the decision is then a
	// denial (fail closed).
	Error string `json:"error,omitempty"`
	// Rules are the values of every rule of the module (functions
	// excluded), in name order; a rule without a value is Undefined.
	Rules []RuleValue `json:"rules"`
}

// RuleValue is one rule's value after evaluation.
type RuleValue struct {
	Name      string `json:"name"`
	Value     any    `json:"value,omitempty"`
	Undefined bool   `json:"undefined,omitempty"`
}

// Evaluate runs the policy over the input. It never returns an error: a
// policy that cannot be evaluated denies, and Decision.Error says why.
func (p *Policy) Evaluate(ctx context.Context, in Input) Decision {
	denied := func(format string, args ...any) Decision {
		msg := fmt.Sprintf(format, args...)
		return Decision{Reason: "denied (fail closed): " + msg, Error: msg}
	}
	if in.Kind == "" {
		return denied("%v", errNoKind)
	}
	v, err := in.value()
	if err != nil {
		return denied("encoding the input: %v", err)
	}
	rs, err := p.query.Eval(ctx, rego.EvalInput(v))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return denied("evaluation stopped: %v", cerr)
		}
		return denied("rego error: %v", err)
	}
	var values map[string]any
	if len(rs) > 0 && len(rs[0].Expressions) > 0 {
		values, _ = rs[0].Expressions[0].Value.(map[string]any)
	}
	d := Decision{}
	for _, name := range p.rules {
		val, ok := values[name]
		d.Rules = append(d.Rules, RuleValue{Name: name, Value: val, Undefined: !ok})
	}
	if raw, ok := values["deny"]; ok {
		set, ok := raw.([]any)
		if !ok {
			return withRules(denied("deny is %T, want a set of messages", raw), d.Rules)
		}
		for _, m := range set {
			d.Deny = append(d.Deny, policy.RegoDenyMessage(m))
		}
		sort.Strings(d.Deny)
	}
	allow, ok := values["allow"]
	switch {
	case !ok:
		return withRules(denied("allow is undefined (write default allow := false, and allow if { … })"), d.Rules)
	case allow != true && allow != false:
		return withRules(denied("allow is %T, want a boolean", allow), d.Rules)
	}
	switch {
	case len(d.Deny) > 0:
		d.Reason = "denied: " + strings.Join(d.Deny, "; ")
	case allow == false:
		d.Reason = "denied: allow is false"
	default:
		d.Allowed, d.Reason = true, "allowed"
	}
	return d
}

func withRules(d Decision, rules []RuleValue) Decision {
	d.Rules = rules
	return d
}
