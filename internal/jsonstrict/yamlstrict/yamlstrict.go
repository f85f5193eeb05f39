// Package yamlstrict reads the small YAML files hallmark takes (gate
// policies, exceptions files) under the rules of package jsonstrict:
// repeated keys, misspelled known keys, fields not allowed at their path
// and nesting are refused alike in JSON and YAML, with errors that name
// the line.
//
// A file holds at most one document, in YAML 1.2's core schema, with none
// of what a small configuration file has no use for and an attacker could
// use to make one file mean two things or cost much to read: anchors,
// aliases, merge keys, custom tags, keys that are not strings.
package yamlstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"

	"hallmark.dev/internal/jsonstrict"
)

// Parse reads at most one YAML document from data and checks it under r.
// It returns the document's root node, or nil when data holds none.
// Breaches of r are [*jsonstrict.Error]s with Line set.
func Parse(data []byte, r jsonstrict.Rules) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
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
	root := doc.Content[0]
	// The JSON form is built to one level below the bound, where the
	// rules refuse it.
	w := walker{rules: &r, maxDepth: r.MaxDepth}
	if w.maxDepth == 0 {
		w.maxDepth = jsonstrict.DefaultMaxDepth
	}
	if err := w.node(root, 0); err != nil {
		return nil, err
	}
	if err := jsonstrict.Check(w.json, r); err != nil {
		e, ok := errors.AsType[*jsonstrict.Error](err)
		if !ok {
			return nil, err
		}
		locate(root, e)
		return nil, e
	}
	return root, nil
}

// walker checks what is YAML's own and writes the document's JSON form,
// in which the rules of jsonstrict are checked: the same objects, arrays
// and keys, every scalar a 0.
type walker struct {
	rules    *jsonstrict.Rules
	maxDepth int
	path     jsonstrict.Path
	json     []byte
}

func (w *walker) node(n *yaml.Node, depth int) error {
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
	if depth > w.maxDepth {
		w.json = append(w.json, '0')
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		w.json = append(w.json, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if err := w.key(k); err != nil {
				return err
			}
			if i > 0 {
				w.json = append(w.json, ',')
			}
			key, err := json.Marshal(k.Value)
			if err != nil {
				return fmt.Errorf("line %d: key: %v", k.Line, err)
			}
			w.json = append(append(w.json, key...), ':')
			w.path = append(w.path, jsonstrict.Step{Key: k.Value})
			err = w.node(n.Content[i+1], depth+1)
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
		w.json = append(w.json, '}')
	case yaml.SequenceNode:
		w.json = append(w.json, '[')
		for i, c := range n.Content {
			if i > 0 {
				w.json = append(w.json, ',')
			}
			w.path = append(w.path, jsonstrict.Step{Index: i, IsIndex: true})
			err := w.node(c, depth+1)
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
		w.json = append(w.json, ']')
	default:
		w.json = append(w.json, '0')
	}
	return nil
}

// key checks a mapping key: a plain string scalar.
func (w *walker) key(k *yaml.Node) error {
	if k.Kind == yaml.AliasNode || k.Anchor != "" {
		return fmt.Errorf("line %d: anchors and aliases are not allowed", k.Line)
	}
	if k.Tag == "!!merge" {
		return fmt.Errorf("line %d: merge keys are not allowed", k.Line)
	}
	if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "") {
		return fmt.Errorf("line %d: %s: keys must be strings", k.Line, w.rules.Where(w.path))
	}
	return nil
}

// locate sets the lines of e from the document: of its key, or of the
// value at its path.
func locate(root *yaml.Node, e *jsonstrict.Error) {
	n := root
	for _, s := range e.Path {
		var next *yaml.Node
		switch {
		case s.IsIndex && n.Kind == yaml.SequenceNode && s.Index < len(n.Content):
			next = n.Content[s.Index]
		case !s.IsIndex && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s.Key {
					next = n.Content[i+1]
					break
				}
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	e.Line = n.Line
	switch e.Err {
	case jsonstrict.ErrDuplicateKey, jsonstrict.ErrKeySpelling, jsonstrict.ErrUnknownField:
	default:
		return
	}
	first := e.Key
	if e.Err == jsonstrict.ErrDuplicateKey {
		first = e.Prev
	}
	seen := false
	for i := 0; i+1 < len(n.Content) && n.Kind == yaml.MappingNode; i += 2 {
		k := n.Content[i]
		switch {
		case !seen && k.Value == first:
			seen = true
			e.Line = k.Line
			if e.Err != jsonstrict.ErrDuplicateKey {
				return
			}
			e.PrevLine = k.Line
		case seen && k.Value == e.Key:
			e.Line = k.Line
			return
		}
	}
}
