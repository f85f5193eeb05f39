// Package yamlstrict reads small YAML configuration documents
// (https://yaml.org/spec/1.2.2/) strictly: one document, decoded into a Go
// value with exact, known keys only. It refuses what such a file has no
// use for and an attacker could use to make one file mean two things to
// two readers: anchors, aliases, merge keys, custom tags, repeated keys,
// unknown fields and more than one document.
package yamlstrict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrEmpty is returned for data that holds no YAML document.
var ErrEmpty = errors.New("no YAML document")

// Decode reads the one YAML document in data into v (a pointer to a struct
// whose fields carry yaml tags). Keys match field tags exactly; a key no
// field has, a repeated key, an anchor, an alias, a merge key, a tag other
// than YAML's core ones, or a second document is an error that names its
// line.
func Decode(data []byte, v any) error {
	if _, err := Parse(data); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return plainError(err)
	}
	return nil
}

// unknownField is yaml.v3's message for a key no field has.
var unknownField = regexp.MustCompile(`^line (\d+): field (.+) not found in type .+$`)

// plainError rewrites yaml.v3's decoding errors without Go type names:
// "line 3: unknown field "nmae"", one per line.
func plainError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	lines := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := unknownField.FindStringSubmatch(e); m != nil {
			e = fmt.Sprintf("line %s: unknown field %q", m[1], m[2])
		}
		lines = append(lines, e)
	}
	return errors.New(strings.Join(lines, "\n"))
}

// Parse reads the one YAML document in data into a node tree and checks
// it as [Decode] does, except for unknown fields, which only a target type
// defines.
func Parse(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrEmpty
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
	if err := checkPlain(doc.Content[0]); err != nil {
		return nil, err
	}
	return doc.Content[0], nil
}

func checkPlain(n *yaml.Node) error {
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
	if n.Kind == yaml.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: keys must be scalars", k.Line)
			}
			if prev, ok := seen[k.Value]; ok {
				return fmt.Errorf("line %d: key %q repeats the one on line %d", k.Line, k.Value, prev)
			}
			seen[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if err := checkPlain(c); err != nil {
			return err
		}
	}
	return nil
}
