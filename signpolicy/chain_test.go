package signpolicy_test

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"hallmark.dev/internal/quietlog"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/sign"
	"hallmark.dev/signpolicy"
)

func TestMain(m *testing.M) {
	quietlog.Klog()
	os.Exit(m.Run())
}

const repo = "git.example.com/acme/app"

// fixture is a stack and the signers of a repository's policy.
type fixture struct {
	st                    *testkit.Stack
	writer                crypto.Signer
	alice, bob, bob2, dan crypto.Signer
	mallory               crypto.Signer
	pems                  map[crypto.Signer]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{st: testkit.StartStack(t, nil), pems: map[crypto.Signer]string{}}
	for _, p := range []*crypto.Signer{&f.writer, &f.alice, &f.bob, &f.bob2, &f.dan, &f.mallory} {
		s, pem := lite.NewPEMKey(t)
		*p = s
		f.pems[s] = pem
	}
	return f
}

func (f *fixture) trust() signpolicy.Trust {
	return signpolicy.Trust{Root: f.st.TrustedRoot, Writer: signpolicy.Writer{Keys: []crypto.PublicKey{f.writer.Public()}}}
}

// policy writes a policy whose maintainers must reach a quorum of 2, for
// releases and updates alike. Principals: alice (a key), bob (two keys),
// carol (keyless), and dan (a key) when withDan.
func (f *fixture) policy(t *testing.T, maintainers string, withDan bool) []byte {
	t.Helper()
	doc := "principals:\n" +
		"  alice:\n    keys:\n      - |\n" + indent(f.pems[f.alice], "        ") + "\n" +
		"  bob:\n    keys:\n      - |\n" + indent(f.pems[f.bob], "        ") + "\n      - |\n" + indent(f.pems[f.bob2], "        ") + "\n" +
		"  carol:\n    identities:\n      - issuer: " + f.st.Issuer + "\n        subject: carol@example.com\n"
	if withDan {
		doc += "  dan:\n    keys:\n      - |\n" + indent(f.pems[f.dan], "        ") + "\n"
	}
	doc += `rego: |
  package hallmark.signing
  maintainers := ` + maintainers + `
  approvers := {a | some a in input.approvals; a in maintainers}
  default allow := false
  allow if count(approvers) >= 2
  deny contains msg if {
    count(approvers) < 2
    msg := sprintf("%d of 2 maintainers approved", [count(approvers)])
  }
`
	if _, err := signpolicy.Parse([]byte(doc)); err != nil {
		t.Fatalf("the test's policy: %v", err)
	}
	return []byte(doc)
}

func (f *fixture) keyOpts(t *testing.T, s crypto.Signer) (sgsign.Keypair, sign.Options) {
	return f.st.KeyOptions(t, s)
}

// approve signs an approval with a key.
func (f *fixture) approve(t *testing.T, s crypto.Signer, a signpolicy.Approval) []byte {
	t.Helper()
	st, err := a.Statement()
	if err != nil {
		t.Fatal(err)
	}
	kp, opts := f.keyOpts(t, s)
	return testkit.SignStatement(t, kp, opts, st)
}

// approveKeyless signs an approval keylessly as subject.
func (f *fixture) approveKeyless(t *testing.T, subject string, a signpolicy.Approval) []byte {
	t.Helper()
	st, err := a.Statement()
	if err != nil {
		t.Fatal(err)
	}
	kp, opts := f.st.KeylessOptions(t, subject)
	return testkit.SignStatement(t, kp, opts, st)
}

// version signs a version record with s.
func (f *fixture) version(t *testing.T, s crypto.Signer, n int, previous string, policy []byte) json.RawMessage {
	t.Helper()
	kp, opts := f.keyOpts(t, s)
	return testkit.SignStatement(t, kp, opts, testkit.VersionRecord(t, repo, n, previous, policy))
}

// parallel runs the signing functions concurrently (each one logs an entry).
func parallel(fns ...func()) {
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Go(fn)
	}
	wg.Wait()
}

