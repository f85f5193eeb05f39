package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	cuejson "cuelang.org/go/encoding/json"
)

// cuePolicy keeps the source and builds it afresh in a new cue.Context for
// every evaluation, so evaluations share no mutable state and no context
// grows without bound.
type cuePolicy struct {
	name string
	src  []byte
}

var _ Policy = (*cuePolicy)(nil)

func parseCUE(name string, src []byte) (*cuePolicy, error) {
	p := &cuePolicy{name: name, src: src}
	if _, err := p.build(cuecontext.New()); err != nil {
		return nil, err
	}
	return p, nil
}

// Name is "policy " and the file name.
func (p *cuePolicy) Name() string { return "policy " + p.name }

// Evaluate requires every verified statement to pass the policy.
func (p *cuePolicy) Evaluate(ctx context.Context, in Input) (Result, error) {
	return everyStatement(ctx, p, in)
}

// build parses and compiles the policy, refusing tool/ imports (they only
// mean something to `cue cmd`, where they run commands and reach the
// network) and a policy that contradicts itself.
func (p *cuePolicy) build(ctx *cue.Context) (cue.Value, error) {
	f, err := parser.ParseFile(p.name, p.src)
	if err != nil {
		return cue.Value{}, cueError(p.name, "parsing", err)
	}
	for spec := range f.ImportSpecs() {
		path := importPath(spec)
		if path == "tool" || strings.HasPrefix(path, "tool/") {
			return cue.Value{}, fmt.Errorf("%s: import %q not allowed in a policy", spec.Pos(), path)
		}
	}
	v := ctx.BuildFile(f)
	if err := v.Err(); err != nil {
		return cue.Value{}, cueError(p.name, "compiling", err)
	}
	if err := v.Validate(); err != nil {
		return cue.Value{}, cueError(p.name, "compiling", err)
	}
	return v, nil
}

func importPath(spec *ast.ImportSpec) string {
	if spec.Path == nil {
		return ""
	}
	return strings.Trim(spec.Path.Value, "\"")
}

// Evaluate unifies the statement with the policy and requires the result
// to be concrete. CUE evaluation cannot be interrupted: when ctx ends first
// Evaluate returns at once, and the abandoned evaluation finishes in the
// background.
func (p *cuePolicy) evaluate(ctx context.Context, input any) (Finding, error) {
	if err := ctx.Err(); err != nil {
		return Finding{}, ctxErr(ctx, p.name, err)
	}
	data, err := json.Marshal(input)
	if err != nil {
		return Finding{}, fmt.Errorf("policy %s: encoding input: %w", p.name, err)
	}
	type outcome struct {
		res Finding
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := p.evaluateJSON(data)
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-ctx.Done():
		return Finding{}, ctxErr(ctx, p.name, ctx.Err())
	}
}

func (p *cuePolicy) evaluateJSON(data []byte) (Finding, error) {
	cctx := cuecontext.New()
	pv, err := p.build(cctx)
	if err != nil {
		return Finding{}, err
	}
	// Decode numbers the way cosign does (from JSON text), so that 1 is an
	// int and 1.5 a float.
	expr, err := cuejson.Extract("input", data)
	if err != nil {
		return Finding{}, fmt.Errorf("policy %s: decoding input: %v", p.name, err)
	}
	in := cctx.BuildExpr(expr)
	if err := in.Err(); err != nil {
		return Finding{}, fmt.Errorf("policy %s: decoding input: %v", p.name, err)
	}
	err = pv.Unify(in).Validate(cue.Concrete(true))
	if err == nil {
		return passedOrNot(nil), nil
	}
	var msgs []string
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if path := strings.Join(e.Path(), "."); path != "" {
			msg = path + ": " + msg
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) == 0 {
		msgs = []string{err.Error()}
	}
	return passedOrNot(msgs), nil
}

// cueError formats CUE errors as "file:line:col: message", one per line.
func cueError(name, what string, err error) error {
	var lines []string
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if path := strings.Join(e.Path(), "."); path != "" {
			msg = path + ": " + msg
		}
		loc := name
		for _, pos := range append([]token.Pos{e.Position()}, cueerrors.Positions(e)...) {
			if pos.IsValid() {
				loc = pos.String()
				break
			}
		}
		lines = append(lines, loc+": "+msg)
	}
	if len(lines) == 0 {
		return fmt.Errorf("%s: %s policy: %v", name, what, err)
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}
