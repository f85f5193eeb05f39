package slsa_test

import (
	"testing"

	"hallmark.dev/slsa"
)

func TestCheckSigner(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		expected, certURI, ghRepo string
		passed, notApplicable     bool
	}{
		{"no extension", "github.com/o/r", "", "", true, true},
		{"match", "github.com/o/r", "https://github.com/o/r", "", true, false},
		{"match with both extensions", "github.com/o/r", "https://github.com/o/r", "o/r", true, false},
		{"match, deprecated only", "github.com/o/r", "", "o/r", true, false},
		{"expected with https", "https://github.com/o/r", "https://github.com/o/r", "", true, false},
		{"expected with git+https", "git+https://github.com/o/r", "https://github.com/o/r", "", true, false},
		{"gitlab", "gitlab.com/g/p", "https://gitlab.com/g/p", "", true, false},
		{"another repository", "github.com/o/r", "https://github.com/o/evil", "", false, false},
		{"another repository, deprecated only", "github.com/o/r", "", "o/evil", false, false},
		{"no prefix match", "github.com/o/r", "https://github.com/o/r-evil", "", false, false},
		{"expected is a prefix of the certificate", "github.com/o", "https://github.com/o/r", "", false, false},
		{"no case folding", "github.com/o/r", "https://github.com/O/R", "", false, false},
		{"another scheme", "github.com/o/r", "http://github.com/o/r", "", false, false},
		{"ref in expected", "github.com/o/r@refs/tags/v1", "https://github.com/o/r", "", false, false},
		{"trailing slash", "github.com/o/r", "https://github.com/o/r/", "", false, false},
		{"extensions disagree", "github.com/o/r", "https://github.com/o/r", "o/evil", false, false},
		{"extensions disagree, expected the deprecated", "github.com/o/evil", "https://github.com/o/r", "o/evil", false, false},
		{"no expected source", "", "https://github.com/o/r", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := slsa.CheckSigner(tc.expected, tc.certURI, tc.ghRepo)
			if got.Name != slsa.CheckCertificateSource || got.Passed != tc.passed || got.NotApplicable != tc.notApplicable || got.Detail == "" {
				t.Errorf("got %+v, want passed %v, not applicable %v", got, tc.passed, tc.notApplicable)
			}
		})
	}
}
