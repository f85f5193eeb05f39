package yamlstrict

import (
	"errors"
	"strings"
	"testing"
)

type doc struct {
	Name  string            `yaml:"name"`
	Items []string          `yaml:"items"`
	Map   map[string]string `yaml:"map"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in, err string
	}{
		{"ok", "name: a\nitems: [x, y]\nmap: {k: v}\n", ""},
		{"unknown field", "name: a\nnmae: b\n", `line 2: unknown field "nmae"`},
		{"case differs", "Name: a\n", `line 1: unknown field "Name"`},
		{"repeated key", "name: a\nname: b\n", `line 2: key "name" repeats the one on line 1`},
		{"repeated map key", "map:\n  k: v\n  k: w\n", `line 3: key "k" repeats`},
		{"anchor", "name: &x a\nitems: [*x]\n", "anchors and aliases are not allowed"},
		{"merge", "map:\n  <<: {k: v}\n", "merge keys are not allowed"},
		{"custom tag", "name: !secret a\n", "tag !secret is not allowed"},
		{"two documents", "name: a\n---\nname: b\n", "more than one YAML document"},
		{"empty", "", "no YAML document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			err := Decode([]byte(tc.in), &d)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Decode: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("Decode accepted %q, want error %q", tc.in, tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("got error %q, want %q", err, tc.err)
			}
		})
	}
	if err := Decode(nil, &doc{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("got %v, want ErrEmpty", err)
	}
}
