package setup

import (
	"strings"
	"testing"
)

func TestLoadPolicy(t *testing.T) {
	p, err := LoadPolicy("../../policy/testdata/slsa-v1.rego")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Name(), "policy ../../policy/testdata/slsa-v1.rego"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	for _, tc := range []struct{ path, want string }{
		{"../../policy/testdata/slsa-v1.json", "policy ../../policy/testdata/slsa-v1.json: unknown policy language"},
		{"testdata/missing.cue", "reading policy: open testdata/missing.cue"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			_, err := LoadPolicy(tc.path)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got error %v, want prefix %q", err, tc.want)
			}
		})
	}
}
