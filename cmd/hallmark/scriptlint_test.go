package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// TestScriptRefusalsSayWhy keeps every expected failure in the scripts
// honest: a negated exec line must be followed, before the next command,
// by a stderr assertion naming the reason. Without one, the line still
// passes when the command fails for an unrelated reason (an unknown flag,
// a missing file).
func TestScriptRefusalsSayWhy(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range refusalsWithoutReason(string(txtar.Parse(data).Comment)) {
			t.Errorf("%s:%d: a refusal without a stderr assertion after it", f, line)
		}
	}
}

// scriptConds matches the leading [cond] prefixes of a script line.
var scriptConds = regexp.MustCompile(`^(\[[^\]]*\]\s*)*`)

// refusalsWithoutReason returns the line numbers (from 1) of the negated
// exec lines of script that no stderr assertion follows. Assertions on
// stdout, files and negated stderr may sit between the exec and its stderr
// assertion; any other command ends the search.
func refusalsWithoutReason(script string) []int {
	lines := strings.Split(script, "\n")
	var bad []int
	for i, l := range lines {
		if !strings.HasPrefix(scriptConds.ReplaceAllString(strings.TrimSpace(l), ""), "! exec ") {
			continue
		}
		found := false
	follow:
		for _, next := range lines[i+1:] {
			next = scriptConds.ReplaceAllString(strings.TrimSpace(next), "")
			word, _, _ := strings.Cut(strings.TrimPrefix(next, "! "), " ")
			switch {
			case next == "" || strings.HasPrefix(next, "#"):
			case strings.HasPrefix(next, "stderr "):
				found = true
				break follow
			case word == "stdout" || word == "stderr" || word == "exists" || word == "grep" || word == "cmp" || word == "cmpenv":
			default:
				break follow
			}
		}
		if !found {
			bad = append(bad, i+1)
		}
	}
	return bad
}

func TestRefusalsWithoutReason(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   []int
	}{
		{"stderr right after", "! exec a\nstderr 'why'\n", nil},
		{"stderr after stdout and comments", "! exec a\n# c\n\nstdout x\n! stdout y\nstderr 'why'\n", nil},
		{"with a condition", "[exec:cosign] ! exec cosign x\nstderr 'why'\n", nil},
		{"no assertion", "! exec a\nexec b\nstderr 'why'\n", []int{1}},
		{"only stdout", "! exec a\nstdout 'x'\n", []int{1}},
		{"only a negated stderr", "! exec a\n! stderr 'x'\n", []int{1}},
		{"at the end", "exec a\n! exec b", []int{2}},
		{"a successful exec needs none", "exec a\nexec b\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := refusalsWithoutReason(tt.script)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
