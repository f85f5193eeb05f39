package policystore_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"hallmark.dev/internal/policystore"
	"hallmark.dev/internal/quietlog"
	"hallmark.dev/internal/server"
	"hallmark.dev/internal/sharedstore"
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

func newKey(t *testing.T, dir, name string) (crypto.Signer, string) {
	t.Helper()
	s, pub := lite.NewPEMKey(t)
	if err := os.WriteFile(filepath.Join(dir, name+".pub"), []byte(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	return s, pub
}

// policyDoc is a policy under which two of alice, bob and carol approve.
func policyDoc(st *testkit.Stack, alicePEM, bobPEM, extra string) []byte {
	ind := func(s string) string {
		return "        " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n        ")
	}
	return []byte("principals:\n" +
		"  alice:\n    keys:\n      - |\n" + ind(alicePEM) + "\n" +
		"  bob:\n    keys:\n      - |\n" + ind(bobPEM) + "\n" +
		"  carol:\n    identities:\n      - issuer: " + st.Issuer + "\n        subject: carol@example.com\n" +
		`rego: |
  package hallmark.signing
  maintainers := {"alice", "bob", "carol"}
  default allow := false
  allow if count({a | some a in input.approvals; a in maintainers}) >= 2
` + extra)
}

func record(t *testing.T, n int, previous string, policy []byte) []byte {
	t.Helper()
	return testkit.VersionRecord(t, repo, n, previous, policy)
}

func approval(t *testing.T, a signpolicy.Approval) []byte {
	t.Helper()
	st, err := a.Statement()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func refused(t *testing.T, err error, status int, reason signpolicy.Reason, msg string) {
	t.Helper()
	var re *policystore.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a refusal (HTTP %d, %s)", err, status, reason)
	}
	if re.Status != status || re.Reason != reason || !strings.Contains(re.Message, msg) {
		t.Fatalf("got HTTP %d %q %q, want HTTP %d %q and %q", re.Status, re.Reason, re.Message, status, reason, msg)
	}
}

// starter starts a server on the data directory data (first) or again
// after the server it started last was closed.
type starter func(t *testing.T, data string, configure func(string, *server.Config)) *testkit.Stack

// TestStore runs the store's tests on the embedded store (one server, its
// records in the data directory, restarted) and on a replica set (its
// records in the shared database; the restart is another replica on a copy
// of the data directory, behind the same load balancer).
func TestStore(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		addr := testkit.FreeAddr(t)
		testStore(t, func(t *testing.T, data string, configure func(string, *server.Config)) *testkit.Stack {
			return testkit.StartStackIn(t, data, addr, configure)
		})
	})
	t.Run("replica set", func(t *testing.T) {
		db, bucket := testkit.SharedDatabase(t), testkit.SharedBucket(t)
		lb := testkit.StartLoadBalancer(t, "")
		started := 0
		testStore(t, func(t *testing.T, data string, configure func(string, *server.Config)) *testkit.Stack {
			dir := data
			if started++; started > 1 {
				dir = t.TempDir()
				testkit.CopyDir(t, data, dir)
			}
			shared := testkit.SharedConfig(db, bucket, lb.URL)
			st := testkit.StartStackIn(t, dir, "", func(url string, cfg *server.Config) {
				shared(url, cfg)
				configure(url, cfg)
			})
			lb.SetBackends(st.Server.Addr().String())
			return st
		})
	})
}