func TestApprovals(t *testing.T) {
	f := newFixture(t)
	pol, err := signpolicy.Parse(f.policy(t, `{"alice", "bob", "carol"}`, false))
	if err != nil {
		t.Fatal(err)
	}
	commit := strings.Repeat("1", 40)
	release := signpolicy.Approval{Repository: repo, Kind: signpolicy.KindRelease, Commit: commit}
	otherCommit := release
	otherCommit.Commit = strings.Repeat("2", 40)
	otherRepo := release
	otherRepo.Repository = "git.example.com/acme/other"
	update := signpolicy.Approval{Repository: repo, Kind: signpolicy.KindPolicyUpdate,
		Policy: &signpolicy.PolicyFact{Version: 2, Digest: "sha256:" + strings.Repeat("3", 64), PreviousDigest: "sha256:" + strings.Repeat("4", 64)}}

	var alice, alice2, bob, bob2, carol, dave, mallory, aliceOther, aliceOtherRepo, aliceUpdate, unlogged []byte
	parallel(
		func() { alice = f.approve(t, f.alice, release) },
		func() { alice2 = f.approve(t, f.alice, release) },
		func() { bob = f.approve(t, f.bob, release) },
		func() { bob2 = f.approve(t, f.bob2, release) },
		func() { carol = f.approveKeyless(t, "carol@example.com", release) },
		func() { dave = f.approveKeyless(t, "dave@example.com", release) },
		func() { mallory = f.approve(t, f.mallory, release) },
		func() { aliceOther = f.approve(t, f.alice, otherCommit) },
		func() { aliceOtherRepo = f.approve(t, f.alice, otherRepo) },
		func() { aliceUpdate = f.approve(t, f.alice, update) },
	)
	{
		st, err := release.Statement()
		if err != nil {
			t.Fatal(err)
		}
		kp, err := sign.NewKeySigner(f.alice)
		if err != nil {
			t.Fatal(err)
		}
		unlogged = testkit.SignStatement(t, kp, sign.Options{}, st)
	}

	tests := []struct {
		name    string
		bundles [][]byte
		want    []string
		detail  string // of the last bundle's evidence
		result  string
	}{
		{"two maintainers", [][]byte{alice, bob}, []string{"alice", "bob"}, "bob approved the release of commit " + commit, signpolicy.Verified},
		{"keyless maintainer", [][]byte{carol}, []string{"carol"}, "carol approved the release", signpolicy.Verified},
		{"unnamed key", [][]byte{alice, mallory}, []string{"alice"}, "signed by no principal's key or identity (unnamed signer)", signpolicy.Rejected},
		{"unnamed identity", [][]byte{dave}, nil, "signed by identity dave@example.com from " + f.st.Issuer + ", which no principal holds (unnamed signer)", signpolicy.Rejected},
		{"one principal twice", [][]byte{alice, alice2}, []string{"alice"}, "alice already approved (approval 1): a principal counts once", signpolicy.Duplicate},
		{"one principal with two keys", [][]byte{bob, bob2}, []string{"bob"}, "bob already approved (approval 1): a principal counts once", signpolicy.Duplicate},
		{"another commit", [][]byte{aliceOther}, nil, "the approval is for commit " + otherCommit.Commit + ", not " + commit, signpolicy.Rejected},
		{"another repository", [][]byte{aliceOtherRepo}, nil, "the approval is for repository git.example.com/acme/other, not " + repo, signpolicy.Rejected},
		{"a policy approval", [][]byte{aliceUpdate}, nil, "the approval is a policy-update approval, not a release approval", signpolicy.Rejected},
		{"not logged", [][]byte{unlogged}, nil, "log check failed: ", signpolicy.Rejected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			names, evidence, err := pol.Approvals(f.st.TrustedRoot, release, tc.bundles)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got approvals %v, want %v", names, tc.want)
			}
			if len(evidence) != len(tc.bundles) {
				t.Fatalf("got %d evidence entries, want %d", len(evidence), len(tc.bundles))
			}
			last := evidence[len(evidence)-1]
			if last.Result != tc.result || !strings.Contains(last.Detail, tc.detail) {
				t.Errorf("got %s %q, want %s containing %q", last.Result, last.Detail, tc.result, tc.detail)
			}
		})
	}
}

