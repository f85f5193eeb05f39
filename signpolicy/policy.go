package signpolicy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"hallmark.dev/internal/jsonstrict"
	"hallmark.dev/internal/jsonstrict/yamlstrict"
	"hallmark.dev/policy"
)

// MaxPolicySize bounds a policy file: its version statement is logged in a
// transparency log whose entries are small.
const MaxPolicySize = 64 << 10

// RegoPackage is the package the policy's Rego module must declare.
const RegoPackage = "hallmark.signing"

// Policy is a parsed signing policy. It is immutable and may be evaluated
// concurrently.
type Policy struct {
	raw        []byte
	digest     string
	principals []Principal
	module     string
	rules      []string // rule names, sorted, functions excluded
	query      rego.PreparedEvalQuery
}

// document is the policy file's schema.
type document struct {
	Principals map[string]struct {
		Keys       []string   `yaml:"keys"`
		Identities []Identity `yaml:"identities"`
	} `yaml:"principals"`
	Rego string `yaml:"rego"`
}

// documentRules are the document's fields: exact keys, nothing else.
var documentRules = jsonstrict.Rules{
	MaxDepth: 8,
	Fields: jsonstrict.Fields{
		"":                          {"principals", "rego"},
		"principals.*":              {"identities", "keys"},
		"principals.*.identities[]": {"issuer", "subject"},
	},
	Name: func(p jsonstrict.Path) string {
		if len(p) == 0 {
			return "the policy"
		}
		return p.String()
	},
}

// Digest returns "sha256:<hex>" of data: a policy's digest.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Parse parses a policy file. Every error names what is wrong: a YAML line,
// a principal and its key, or the Rego module's line.
func Parse(data []byte) (*Policy, error) {
	if len(data) > MaxPolicySize {
		return nil, fmt.Errorf("signing policy: %d bytes, over the %d byte limit", len(data), MaxPolicySize)
	}
	if !utf8.Valid(data) {
		return nil, errors.New("signing policy: not UTF-8 text")
	}
	root, err := yamlstrict.Parse(data, documentRules)
	if err != nil {
		return nil, fmt.Errorf("signing policy: %w", err)
	}
	if root == nil {
		return nil, errors.New("signing policy: no YAML document")
	}
	var doc document
	if err := root.Decode(&doc); err != nil {
		return nil, fmt.Errorf("signing policy: %w", err)
	}
	if len(doc.Principals) == 0 {
		return nil, errors.New("signing policy: no principals")
	}
	p := &Policy{raw: bytes.Clone(data), digest: Digest(data), module: doc.Rego}
	owner := map[string]string{} // key or identity to principal
	names := make([]string, 0, len(doc.Principals))
	for name := range doc.Principals {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !principalName.MatchString(name) {
			return nil, fmt.Errorf("signing policy: principal %q: a name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name)
		}
		if name == ReservedPrincipal {
			return nil, fmt.Errorf("signing policy: principal %q: the name is reserved for hallmark's own scan results", name)
		}
		def := doc.Principals[name]
		pr := Principal{Name: name}
		if len(def.Keys) == 0 && len(def.Identities) == 0 {
			return nil, fmt.Errorf("signing policy: principal %s has no keys and no identities", name)
		}
		for i, text := range def.Keys {
			k, err := parseKey(text)
			if err != nil {
				return nil, fmt.Errorf("signing policy: principal %s, key %d: %w", name, i+1, err)
			}
			for _, id := range k.ids() {
				if prev, ok := owner[id]; ok {
					return nil, fmt.Errorf("signing policy: principal %s, key %d (%s) is also a key of %s: a key belongs to one principal", name, i+1, k.Fingerprint, prev)
				}
				owner[id] = name
			}
			pr.Keys = append(pr.Keys, k)
		}
		for i, id := range def.Identities {
			if id.Issuer == "" || id.Subject == "" {
				return nil, fmt.Errorf("signing policy: principal %s, identity %d: both issuer and subject are required", name, i+1)
			}
			key := "identity:" + id.Issuer + "\x00" + id.Subject
			if prev, ok := owner[key]; ok {
				return nil, fmt.Errorf("signing policy: principal %s, identity %d (%s) is also an identity of %s: an identity belongs to one principal", name, i+1, id, prev)
			}
			owner[key] = name
			pr.Identities = append(pr.Identities, id)
		}
		p.principals = append(p.principals, pr)
	}
	if err := p.compile(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Policy) compile() error {
	if strings.TrimSpace(p.module) == "" {
		return errors.New("signing policy: no rego module")
	}
	const file = "rego"
	mod, err := ast.ParseModuleWithOpts(file, p.module, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return fmt.Errorf("signing policy: %w", policy.RegoError(file, err))
	}
	if got := strings.TrimPrefix(mod.Package.Path.String(), "data."); got != RegoPackage {
		return fmt.Errorf("signing policy: rego: package %s, want package %s", got, RegoPackage)
	}
	seen := map[string]bool{}
	for _, r := range mod.Rules {
		name := policy.RegoRuleName(r)
		if name == "" || seen[name] {
			continue
		}
		switch {
		case name == "allow" && (r.Head.RuleKind() != ast.SingleValue || len(r.Head.Args) > 0):
			return fmt.Errorf("signing policy: rego:%d: allow must be a boolean rule (allow if { … })", r.Location.Row)
		case name == "deny" && (r.Head.RuleKind() != ast.MultiValue || len(r.Head.Args) > 0):
			return fmt.Errorf("signing policy: rego:%d: deny must be a set of messages (deny contains msg if { … })", r.Location.Row)
		}
		if len(r.Head.Args) > 0 {
			continue // a function has no value to report
		}
		seen[name] = true
		p.rules = append(p.rules, name)
	}
	if !seen["allow"] {
		return errors.New("signing policy: rego: no allow rule")
	}
	sort.Strings(p.rules)
	pq, err := rego.New(
		rego.SetRegoVersion(ast.RegoV1),
		rego.ParsedModule(mod),
		rego.Query("data."+RegoPackage),
		rego.Capabilities(policy.SafeRegoCapabilities()),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(context.Background())
	if err != nil {
		return fmt.Errorf("signing policy: %w", policy.RegoError(file, err))
	}
	p.query = pq
	return nil
}

// Bytes returns the policy file as it was parsed.
func (p *Policy) Bytes() []byte { return bytes.Clone(p.raw) }

// Digest returns the policy's digest, "sha256:<hex>" of its bytes.
func (p *Policy) Digest() string { return p.digest }

// Principals returns the principals, sorted by name.
func (p *Policy) Principals() []Principal { return slices.Clone(p.principals) }

// Principal returns the principal of that name.
func (p *Policy) Principal(name string) (Principal, bool) {
	for _, pr := range p.principals {
		if pr.Name == name {
			return pr, true
		}
	}
	return Principal{}, false
}