func testStore(t *testing.T, start starter) {
	ctx := context.Background()
	dir := t.TempDir()
	writer, _ := newKey(t, dir, "writer")
	alice, alicePEM := newKey(t, dir, "alice")
	bob, bobPEM := newKey(t, dir, "bob")
	mallory, _ := newKey(t, dir, "mallory")
	data := filepath.Join(dir, "data")
	configure := func(url string, cfg *server.Config) {
		cfg.SigningPolicy.WriterKeys = []string{filepath.Join(dir, "writer.pub")}
	}
	st := start(t, data, configure)
	c := &policystore.Client{BaseURL: st.URL}
	trust := signpolicy.Trust{Root: st.TrustedRoot, Writer: signpolicy.Writer{Keys: []crypto.PublicKey{writer.Public()}}}

	p1 := policyDoc(st, alicePEM, bobPEM, "")
	p2 := policyDoc(st, alicePEM, bobPEM, "  # version 2\n")
	d1, d2 := signpolicy.Digest(p1), signpolicy.Digest(p2)

	if got, err := c.Versions(ctx, repo); err != nil || len(got) != 0 {
		t.Fatalf("a new repository: got %d versions, %v; want none", len(got), err)
	}
	_, _, err := c.Publish(ctx, signpolicy.Entry{Bundle: st.SignWithKey(t, mallory, record(t, 1, "", p1))})
	refused(t, err, http.StatusForbidden, signpolicy.ReasonWrongSigner, "not signed by the policy writer")
	_, _, err = c.Publish(ctx, signpolicy.Entry{Bundle: st.SignWithKey(t, writer, record(t, 2, d1, p1))})
	refused(t, err, http.StatusConflict, signpolicy.ReasonSkippedVersion, "the first version must be version 1")

	n, d, err := c.Publish(ctx, signpolicy.Entry{Bundle: st.SignWithKey(t, writer, record(t, 1, "", p1))})
	if err != nil || n != 1 || d != d1 {
		t.Fatalf("publish version 1: got %d %s %v, want 1 %s", n, d, err, d1)
	}

	// Approvals of version 2 are stored on the server, then carried by it.
	up := signpolicy.Approval{Repository: repo, Kind: signpolicy.KindPolicyUpdate, Policy: &signpolicy.PolicyFact{Version: 2, Digest: d2, PreviousDigest: d1}}
	aliceUp := st.SignWithKey(t, alice, approval(t, up))
	for _, b := range [][]byte{aliceUp, aliceUp} {
		if err := c.AddApproval(ctx, b); err != nil {
			t.Fatalf("add approval: %v", err)
		}
	}
	got, err := c.Approvals(ctx, up)
	if err != nil || len(got) != 1 {
		t.Fatalf("approvals: got %d, %v; want 1 (the same approval twice is stored once)", len(got), err)
	}
	v2 := st.SignWithKey(t, writer, record(t, 2, d1, p2))
	_, _, err = c.Publish(ctx, signpolicy.Entry{Bundle: v2, Approvals: []json.RawMessage{aliceUp}})
	refused(t, err, http.StatusForbidden, signpolicy.ReasonUnderApproved, "not allowed by the previous policy (version 1)")

	carolUp := st.SignKeyless(t, "carol@example.com", approval(t, up))
	if err := c.AddApproval(ctx, carolUp); err != nil {
		t.Fatal(err)
	}
	got, err = c.Approvals(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	e2 := signpolicy.Entry{Bundle: v2}
	for _, b := range got {
		e2.Approvals = append(e2.Approvals, b)
	}
	if n, _, err := c.Publish(ctx, e2); err != nil || n != 2 {
		t.Fatalf("publish version 2 with two approvals: got %d, %v", n, err)
	}

	tests := []struct {
		name   string
		entry  signpolicy.Entry
		status int
		reason signpolicy.Reason
		msg    string
	}{
		{"rollback", signpolicy.Entry{Bundle: st.SignWithKey(t, writer, record(t, 1, "", p2))}, http.StatusConflict, signpolicy.ReasonRollback, "version 1 is not after version 2"},
		{"skipped version", signpolicy.Entry{Bundle: st.SignWithKey(t, writer, record(t, 4, d2, p1))}, http.StatusConflict, signpolicy.ReasonSkippedVersion, "version 4 does not follow version 2"},
		{"fork", signpolicy.Entry{Bundle: st.SignWithKey(t, writer, record(t, 3, d1, p1))}, http.StatusConflict, signpolicy.ReasonFork, "names " + d1 + " as its predecessor"},
		{"wrong signer", signpolicy.Entry{Bundle: st.SignWithKey(t, bob, record(t, 3, d2, p1))}, http.StatusForbidden, signpolicy.ReasonWrongSigner, "not signed by the policy writer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.Publish(ctx, tc.entry)
			refused(t, err, tc.status, tc.reason, tc.msg)
		})
	}

	t.Run("approvals", func(t *testing.T) {
		commit := strings.Repeat("a", 40)
		rel := signpolicy.Approval{Repository: repo, Kind: signpolicy.KindRelease, Commit: commit}
		kp, err := sign.NewKeySigner(alice)
		if err != nil {
			t.Fatal(err)
		}
		unlogged := testkit.SignStatement(t, kp, sign.Options{}, approval(t, rel))
		err = c.AddApproval(ctx, unlogged)
		refused(t, err, http.StatusBadRequest, "", "carries no transparency log entry")
		err = c.AddApproval(ctx, v2)
		refused(t, err, http.StatusBadRequest, "", "predicate type "+signpolicy.VersionPredicateType)
		if err := c.AddApproval(ctx, st.SignWithKey(t, bob, approval(t, rel))); err != nil {
			t.Fatal(err)
		}
		elsewhere := rel
		elsewhere.Repository = "git.example.com/acme/ungoverned"
		err = c.AddApproval(ctx, st.SignWithKey(t, bob, approval(t, elsewhere)))
		refused(t, err, http.StatusConflict, "", "git.example.com/acme/ungoverned: the repository has no signing policy on this server")
		if got, err := c.Approvals(ctx, rel); err != nil || len(got) != 1 {
			t.Fatalf("approvals of %s: got %d, %v; want 1", commit, len(got), err)
		}
		other := rel
		other.Commit = strings.Repeat("b", 40)
		if got, err := c.Approvals(ctx, other); err != nil || len(got) != 0 {
			t.Fatalf("approvals of another commit: got %d, %v; want none", len(got), err)
		}
	})

	// After a restart the chain is there, verifies, and extends.
	st.Server.Close()
	st2 := start(t, data, configure)
	c2 := &policystore.Client{BaseURL: st2.URL}
	entries, err := c2.Versions(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := signpolicy.VerifyChain(ctx, trust, repo, entries, nil)
	if err != nil {
		t.Fatalf("the chain after a restart: %v", err)
	}
	if h := chain.Head(); h.Version != 2 || h.Digest != d2 {
		t.Fatalf("head after a restart: %+v, want version 2 %s", h, d2)
	}
	_, _, err = c2.Publish(ctx, signpolicy.Entry{Bundle: st2.SignWithKey(t, writer, record(t, 2, d1, p1))})
	refused(t, err, http.StatusConflict, signpolicy.ReasonRollback, "version 2 is not after version 2")
}

func TestStoreKeylessWriter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, alicePEM := newKey(t, dir, "alice")
	_, bobPEM := newKey(t, dir, "bob")
	st := testkit.StartStack(t, func(url string, cfg *server.Config) {
		cfg.SigningPolicy.Writers = []signpolicy.Identity{{Issuer: url + "/oidc", Subject: "builder@example.com"}}
	})
	c := &policystore.Client{BaseURL: st.URL}
	p1 := policyDoc(st, alicePEM, bobPEM, "")
	_, _, err := c.Publish(ctx, signpolicy.Entry{Bundle: st.SignKeyless(t, "mallory@example.com", record(t, 1, "", p1))})
	refused(t, err, http.StatusForbidden, signpolicy.ReasonWrongSigner, "mallory@example.com")
	if n, _, err := c.Publish(ctx, signpolicy.Entry{Bundle: st.SignKeyless(t, "builder@example.com", record(t, 1, "", p1))}); err != nil || n != 1 {
		t.Fatalf("publish by the keyless writer: %d, %v", n, err)
	}
}

