package yamlstrict

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"hallmark.dev/internal/jsonstrict"
)

func TestParse(t *testing.T) {
	fields := jsonstrict.Rules{
		Fields: jsonstrict.Fields{"": {"a", "list"}, "list[]": {"id", "name"}},
		Name: func(p jsonstrict.Path) string {
			if len(p) == 0 {
				return "config"
			}
			return p.String()
		},
	}
	tests := []struct {
		name string
		in   string
		r    jsonstrict.Rules
		want string // "" for no error
		err  error
	}{
		{"empty", "", jsonstrict.Rules{}, "", nil},
		{"comment only", "# nothing\n", jsonstrict.Rules{}, "", nil},
		{"plain", "a: 1\nlist:\n  - {id: x, name: y}\n", fields, "", nil},
		{"repeated key", "a: 1\nb: 2\na: 3\n", jsonstrict.Rules{}, `line 3: the top level: key "a" repeats the one on line 1`, jsonstrict.ErrDuplicateKey},
		{"repeated key in a list item", "list:\n  - id: x\n    id: y\n", fields, `line 3: list[0]: key "id" repeats the one on line 2`, jsonstrict.ErrDuplicateKey},
		{"keys folding alike", "Name: 1\nname: 2\n", jsonstrict.Rules{FoldKeys: true}, `line 2: the top level: key "name" repeats the one on line 1`, jsonstrict.ErrDuplicateKey},
		{"unknown field", "a: 1\nb: 2\n", fields, `line 2: config: unknown field "b" (known: a, list)`, jsonstrict.ErrUnknownField},
		{"unknown field in a list item", "list:\n  - id: x\n  - ID: y\n", fields, `line 3: list[1]: unknown field "ID" (known: id, name)`, jsonstrict.ErrUnknownField},
		{"known key misspelled", "x:\n  Severity: 1\n", jsonstrict.Rules{Known: []string{"severity"}}, `line 2: x: key "Severity", want "severity"`, jsonstrict.ErrKeySpelling},
		{"too deep", "a:\n  b:\n    c: [1]\n", jsonstrict.Rules{MaxDepth: 2}, "line 3: a.b.c: nested deeper than 2 levels", jsonstrict.ErrTooDeep},
		{"at the depth bound", "a:\n  b: [1]\n", jsonstrict.Rules{MaxDepth: 3}, "", nil},
		{"anchor", "a: &x [1]\nb: *x\n", jsonstrict.Rules{}, "line 1: anchors and aliases are not allowed", nil},
		{"merge key", "a: {x: 1}\nb:\n  <<: {x: 2}\n", jsonstrict.Rules{}, "line 3: merge keys are not allowed", nil},
		{"custom tag", "a: !foo 1\n", jsonstrict.Rules{}, "line 1: tag !foo is not allowed", nil},
		{"key not a string", "1: a\n", fields, "line 1: config: keys must be strings", nil},
		{"two documents", "a: 1\n---\na: 2\n", jsonstrict.Rules{}, "more than one YAML document", nil},
		{"not YAML", "a: [1\n", jsonstrict.Rules{}, "yaml:", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), tt.r)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Parse(%q) = %v, want nil", tt.in, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Parse(%q) = %v, want %q", tt.in, err, tt.want)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Fatalf("Parse(%q) = %v, want it to wrap %v", tt.in, err, tt.err)
			}
		})
	}
}

func TestParseRoot(t *testing.T) {
	n, err := Parse([]byte("a: 1\n"), jsonstrict.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	if n == nil || len(n.Content) != 2 || n.Content[0].Value != "a" {
		t.Errorf("got %v, want the mapping a: 1", n)
	}
	if n, err := Parse(nil, jsonstrict.Rules{}); n != nil || err != nil {
		t.Errorf("Parse(nil) = %v, %v, want nil, nil", n, err)
	}
}

// FuzzParse: what Parse accepts, yaml.v3 decodes (it refuses repeated
// keys when decoding into a map); a key Parse refuses is on the line its
// error names.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"", "a: 1\n", "a: 1\na: 2\n", "list:\n  - {id: x, name: y}\n  - id: z\n", "list:\n  - ID: 1\n",
		"Name: 1\nname: 2\n", "a: &x 1\nb: *x\n", "a:\n  b:\n    c:\n      d: 1\n", "? [1]\n: 2\n",
		"a: !!binary aGk=\n", "a: 1\n---\nb: 2\n", "'quoted key': 1\n\"x\\ty\": 2\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	r := jsonstrict.Rules{
		MaxDepth: 3,
		FoldKeys: true,
		Known:    []string{"name"},
		Fields:   jsonstrict.Fields{"list[]": {"id", "name"}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse(data, r)
		if err == nil {
			var v any
			if err := yaml.Unmarshal(data, &v); err != nil {
				t.Fatalf("accepted what yaml.v3 refuses: %v", err)
			}
			return
		}
		e, ok := errors.AsType[*jsonstrict.Error](err)
		if !ok || e.Err == jsonstrict.ErrTooDeep || strings.Trim(e.Key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" || e.Key == "" {
			return
		}
		lines := strings.Split(string(data), "\n")
		if e.Line < 1 || e.Line > len(lines) || !strings.Contains(lines[e.Line-1], e.Key) {
			t.Fatalf("%v: line %d of %q does not hold %q", err, e.Line, data, e.Key)
		}
	})
}
