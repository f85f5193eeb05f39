package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"hallmark.dev/internal/jsonstrict"
)

// Policy says which findings block an image. Its YAML form (a gate policy
// file) is the documentation of each field below; every field is
// optional, an absent one takes the default, and an unknown or repeated
// field is an error:
//
//	# Severities that block. Default: [HIGH, CRITICAL].
//	severities: [HIGH, CRITICAL]
//	# Package classes in scope: os (the OS package manager's packages),
//	# lang (language and application packages). Default: [os].
//	packageClasses: [os]
//	# Only findings with a fix (status fixed) block. Default: true.
//	fixableOnly: true
//	# Warn about exceptions that expire within this many days. Default: 14.
//	expiryWarningDays: 14
//
// The defaults are the published CVE policy hallmark implements: a
// fixable HIGH or CRITICAL vulnerability in an OS package blocks.
type Policy struct {
	Severities        []Severity `json:"severities"`
	PackageClasses    []Class    `json:"packageClasses"`
	FixableOnly       bool       `json:"fixableOnly"`
	ExpiryWarningDays int        `json:"expiryWarningDays"`
}

// DefaultPolicy returns the policy used without a policy file.
func DefaultPolicy() Policy {
	return Policy{
		Severities:        []Severity{SeverityHigh, SeverityCritical},
		PackageClasses:    []Class{ClassOS},
		FixableOnly:       true,
		ExpiryWarningDays: 14,
	}
}

// maxWarningDays bounds expiryWarningDays to something a person means.
const maxWarningDays = 3660

// policyRules are the fields of a gate policy file.
var policyRules = jsonstrict.Rules{
	Fields: jsonstrict.Fields{"": {"severities", "packageClasses", "fixableOnly", "expiryWarningDays"}},
	Name:   named("gate policy"),
}

// ParsePolicy reads a gate policy file (see [Policy]).
func ParsePolicy(data []byte) (Policy, error) {
	p := DefaultPolicy()
	root, err := parseYAML(data, policyRules)
	if err != nil {
		return Policy{}, fmt.Errorf("gate policy: %w", err)
	}
	if root == nil {
		return Policy{}, errors.New("gate policy: the file is empty")
	}
	fields, err := yamlMapping(root, "gate policy")
	if err != nil {
		return Policy{}, fmt.Errorf("gate policy: %w", err)
	}
	for _, f := range fields {
		if err := p.set(f); err != nil {
			return Policy{}, fmt.Errorf("gate policy: %w", err)
		}
	}
	return p, nil
}

func (p *Policy) set(f yamlField) error {
	switch f.key {
	case "severities":
		ss, err := yamlStrings(f)
		if err != nil {
			return err
		}
		sev, err := parseSeverities(ss)
		if err != nil {
			return fmt.Errorf("line %d: severities: %w", f.line, err)
		}
		if len(sev) == 0 {
			return fmt.Errorf("line %d: severities is empty: a gate that blocks no severity blocks nothing", f.line)
		}
		p.Severities = sev
	case "packageClasses":
		ss, err := yamlStrings(f)
		if err != nil {
			return err
		}
		cs, err := parseClasses(ss)
		if err != nil {
			return fmt.Errorf("line %d: packageClasses: %w", f.line, err)
		}
		if len(cs) == 0 {
			return fmt.Errorf("line %d: packageClasses is empty: a gate with no package class in scope blocks nothing", f.line)
		}
		p.PackageClasses = cs
	case "fixableOnly":
		b, err := yamlBool(f)
		if err != nil {
			return err
		}
		p.FixableOnly = b
	case "expiryWarningDays":
		n, err := yamlInt(f)
		if err != nil {
			return err
		}
		if n < 0 || n > maxWarningDays {
			return fmt.Errorf("line %d: expiryWarningDays %d is not between 0 and %d", f.line, n, maxWarningDays)
		}
		p.ExpiryWarningDays = n
	}
	return nil
}

// parseSeverities reads severity names into a sorted set.
func parseSeverities(names []string) ([]Severity, error) {
	var out []Severity
	for _, n := range names {
		s, err := ParseSeverity(n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Severity) int { return severityRank[a] - severityRank[b] })
	return out, nil
}

