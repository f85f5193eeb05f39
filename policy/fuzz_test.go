package policy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse parses CUE and Rego sources. Properties: Parse never panics; a
// parse error names the file; a policy that parses evaluates over a fixed
// statement without panicking, and its Finding is Passed exactly when it has
// no messages.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.cue")
	if err != nil {
		f.Fatal(err)
	}
	rego, err := filepath.Glob("testdata/*.rego")
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, rego...)
	if len(seeds) == 0 {
		f.Fatal("no seed policies in testdata")
	}
	for _, s := range seeds {
		src, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.HasSuffix(s, ".rego"), src)
	}
	f.Add(false, []byte("a: b\nb: a\n"))
	f.Add(false, []byte("predicate: [...{x: >0}]\n"))
	f.Add(true, []byte("package p\n\ndeny contains x if some x in input.subject\n"))
	f.Add(true, []byte("package p\n\nallow := input.predicate\n"))
	st := statement(f, "slsa-v1.json")

	f.Fuzz(func(t *testing.T, isRego bool, src []byte) {
		name := "fuzz.cue"
		if isRego {
			name = "fuzz.rego"
		}
		p, err := Parse(name, src)
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("parse error does not name the file: %v", err)
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res, err := p.evaluate(ctx, st)
		if err != nil {
			return
		}
		if res.Passed != (len(res.Messages) == 0) {
			t.Errorf("Passed = %v with messages %q", res.Passed, res.Messages)
		}
	})
}