func TestChain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tr := f.trust()
	p1 := f.policy(t, `{"alice", "bob", "carol"}`, false)
	p2 := f.policy(t, `{"bob", "carol", "dan"}`, true)
	d1, d2 := signpolicy.Digest(p1), signpolicy.Digest(p2)
	up := func(digest, previous string, n int) signpolicy.Approval {
		return signpolicy.Approval{Repository: repo, Kind: signpolicy.KindPolicyUpdate, Policy: &signpolicy.PolicyFact{Version: n, Digest: digest, PreviousDigest: previous}}
	}
	var (
		v1, v1mallory, v2, v2fork, v1again                                  json.RawMessage
		aliceUp, bobUp, carolUp, danUp, bobUpOtherPolicy, bobUpOtherVersion []byte
		aliceUpOtherPolicy, writerUp                                        []byte
	)
	p3 := f.policy(t, `{"alice", "bob"}`, false)
	parallel(
		func() { v1 = f.version(t, f.writer, 1, "", p1) },
		func() { v1mallory = f.version(t, f.mallory, 1, "", p1) },
		func() { v2 = f.version(t, f.writer, 2, d1, p2) },
		func() { v2fork = f.version(t, f.writer, 2, d1, p3) },
		func() { v1again = f.version(t, f.writer, 1, "", p2) },
		func() { aliceUp = f.approve(t, f.alice, up(d2, d1, 2)) },
		func() { bobUp = f.approve(t, f.bob, up(d2, d1, 2)) },
		func() { carolUp = f.approveKeyless(t, "carol@example.com", up(d2, d1, 2)) },
		func() { danUp = f.approve(t, f.dan, up(d2, d1, 2)) },
		func() { bobUpOtherPolicy = f.approve(t, f.bob, up(signpolicy.Digest(p3), d1, 2)) },
		func() { bobUpOtherVersion = f.approve(t, f.bob, up(d2, d1, 3)) },
		func() { aliceUpOtherPolicy = f.approve(t, f.alice, up(signpolicy.Digest(p3), d1, 2)) },
		func() { writerUp = f.approve(t, f.writer, up(d2, d1, 2)) },
	)
	first, err := signpolicy.VerifyNext(ctx, tr, repo, nil, signpolicy.Entry{Bundle: v1})
	if err != nil {
		t.Fatalf("version 1: %v", err)
	}
	second, err := signpolicy.VerifyNext(ctx, tr, repo, first, signpolicy.Entry{Bundle: v2, Approvals: raws(bobUp, carolUp)})
	if err != nil {
		t.Fatalf("version 2: %v", err)
	}
	if got := second.Update.New.Input.Approvals; strings.Join(got, ",") != "bob,carol" {
		t.Errorf("version 2's approvals under the new policy: %v, want bob, carol", got)
	}
	var v3 json.RawMessage
	var v4 json.RawMessage
	var v3fork json.RawMessage
	parallel(
		func() { v3 = f.version(t, f.writer, 3, d2, p1) },
		func() { v4 = f.version(t, f.writer, 4, d2, p1) },
		func() { v3fork = f.version(t, f.writer, 3, d1, p1) },
	)

	tests := []struct {
		name   string
		prev   *signpolicy.Version
		entry  signpolicy.Entry
		reason signpolicy.Reason
		msg    string
	}{
		{"first version by someone else", nil, signpolicy.Entry{Bundle: v1mallory}, signpolicy.ReasonWrongSigner, "not signed by the policy writer"},
		{"first version numbered 2", nil, signpolicy.Entry{Bundle: v2}, signpolicy.ReasonSkippedVersion, "the first version must be version 1"},
		{"update approved under the old policy only", first, signpolicy.Entry{Bundle: v2, Approvals: raws(aliceUp, bobUp)}, signpolicy.ReasonUnderApproved,
			"not allowed by the new policy (version 2): denied: 1 of 2 maintainers approved (verified approvals: alice, bob)"},
		{"update approved under the new policy only", first, signpolicy.Entry{Bundle: v2, Approvals: raws(bobUp, danUp)}, signpolicy.ReasonUnderApproved,
			"not allowed by the previous policy (version 1): denied: 1 of 2 maintainers approved (verified approvals: bob)"},
		{"update approvals of another policy", first, signpolicy.Entry{Bundle: v2, Approvals: raws(bobUpOtherPolicy, carolUp)}, signpolicy.ReasonUnderApproved, "verified approvals: carol"},
		{"update approvals of another version", first, signpolicy.Entry{Bundle: v2, Approvals: raws(bobUpOtherVersion, carolUp)}, signpolicy.ReasonUnderApproved, "verified approvals: carol"},
		{"update without approvals", first, signpolicy.Entry{Bundle: v2}, signpolicy.ReasonUnderApproved, "0 of 2 maintainers approved"},
		{"rollback", second, signpolicy.Entry{Bundle: v1again}, signpolicy.ReasonRollback, "version 1 is not after version 2"},
		{"same version again", second, signpolicy.Entry{Bundle: v2fork, Approvals: raws(bobUp, carolUp)}, signpolicy.ReasonRollback, "version 2 is not after version 2"},
		{"skipped version", second, signpolicy.Entry{Bundle: v4}, signpolicy.ReasonSkippedVersion, "version 4 does not follow version 2"},
		{"fork", second, signpolicy.Entry{Bundle: v3fork}, signpolicy.ReasonFork, "names " + d1 + " as its predecessor, but version 2 is " + d2},
		{"version 1 with approvals", nil, signpolicy.Entry{Bundle: v1, Approvals: raws(bobUp)}, signpolicy.ReasonInvalid, "version 1 carries approvals"},
		{"an approval as a version", nil, signpolicy.Entry{Bundle: writerUp}, signpolicy.ReasonWrongSigner, "predicate type"},
		{"an approver's bundle as a version", nil, signpolicy.Entry{Bundle: bobUp}, signpolicy.ReasonWrongSigner, "not signed by the policy writer: signed by no principal's key or identity (unnamed signer)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := signpolicy.VerifyNext(ctx, tr, repo, tc.prev, tc.entry)
			checkChainError(t, err, tc.reason, tc.msg)
		})
	}
	_ = v3

	t.Run("keyless writer", func(t *testing.T) {
		kt := signpolicy.Trust{Root: f.st.TrustedRoot, Writer: signpolicy.Writer{Identities: []signpolicy.Identity{{Issuer: f.st.Issuer, Subject: "builder@example.com"}}}}
		rec, err := signpolicy.NewRecord(repo, 1, "", p1)
		if err != nil {
			t.Fatal(err)
		}
		st, err := rec.Statement()
		if err != nil {
			t.Fatal(err)
		}
		var good, bad []byte
		parallel(
			func() {
				kp, o := f.st.KeylessOptions(t, "builder@example.com")
				good = testkit.SignStatement(t, kp, o, st)
			},
			func() {
				kp, o := f.st.KeylessOptions(t, "mallory@example.com")
				bad = testkit.SignStatement(t, kp, o, st)
			},
		)
		if _, err := signpolicy.VerifyNext(ctx, kt, repo, nil, signpolicy.Entry{Bundle: good}); err != nil {
			t.Errorf("signed by the writer's identity: %v", err)
		}
		_, err = signpolicy.VerifyNext(ctx, kt, repo, nil, signpolicy.Entry{Bundle: bad})
		checkChainError(t, err, signpolicy.ReasonWrongSigner, "mallory@example.com")
		// The writer's key does not vouch for a keyless writer's chain.
		_, err = signpolicy.VerifyNext(ctx, kt, repo, nil, signpolicy.Entry{Bundle: v1})
		checkChainError(t, err, signpolicy.ReasonWrongSigner, "not signed by the policy writer")
	})

	t.Run("reader", func(t *testing.T) {
		chain := []signpolicy.Entry{{Bundle: v1}, {Bundle: v2, Approvals: raws(bobUp, carolUp)}}
		c, err := signpolicy.VerifyChain(ctx, tr, repo, chain, nil)
		if err != nil {
			t.Fatalf("VerifyChain: %v", err)
		}
		head := c.Head()
		if head.Version != 2 || head.Digest != d2 {
			t.Fatalf("head %+v, want version 2 %s", head, d2)
		}
		if _, err := signpolicy.VerifyChain(ctx, tr, repo, chain, head); err != nil {
			t.Errorf("the same chain again: %v", err)
		}
		tests := []struct {
			name    string
			entries []signpolicy.Entry
			seen    *signpolicy.Head
			reason  signpolicy.Reason
			msg     string
		}{
			{"older version served", chain[:1], head, signpolicy.ReasonRollback, "the server's newest is version 1, but version 2 (" + d2 + ") was seen before"},
			{"no version served", nil, head, signpolicy.ReasonRollback, "the server's newest is no version"},
			{"fork served", []signpolicy.Entry{{Bundle: v1}, {Bundle: v2fork, Approvals: raws(bobUpOtherPolicy, aliceUpOtherPolicy)}}, head, signpolicy.ReasonFork,
				"the server's version 2 is " + signpolicy.Digest(p3) + ", but " + d2 + " was seen before"},
			{"a version skipped in the chain", []signpolicy.Entry{{Bundle: v1}, {Bundle: v3}}, nil, signpolicy.ReasonSkippedVersion, "version 3 does not follow version 1"},
			{"a version by someone else in the chain", []signpolicy.Entry{{Bundle: v1mallory}}, nil, signpolicy.ReasonWrongSigner, "not signed by the policy writer"},
			{"an under-approved update in the chain", []signpolicy.Entry{{Bundle: v1}, {Bundle: v2, Approvals: raws(aliceUp, bobUp)}}, nil, signpolicy.ReasonUnderApproved, "not allowed by the new policy"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := signpolicy.VerifyChain(ctx, tr, repo, tc.entries, tc.seen)
				checkChainError(t, err, tc.reason, tc.msg)
			})
		}
	})
}

