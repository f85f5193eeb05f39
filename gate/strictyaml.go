package gate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// parseYAML reads at most one YAML document into a node tree (nil for
// none) and refuses
// what a small configuration file has no use for and an attacker could use
// to make one file mean two things: anchors, aliases, merge keys, custom
// tags and repeated keys (checked by the walkers below).
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // no document: the caller decides
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("not a YAML document")
	}
	if err := checkPlainYAML(doc.Content[0]); err != nil {
		return nil, err
	}
	return doc.Content[0], nil
}

func checkPlainYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return fmt.Errorf("line %d: anchors and aliases are not allowed", n.Line)
	}
	switch n.Tag {
	case "", "!!str", "!!int", "!!bool", "!!seq", "!!map", "!!null", "!!timestamp", "!!float":
	case "!!merge":
		return fmt.Errorf("line %d: merge keys are not allowed", n.Line)
	default:
		return fmt.Errorf("line %d: tag %s is not allowed", n.Line, n.Tag)
	}
	for _, c := range n.Content {
		if err := checkPlainYAML(c); err != nil {
			return err
		}
	}
	return nil
}

// yamlField is one key of a mapping, with its value node.
type yamlField struct {
	key   string
	line  int
	value *yaml.Node
}

// yamlMapping returns the fields of a mapping node, refusing repeated keys
// and keys not in allowed.
func yamlMapping(n *yaml.Node, what string, allowed ...string) ([]yamlField, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: %s must be a mapping", n.Line, what)
	}
	seen := map[string]int{}
	var fields []yamlField
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "") {
			return nil, fmt.Errorf("line %d: %s: keys must be strings", k.Line, what)
		}
		if prev, ok := seen[k.Value]; ok {
			return nil, fmt.Errorf("line %d: %s: key %q repeats the one on line %d", k.Line, what, k.Value, prev)
		}
		seen[k.Value] = k.Line
		known := false
		for _, a := range allowed {
			known = known || a == k.Value
		}
		if !known {
			return nil, fmt.Errorf("line %d: %s: unknown field %q (known: %v)", k.Line, what, k.Value, allowed)
		}
		fields = append(fields, yamlField{key: k.Value, line: k.Line, value: n.Content[i+1]})
	}
	return fields, nil
}

func yamlString(f yamlField) (string, error) {
	if f.value.Kind != yaml.ScalarNode || f.value.Tag == "!!null" {
		return "", fmt.Errorf("line %d: %s must be a string", f.line, f.key)
	}
	return f.value.Value, nil
}

// yamlList returns the items of a sequence; null is an empty list.
func yamlList(f yamlField) ([]*yaml.Node, error) {
	if f.value.Kind == yaml.ScalarNode && f.value.Tag == "!!null" {
		return nil, nil
	}
	if f.value.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: %s must be a list", f.line, f.key)
	}
	return f.value.Content, nil
}

func yamlStrings(f yamlField) ([]string, error) {
	if f.value.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: %s must be a list", f.line, f.key)
	}
	out := []string{}
	for _, c := range f.value.Content {
		if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
			return nil, fmt.Errorf("line %d: %s: each item must be a string", c.Line, f.key)
		}
		out = append(out, c.Value)
	}
	return out, nil
}

func yamlBool(f yamlField) (bool, error) {
	if f.value.Kind != yaml.ScalarNode || f.value.Tag != "!!bool" {
		return false, fmt.Errorf("line %d: %s must be true or false", f.line, f.key)
	}
	return strconv.ParseBool(f.value.Value)
}

func yamlInt(f yamlField) (int, error) {
	if f.value.Kind != yaml.ScalarNode || f.value.Tag != "!!int" {
		return 0, fmt.Errorf("line %d: %s must be a whole number", f.line, f.key)
	}
	n, err := strconv.Atoi(f.value.Value)
	if err != nil {
		return 0, fmt.Errorf("line %d: %s: %v", f.line, f.key, err)
	}
	return n, nil
}
