package gate

import (
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"

	"hallmark.dev/internal/jsonstrict"
	"hallmark.dev/internal/jsonstrict/yamlstrict"
)

// parseYAML reads at most one YAML document into a node tree (nil for
// none), under the rules of yamlstrict and r: no anchors, aliases, merge
// keys, custom tags or repeated keys, and only the fields r allows, so
// that no file can mean two things.
func parseYAML(data []byte, r jsonstrict.Rules) (*yaml.Node, error) {
	return yamlstrict.Parse(data, r)
}

// named returns a Rules.Name that calls the top level what.
func named(what string) func(jsonstrict.Path) string {
	return func(p jsonstrict.Path) string {
		if len(p) == 0 {
			return what
		}
		return p.String()
	}
}

// yamlField is one key of a mapping, with its value node.
type yamlField struct {
	key   string
	line  int
	value *yaml.Node
}

// yamlMapping returns the fields of a mapping node (whose keys parseYAML
// checked).
func yamlMapping(n *yaml.Node, what string) ([]yamlField, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: %s must be a mapping", n.Line, what)
	}
	var fields []yamlField
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
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