func checkChainError(t *testing.T, err error, reason signpolicy.Reason, msg string) {
	t.Helper()
	var ce *signpolicy.ChainError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a ChainError (%s)", err, reason)
	}
	if ce.Reason != reason || !strings.Contains(err.Error(), msg) {
		t.Fatalf("got %v, want reason %q and %q", err, reason, msg)
	}
	if !strings.Contains(err.Error(), ": "+string(reason)+": ") {
		t.Errorf("the message %q does not name the reason %q", err, reason)
	}
}

func raws(bs ...[]byte) []json.RawMessage {
	out := make([]json.RawMessage, len(bs))
	for i, b := range bs {
		out[i] = b
	}
	return out
}

func TestScans(t *testing.T) {
	f := newFixture(t)
	pol, err := signpolicy.Parse(f.policy(t, `{"alice", "bob", "carol"}`, false))
	if err != nil {
		t.Fatal(err)
	}
	commit := strings.Repeat("5", 40)
	scan := func(subject map[string]string, predicateType string) []byte {
		st, err := json.Marshal(map[string]any{
			"_type":         "https://in-toto.io/Statement/v1",
			"subject":       []map[string]any{{"name": repo, "digest": subject}},
			"predicateType": predicateType,
			"predicate":     map[string]any{"scanner": map[string]any{"result": map[string]any{"passed": true}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	vuln := "https://cosign.sigstore.dev/attestation/vuln/v1"
	image := "sha256:" + strings.Repeat("6", 64)
	var ofCommit, ofImage, ofOther, byMallory, otherType []byte
	parallel(
		func() { ofCommit = f.st.SignWithKey(t, f.alice, scan(map[string]string{"gitCommit": commit}, vuln)) },
		func() {
			ofImage = f.st.SignWithKey(t, f.bob, scan(map[string]string{"sha256": strings.Repeat("6", 64)}, vuln))
		},
		func() {
			ofOther = f.st.SignWithKey(t, f.alice, scan(map[string]string{"gitCommit": strings.Repeat("7", 40)}, vuln))
		},
		func() { byMallory = f.st.SignWithKey(t, f.mallory, scan(map[string]string{"gitCommit": commit}, vuln)) },
		func() {
			otherType = f.st.SignWithKey(t, f.alice, scan(map[string]string{"gitCommit": commit}, "https://slsa.dev/provenance/v1"))
		},
	)
	facts, evidence, err := pol.Scans(f.st.TrustedRoot, []string{"gitCommit:" + commit, image}, [][]byte{ofCommit, ofImage, ofOther, byMallory, otherType})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range facts {
		got = append(got, s.Scanner+" "+s.Subject)
	}
	if want := []string{"alice gitCommit:" + commit, "bob " + image}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("scans %v, want %v", got, want)
	}
	wantDetail := []string{"scan by alice about gitCommit:", "scan by bob about sha256:", "signed by alice, but about none of", "unnamed signer", "predicate type"}
	for i, w := range wantDetail {
		if !strings.Contains(evidence[i].Detail, w) {
			t.Errorf("scan %d: got %q, want %q", i+1, evidence[i].Detail, w)
		}
	}
}