func TestStoreWithoutWriter(t *testing.T) {
	dir := t.TempDir()
	writer, alicePEM := newKey(t, dir, "writer")
	st := testkit.StartStack(t, nil)
	c := &policystore.Client{BaseURL: st.URL}
	_, _, err := c.Publish(context.Background(), signpolicy.Entry{Bundle: st.SignWithKey(t, writer, record(t, 1, "", policyDoc(st, alicePEM, alicePEM+"\n", "")))})
	refused(t, err, http.StatusForbidden, "", "this server has no policy writer configured")
}

// TestStoreReplicas publishes a chain through two replicas in turn: each
// verifies the versions the other stored before it accepts the next one
// (a replica that trusted its own last view would refuse version 3 as a
// skipped version), and of two different versions 4 sent to both at once
// exactly one is stored, the other refused as a conflict.
func TestStoreReplicas(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writer, _ := newKey(t, dir, "writer")
	alice, alicePEM := newKey(t, dir, "alice")
	bob, bobPEM := newKey(t, dir, "bob")
	db, bucket := testkit.SharedDatabase(t), testkit.SharedBucket(t)
	lb := testkit.StartLoadBalancer(t, "")
	shared := testkit.SharedConfig(db, bucket, lb.URL)
	configure := func(url string, cfg *server.Config) {
		shared(url, cfg)
		cfg.SigningPolicy.WriterKeys = []string{filepath.Join(dir, "writer.pub")}
	}
	a := testkit.StartStackIn(t, filepath.Join(dir, "a"), "", configure)
	testkit.CopyDir(t, filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	b := testkit.StartStackIn(t, filepath.Join(dir, "b"), "", configure)
	lb.SetBackends(a.Server.Addr().String(), b.Server.Addr().String())
	clients := []*policystore.Client{{BaseURL: "http://" + a.Server.Addr().String()}, {BaseURL: "http://" + b.Server.Addr().String()}}

	var policies [][]byte
	for i := range 5 {
		policies = append(policies, policyDoc(a, alicePEM, bobPEM, fmt.Sprintf("  # version %d\n", i+1)))
	}
	entry := func(n int, policy []byte) signpolicy.Entry {
		prev := ""
		if n > 1 {
			prev = signpolicy.Digest(policies[n-2])
		}
		e := signpolicy.Entry{Bundle: a.SignWithKey(t, writer, record(t, n, prev, policy))}
		if n > 1 {
			up := signpolicy.Approval{Repository: repo, Kind: signpolicy.KindPolicyUpdate, Policy: &signpolicy.PolicyFact{Version: n, Digest: signpolicy.Digest(policy), PreviousDigest: prev}}
			for _, k := range []crypto.Signer{alice, bob} {
				e.Approvals = append(e.Approvals, a.SignWithKey(t, k, approval(t, up)))
			}
		}
		return e
	}
	for n := 1; n <= 3; n++ {
		c := clients[(n-1)%2]
		if got, _, err := c.Publish(ctx, entry(n, policies[n-1])); err != nil || got != n {
			t.Fatalf("version %d through replica %d: got %d, %v", n, (n-1)%2, got, err)
		}
	}

	fork := policyDoc(a, alicePEM, bobPEM, "  # the other version 4\n")
	entries := []signpolicy.Entry{entry(4, policies[3]), entry(4, fork)}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { _, _, errs[i] = clients[i].Publish(ctx, entries[i]) })
	}
	wg.Wait()
	var stored int
	for i, err := range errs {
		if err == nil {
			stored++
			continue
		}
		var re *policystore.RefusedError
		if !errors.As(err, &re) || re.Status != http.StatusConflict || (re.Reason != signpolicy.ReasonFork && re.Reason != signpolicy.ReasonRollback) {
			t.Fatalf("version 4 through replica %d: got %v, want stored or refused with 409 (fork or rollback)", i, err)
		}
	}
	if stored != 1 {
		t.Fatalf("%d of two different versions 4 stored, want 1", stored)
	}
	got, err := clients[1].Versions(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	trust := signpolicy.Trust{Root: a.TrustedRoot, Writer: signpolicy.Writer{Keys: []crypto.PublicKey{writer.Public()}}}
	if chain, err := signpolicy.VerifyChain(ctx, trust, repo, got, nil); err != nil || chain.Head().Version != 4 {
		t.Fatalf("the stored chain: %v, %v; want 4 versions that verify", chain, err)
	}
}

