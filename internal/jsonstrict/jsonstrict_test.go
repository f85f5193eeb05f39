package jsonstrict

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestWalk(t *testing.T) {
	tooDeep := errors.New("too deep")
	paths := Options{
		MaxDepth: 4,
		TooDeep:  tooDeep,
		Fold:     strings.ToLower,
		Duplicate: func(p Path, prev, k string) error {
			return fmt.Errorf("%s: %q %q", p, prev, k)
		},
		Key: func(p Path, k string) error {
			if k == "bad" {
				return fmt.Errorf("bad at %q", p.String())
			}
			return nil
		},
	}
	tests := []struct {
		name string
		in   string
		o    Options
		want string // "" for no error
	}{
		{"scalar", `1`, Options{MaxDepth: 1}, ""},
		{"exact keys differ by case", `{"a":1,"A":2}`, Options{MaxDepth: 2}, ""},
		{"exact duplicate", `{"a":1,"a":2}`, Options{MaxDepth: 2}, `duplicate JSON key "a"`},
		{"folded duplicate", `{"x":[{"a":1,"A":2}]}`, paths, `.x[0]: "a" "A"`},
		{"key rule with path", `[0,{"y":{"bad":1}}]`, paths, `bad at "[1].y"`},
		{"too deep", `[[[[[[1]]]]]]`, paths, "too deep"},
		{"invalid", `{"a":}`, Options{MaxDepth: 2}, "invalid JSON"},
		{"unclosed", `[1`, Options{MaxDepth: 2}, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Walk(json.NewDecoder(strings.NewReader(tt.in)), tt.o)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Walk(%s) = %v, want nil", tt.in, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Walk(%s) = %v, want %q", tt.in, err, tt.want)
			}
		})
	}
}
