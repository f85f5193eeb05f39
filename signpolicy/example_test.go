package signpolicy_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"hallmark.dev/signpolicy"
)

// TestExamplePolicy keeps docs/signing-policy.example.yaml (seed 002's
// rules) a policy that parses and decides as its comments say.
func TestExamplePolicy(t *testing.T) {
	data, err := os.ReadFile("../docs/signing-policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := signpolicy.Parse(data)
	if err != nil {
		t.Fatalf("the example policy: %v", err)
	}
	commit := strings.Repeat("a", 40)
	release := func(signer string, approvals ...string) signpolicy.Input {
		return signpolicy.Input{Kind: signpolicy.KindRelease, Repository: "git.example.com/acme/app", Commit: commit,
			Tag: &signpolicy.TagFact{Name: "v1.0.0", Signer: signer}, Approvals: approvals}
	}
	update := signpolicy.Input{Kind: signpolicy.KindPolicyUpdate, Repository: "git.example.com/acme/app", Approvals: []string{"abc", "tonistiigi"},
		Policy: &signpolicy.PolicyFact{Version: 2, Digest: "sha256:" + strings.Repeat("b", 64), PreviousDigest: "sha256:" + strings.Repeat("c", 64)}}
	tests := []struct {
		name    string
		in      signpolicy.Input
		allowed bool
		reason  string
	}{
		{"HSM tag and two maintainers", release("release-hsm", "crazy-max", "abc"), true, "allowed"},
		{"one maintainer", release("release-hsm", "crazy-max"), false, `denied: 1 of 2 named maintainers approved ({"crazy-max"})`},
		{"a maintainer and a scanner", release("release-hsm", "crazy-max", "trivy-ci"), false, `denied: 1 of 2 named maintainers approved ({"crazy-max"})`},
		{"tag not signed by the HSM", release("crazy-max", "crazy-max", "abc"), false, "denied: tag v1.0.0 is not signed by the release HSM"},
		{"unsigned tag", release("", "crazy-max", "abc"), false, "denied: tag v1.0.0 is not signed by the release HSM"},
		{"policy update", update, true, "allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := p.Evaluate(context.Background(), tc.in)
			if d.Allowed != tc.allowed || d.Reason != tc.reason {
				t.Fatalf("got %v %q, want %v %q", d.Allowed, d.Reason, tc.allowed, tc.reason)
			}
		})
	}
	t.Run("require_scan", func(t *testing.T) {
		p, err := signpolicy.Parse([]byte(strings.Replace(string(data), "require_scan := false", "require_scan := true", 1)))
		if err != nil {
			t.Fatal(err)
		}
		gate := func(scanner string, passed bool) signpolicy.ScanFact {
			return signpolicy.ScanFact{Scanner: scanner, PredicateType: "https://cosign.sigstore.dev/attestation/vuln/v1", Subject: "gitCommit:" + commit,
				Predicate: map[string]any{"scanner": map[string]any{"result": map[string]any{"passed": passed}}}}
		}
		tests := []struct {
			name    string
			scans   []signpolicy.ScanFact
			allowed bool
			reason  string
		}{
			{"hallmark's gate passed", []signpolicy.ScanFact{gate("hallmark", true)}, true, "allowed"},
			{"trivy-ci passed", []signpolicy.ScanFact{gate("trivy-ci", true)}, true, "allowed"},
			{"the gate failed", []signpolicy.ScanFact{gate("hallmark", false)}, false, "denied: no named scanner passed"},
			{"a scan by someone else", []signpolicy.ScanFact{gate("crazy-max", true)}, false, "denied: no named scanner passed"},
			{"no scan", nil, false, "denied: no named scanner passed"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				in := release("release-hsm", "crazy-max", "abc")
				in.Scans = tc.scans
				d := p.Evaluate(context.Background(), in)
				if d.Allowed != tc.allowed || d.Reason != tc.reason {
					t.Fatalf("got %v %q, want %v %q", d.Allowed, d.Reason, tc.allowed, tc.reason)
				}
			})
		}
	})
}