// parseClasses reads package class names into a sorted set.
func parseClasses(names []string) ([]Class, error) {
	var out []Class
	for _, n := range names {
		c, err := ParseClass(n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Blocks reports whether a finding, unexcepted, blocks under p.
func (p Policy) Blocks(f Finding) bool {
	return slices.Contains(p.Severities, f.Severity) &&
		slices.Contains(p.PackageClasses, f.Class) &&
		(f.Fixable || !p.FixableOnly)
}

// Canonical returns the policy's canonical JSON: severities from least to
// most severe, classes sorted, keys sorted, no spaces, e.g.
//
//	{"expiryWarningDays":14,"fixableOnly":true,"packageClasses":["os"],"severities":["HIGH","CRITICAL"]}
func (p Policy) Canonical() []byte {
	sev := slices.Clone(p.Severities)
	slices.SortFunc(sev, func(a, b Severity) int { return severityRank[a] - severityRank[b] })
	cls := slices.Clone(p.PackageClasses)
	slices.Sort(cls)
	b, err := json.Marshal(struct {
		ExpiryWarningDays int        `json:"expiryWarningDays"`
		FixableOnly       bool       `json:"fixableOnly"`
		PackageClasses    []Class    `json:"packageClasses"`
		Severities        []Severity `json:"severities"`
	}{p.ExpiryWarningDays, p.FixableOnly, cls, sev})
	if err != nil {
		panic(err) // strings, bools and ints always marshal
	}
	return b
}

// Digest is "sha256:" and the hex SHA-256 of [Policy.Canonical].
func (p Policy) Digest() string {
	sum := sha256.Sum256(p.Canonical())
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Flags are command-line settings that may tighten a policy. A nil field
// leaves the policy's setting as it is; an empty, non-nil list drops
// everything and so is refused as a weakening.
type Flags struct {
	// Severities that block. It must include every severity the policy
	// blocks.
	Severities []string
	// PackageClasses in scope. It must include every class the policy
	// has in scope.
	PackageClasses []string
	// FixableOnly, when set, must not be true where the policy is false.
	FixableOnly *bool
}

// WeakeningError is returned by [Policy.Tighten] for a flag that would
// make the gate block less than its policy does.
type WeakeningError struct {
	// Setting is the policy field: severities, packageClasses or
	// fixableOnly.
	Setting string
	// Dropped are the values the flag leaves out (or, for fixableOnly,
	// "false").
	Dropped []string
}

func (e *WeakeningError) Error() string {
	if e.Setting == "fixableOnly" {
		return "gate policy: fixableOnly=true would stop unfixed findings from blocking, which the policy blocks; a flag may make the gate stricter, never weaker"
	}
	return fmt.Sprintf("gate policy: %s without %s would stop blocking what the policy blocks; a flag may make the gate stricter, never weaker", e.Setting, strings.Join(e.Dropped, ", "))
}

// Tighten returns p with the flags applied, or a *WeakeningError if a
// flag leaves out a severity or package class the policy blocks, or asks
// for fixable-only where the policy blocks unfixed findings too.
func (p Policy) Tighten(f Flags) (Policy, error) {
	out := p
	out.Severities = slices.Clone(p.Severities)
	out.PackageClasses = slices.Clone(p.PackageClasses)
	if f.Severities != nil {
		sev, err := parseSeverities(f.Severities)
		if err != nil {
			return Policy{}, err
		}
		var dropped []string
		for _, s := range p.Severities {
			if !slices.Contains(sev, s) {
				dropped = append(dropped, string(s))
			}
		}
		if len(dropped) > 0 {
			return Policy{}, &WeakeningError{Setting: "severities", Dropped: dropped}
		}
		out.Severities = sev
	}
	if f.PackageClasses != nil {
		cs, err := parseClasses(f.PackageClasses)
		if err != nil {
			return Policy{}, err
		}
		var dropped []string
		for _, c := range p.PackageClasses {
			if !slices.Contains(cs, c) {
				dropped = append(dropped, string(c))
			}
		}
		if len(dropped) > 0 {
			return Policy{}, &WeakeningError{Setting: "packageClasses", Dropped: dropped}
		}
		out.PackageClasses = cs
	}
	if f.FixableOnly != nil {
		if *f.FixableOnly && !p.FixableOnly {
			return Policy{}, &WeakeningError{Setting: "fixableOnly", Dropped: []string{"false"}}
		}
		out.FixableOnly = *f.FixableOnly
	}
	return out, nil
}
