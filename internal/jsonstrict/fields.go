package jsonstrict

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Fields maps a path pattern to the only keys the objects at matching
// paths may hold. A pattern is a sequence of steps: a key, "[]" for any
// element of an array, or "*" for the value of any key; keys are joined by
// "." and the empty pattern is the top level. "subject[]" is every element
// of the top-level "subject" array, "annotations.*" the value of every key
// of "annotations". A key holding ".", "[" or "*" cannot be named.
type Fields map[string][]string

// fieldNode is a compiled Fields: the rules for the objects at one place.
type fieldNode struct {
	allowed  map[string]bool // nil: any key
	known    []string        // allowed, in order, for messages
	children map[string]*fieldNode
	any      *fieldNode // the value of any key
	elem     *fieldNode // an array's elements
}

func (n *fieldNode) child(key string) *fieldNode {
	if n == nil {
		return nil
	}
	if c, ok := n.children[key]; ok {
		return c
	}
	return n.any
}

func (n *fieldNode) element() *fieldNode {
	if n == nil {
		return nil
	}
	return n.elem
}

func compileFields(f Fields) (*fieldNode, error) {
	if len(f) == 0 {
		return nil, nil
	}
	root := &fieldNode{}
	for pattern, keys := range f {
		n := root
		rest := pattern
		for rest != "" {
			switch {
			case strings.HasPrefix(rest, "[]"):
				if n.elem == nil {
					n.elem = &fieldNode{}
				}
				n, rest = n.elem, rest[2:]
			case strings.HasPrefix(rest, "*") && (len(rest) == 1 || rest[1] == '.' || rest[1] == '['):
				if n.any == nil {
					n.any = &fieldNode{}
				}
				n, rest = n.any, rest[1:]
			default:
				i := strings.IndexAny(rest, ".[")
				if i < 0 {
					i = len(rest)
				}
				key := rest[:i]
				if key == "" || strings.Contains(key, "]") || strings.Contains(key, "*") {
					return nil, fmt.Errorf("jsonstrict: field pattern %q is not valid", pattern)
				}
				if n.children == nil {
					n.children = map[string]*fieldNode{}
				}
				c := n.children[key]
				if c == nil {
					c = &fieldNode{}
					n.children[key] = c
				}
				n, rest = c, rest[i:]
			}
			if strings.HasPrefix(rest, ".") {
				rest = rest[1:]
				if rest == "" || rest[0] == '.' || rest[0] == '[' {
					return nil, fmt.Errorf("jsonstrict: field pattern %q is not valid", pattern)
				}
			}
		}
		if n.allowed == nil {
			n.allowed = map[string]bool{}
		}
		for _, k := range keys {
			if !n.allowed[k] {
				n.allowed[k] = true
				n.known = append(n.known, k)
			}
		}
	}
	return root, nil
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// FieldsOf returns the fields of v's type as encoding/json decodes it:
// for every place the type reads an object into a struct, the struct's
// field names. Places read by a json.Unmarshaler or
// encoding.TextUnmarshaler, into an interface, or (in a recursive type)
// into a struct already open above are left unconstrained.
func FieldsOf(v any) Fields {
	f := Fields{}
	addFields(f, "", reflect.TypeOf(v), map[reflect.Type]bool{})
	return f
}

func addFields(f Fields, at string, t reflect.Type, open map[reflect.Type]bool) {
	if t == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if open[t] {
			return
		}
		open[t] = true
		defer delete(open, t)
		fields := structFields(t)
		names := make([]string, 0, len(fields))
		for name := range fields {
			names = append(names, name)
		}
		slices.Sort(names)
		f[at] = names
		for _, name := range names {
			if strings.ContainsAny(name, ".[]*") {
				continue // cannot be named in a pattern: left open
			}
			addFields(f, join(at, name), fields[name], open)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return // []byte is a base64 string
		}
		addFields(f, at+"[]", t.Elem(), open)
	case reflect.Array:
		addFields(f, at+"[]", t.Elem(), open)
	case reflect.Map:
		addFields(f, join(at, "*"), t.Elem(), open)
	}
}

func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

// structFields returns the JSON names of a struct's fields and their types,
// with fields of embedded structs promoted as encoding/json promotes them:
// the shallowest name wins, a tagged one over an untagged one at the same
// depth, and two at the same depth and tagging cancel out.
func structFields(t reflect.Type) map[string]reflect.Type {
	type field struct {
		typ    reflect.Type
		depth  int
		tagged bool
		count  int
	}
	found := map[string]*field{}
	var walk func(t reflect.Type, depth int, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, depth int, seen map[reflect.Type]bool) {
		if seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := sf.Type
			if sf.Anonymous {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if !sf.IsExported() && et.Kind() != reflect.Struct {
					continue
				}
				if name == "" && et.Kind() == reflect.Struct {
					walk(et, depth+1, seen)
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			tagged := name != ""
			if !tagged {
				name = sf.Name
			}
			switch f := found[name]; {
			case f == nil || depth < f.depth || (depth == f.depth && tagged && !f.tagged):
				found[name] = &field{typ: ft, depth: depth, tagged: tagged, count: 1}
			case depth == f.depth && tagged == f.tagged:
				f.count++
			}
		}
	}
	walk(t, 0, map[reflect.Type]bool{})
	out := make(map[string]reflect.Type, len(found))
	for name, f := range found {
		if f.count == 1 {
			out[name] = f.typ
		}
	}
	return out
}
