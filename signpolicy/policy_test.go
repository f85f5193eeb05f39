package signpolicy_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/keys"
	"hallmark.dev/signpolicy"
)

// sshKey returns a new Ed25519 key's authorized_keys line.
func sshKey(t testing.TB) string {
	t.Helper()
	s, err := keys.Generate(keys.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " someone@example.com"
}

// pgpKey returns a new OpenPGP key, public part armored.
func pgpKey(t testing.TB) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity("Alice", "", "alice@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return e, buf.String()
}

// indent indents a multi-line value for a YAML block scalar.
func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix)
}

const allowAll = `rego: |
  package hallmark.signing
  default allow := false
  allow if input.kind == "release"
`

func TestParse(t *testing.T) {
	_, pemA := lite.NewPEMKey(t)
	_, pgpA := pgpKey(t)
	sshA := sshKey(t)
	good := "principals:\n  hsm:\n    keys:\n      - " + sshA + "\n  alice:\n    keys:\n      - |\n" + indent(pemA, "        ") +
		"\n  carol:\n    keys:\n      - |\n" + indent(pgpA, "        ") +
		"\n  bob:\n    identities:\n      - issuer: https://issuer.example.com\n        subject: bob@example.com\n" + allowAll
	p, err := signpolicy.Parse([]byte(good))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var got []string
	for _, pr := range p.Principals() {
		for _, k := range pr.Keys {
			got = append(got, pr.Name+":"+string(k.Kind))
		}
		for _, id := range pr.Identities {
			got = append(got, pr.Name+":"+id.String())
		}
	}
	want := []string{"alice:pkix", "bob:bob@example.com from https://issuer.example.com", "carol:openpgp", "hsm:ssh"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("principals (-want +got):\n%s", diff)
	}
	if got, want := p.Digest(), signpolicy.Digest([]byte(good)); got != want {
		t.Errorf("digest %s, want %s", got, want)
	}

	one := func(principals string) string { return "principals:\n" + principals + allowAll }
	tests := []struct {
		name, doc, err string
	}{
		{"unknown field", one("  a:\n    keys: ['" + sshA + "']\n    key: x\n"), `line 4: principals.a: unknown field "key" (known: identities, keys)`},
		{"unknown top-level field", one("  a:\n    keys: ['"+sshA+"']\n") + "version: 2\n", `unknown field "version"`},
		{"no principals", allowAll, "no principals"},
		{"principal without keys", one("  a: {}\n"), "principal a has no keys and no identities"},
		{"bad name", one("  'a b':\n    keys: ['" + sshA + "']\n"), `principal "a b": a name is`},
		{"reserved name", one("  hallmark:\n    keys: ['" + sshA + "']\n"), "reserved"},
		{"key of two principals", one("  a:\n    keys: ['" + sshA + "']\n  b:\n    keys: ['" + sshA + "']\n"), "principal b, key 1 (SHA256:"},
		{"identity of two principals", one("  a:\n    identities: [{issuer: i, subject: s}]\n  b:\n    identities: [{issuer: i, subject: s}]\n"), "is also an identity of a"},
		{"identity without subject", one("  a:\n    identities: [{issuer: i}]\n"), "both issuer and subject are required"},
		{"not a key", one("  a:\n    keys: ['hello']\n"), "principal a, key 1: SSH key: not an authorized_keys line"},
		{"ssh options", one("  a:\n    keys: ['from=\"10.0.0.1\" " + sshA + "']\n"), "options (from=\"10.0.0.1\") are not allowed"},
		{"private key", one("  a:\n    keys:\n      - |\n        -----BEGIN PRIVATE KEY-----\n        AAAA\n        -----END PRIVATE KEY-----\n"), "private key"},
		{"anchor", "principals:\n  a: &x\n    keys: ['" + sshA + "']\n  b: *x\n" + allowAll, "anchors and aliases are not allowed"},
		{"no rego", "principals:\n  a:\n    keys: ['" + sshA + "']\n", "no rego module"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := signpolicy.Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestParseRego(t *testing.T) {
	doc := func(module string) []byte {
		return []byte("principals:\n  a:\n    identities: [{issuer: i, subject: s}]\nrego: |\n" + indent(module, "  ") + "\n")
	}
	tests := []struct {
		name, module, err string
	}{
		{"wrong package", "package other\nallow := true", "package other, want package hallmark.signing"},
		{"no allow", "package hallmark.signing\nx := 1", "no allow rule"},
		{"allow as a set", "package hallmark.signing\nallow contains x if { x := 1 }", "allow must be a boolean rule"},
		{"deny as a boolean", "package hallmark.signing\nallow := true\ndeny := true", "deny must be a set of messages"},
		{"syntax error", "package hallmark.signing\nallow if {", "rego:"},
		{"network builtin", "package hallmark.signing\nallow if http.send({\"method\": \"get\", \"url\": \"http://x\"}).status_code == 200", "http.send"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := signpolicy.Parse(doc(tc.module))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got error %v, want %q", err, tc.err)
			}
		})
	}
	if _, err := signpolicy.Parse(bytes.Repeat([]byte("#"), signpolicy.MaxPolicySize+1)); err == nil || !strings.Contains(err.Error(), "over the") {
		t.Errorf("oversized policy: got %v, want a size error", err)
	}
}

func TestEvaluate(t *testing.T) {
	doc := func(module string) *signpolicy.Policy {
		t.Helper()
		p, err := signpolicy.Parse([]byte("principals:\n  a:\n    identities: [{issuer: i, subject: s}]\nrego: |\n" + indent(module, "  ") + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	const quorum = `package hallmark.signing
maintainers := {"alice", "bob", "carol"}
approvers := {a | some a in input.approvals; a in maintainers}
default allow := false
allow if {
	input.tag.signer == "hsm"
	count(approvers) >= 2
}
deny contains msg if {
	not input.tag.signer
	msg := sprintf("tag %s is not signed by a principal", [input.tag.name])
}
`
	release := func(signer string, approvals ...string) signpolicy.Input {
		return signpolicy.Input{Kind: signpolicy.KindRelease, Repository: "git.example.com/acme/app", Commit: strings.Repeat("a", 40),
			Tag: &signpolicy.TagFact{Name: "v1", Signer: signer}, Approvals: approvals}
	}
	tests := []struct {
		name    string
		module  string
		in      signpolicy.Input
		allowed bool
		reason  string
	}{
		{"quorum and tag", quorum, release("hsm", "alice", "bob"), true, "allowed"},
		{"one approval", quorum, release("hsm", "alice"), false, "denied: allow is false"},
		{"unnamed approvers", quorum, release("hsm", "alice", "mallory"), false, "denied: allow is false"},
		{"unsigned tag", quorum, release("", "alice", "bob"), false, "denied: tag v1 is not signed by a principal"},
		{"undefined allow", "package hallmark.signing\nallow if input.kind == \"other\"", release("hsm"), false, "denied (fail closed): allow is undefined"},
		{"rego error", "package hallmark.signing\nallow if { x := 1 / 0; x > 0 }", release("hsm"), false, "denied (fail closed): rego error: "},
		{"conflict", "package hallmark.signing\nallow := true if input.kind == \"release\"\nallow := false if input.tag.name == \"v1\"", release("hsm"), false, "denied (fail closed): rego error: "},
		{"no kind", quorum, signpolicy.Input{}, false, "denied (fail closed): input has no kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := doc(tc.module).Evaluate(context.Background(), tc.in)
			if d.Allowed != tc.allowed || !strings.HasPrefix(d.Reason, tc.reason) {
				t.Fatalf("got allowed %v, reason %q; want %v, %q", d.Allowed, d.Reason, tc.allowed, tc.reason)
			}
			if !tc.allowed && tc.reason != "denied: allow is false" && !strings.HasPrefix(tc.reason, "denied: ") && d.Error == "" {
				t.Errorf("a fail-closed decision has no Error")
			}
		})
	}
	t.Run("rules reported", func(t *testing.T) {
		d := doc(quorum).Evaluate(context.Background(), release("hsm", "alice", "bob", "mallory"))
		got := map[string]any{}
		for _, r := range d.Rules {
			got[r.Name] = r.Value
		}
		want := map[string]any{"allow": true, "approvers": []any{"alice", "bob"}, "deny": []any{}, "maintainers": []any{"alice", "bob", "carol"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rules (-want +got):\n%s", diff)
		}
	})
}

func TestApprovalStatement(t *testing.T) {
	commit := strings.Repeat("c", 40)
	a := signpolicy.Approval{Repository: "git.example.com/acme/app", Kind: signpolicy.KindRelease, Commit: commit}
	st, err := a.Statement()
	if err != nil {
		t.Fatal(err)
	}
	got, err := signpolicy.ParseApproval(st)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// A subject that differs from the predicate, an unknown field, a field
	// in another case: each refused.
	tests := []struct{ name, from, to, err string }{
		{"subject of another commit", `"gitCommit":"` + commit + `"`, `"gitCommit":"` + strings.Repeat("d", 40) + `"`, "does not match the predicate"},
		{"subject of another repository", `"name":"git.example.com/acme/app"`, `"name":"git.example.com/acme/other"`, "does not match the predicate"},
		{"unknown field", `"kind":"release"`, `"kind":"release","extra":1`, `unknown field "extra"`},
		{"field in another case", `"kind":"release"`, `"Kind":"release"`, `unknown field "Kind" in the predicate`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(st), tc.from, tc.to, 1)
			if bad == string(st) {
				t.Fatalf("the statement has no %s: %s", tc.from, st)
			}
			if _, err := signpolicy.ParseApproval([]byte(bad)); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
		})
	}
}