// TestCopy copies a store from a data directory into the database of a
// replica set, twice (a rerun changes nothing): the chain and the
// approvals read back the same.
func TestCopy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writer, _ := newKey(t, dir, "writer")
	_, alicePEM := newKey(t, dir, "alice")
	bob, bobPEM := newKey(t, dir, "bob")
	data := filepath.Join(dir, "data")
	st := testkit.StartStackIn(t, data, "", func(url string, cfg *server.Config) {
		cfg.SigningPolicy.WriterKeys = []string{filepath.Join(dir, "writer.pub")}
	})
	c := &policystore.Client{BaseURL: st.URL}
	if _, _, err := c.Publish(ctx, signpolicy.Entry{Bundle: st.SignWithKey(t, writer, record(t, 1, "", policyDoc(st, alicePEM, bobPEM, "")))}); err != nil {
		t.Fatal(err)
	}
	rel := signpolicy.Approval{Repository: repo, Kind: signpolicy.KindRelease, Commit: strings.Repeat("c", 40)}
	bobRel := st.SignWithKey(t, bob, approval(t, rel))
	if err := c.AddApproval(ctx, bobRel); err != nil {
		t.Fatal(err)
	}
	wantVersions, err := c.Versions(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	st.Server.Close()

	s, err := sharedstore.Open(ctx, sharedstore.Config{Database: testkit.SharedDatabase(t), ObjectStore: testkit.SharedBucket(t), AccessKeyID: testkit.TestS3AccessKey, SecretAccessKey: testkit.TestS3SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 {
		res, err := policystore.Copy(ctx, filepath.Join(data, "signing-policy"), s.DB)
		if err != nil {
			t.Fatal(err)
		}
		if res != (policystore.CopyResult{Repositories: 1, Versions: 1, Approvals: 1}) {
			t.Fatalf("copied %+v, want one repository, version and approval", res)
		}
	}
	copied, err := policystore.NewSQL(ctx, policystore.Config{}, s.DB, st.TrustedRoot, nil)
	if err != nil {
		t.Fatal(err)
	}
	gotVersions, err := copied.Versions(ctx, repo)
	if err != nil || len(gotVersions) != 1 || !bytes.Equal(gotVersions[0].Bundle, wantVersions[0].Bundle) {
		t.Fatalf("versions in the copy: %d, %v; want the one published", len(gotVersions), err)
	}
	gotApprovals, err := copied.Approvals(ctx, repo, rel.Commit, "")
	if err != nil || len(gotApprovals) != 1 || !bytes.Equal(gotApprovals[0], bobRel) {
		t.Fatalf("approvals in the copy: %d, %v; want the one stored", len(gotApprovals), err)
	}
}
