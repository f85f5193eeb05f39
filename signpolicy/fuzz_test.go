package signpolicy_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/signpolicy"
)

// FuzzParse checks that a policy that parses is exactly its bytes: the
// digest is theirs, and every principal has a valid, unique name and a
// key or an identity.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../docs/signing-policy.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("principals:\n  a:\n    identities: [{issuer: i, subject: s}]\n" + allowAll))
	f.Add([]byte("principals: {a: {keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl']}}\nrego: 'package hallmark.signing\n\nallow := true'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := signpolicy.Parse(data)
		if err != nil {
			return
		}
		if got, want := p.Digest(), signpolicy.Digest(data); got != want {
			t.Fatalf("digest %s, want %s", got, want)
		}
		if !bytes.Equal(p.Bytes(), data) {
			t.Fatal("Bytes differs from the input")
		}
		seen := map[string]bool{}
		for _, pr := range p.Principals() {
			if seen[pr.Name] || pr.Name == "" || pr.Name == signpolicy.ReservedPrincipal {
				t.Fatalf("principal %q: repeated, empty or reserved", pr.Name)
			}
			seen[pr.Name] = true
			if len(pr.Keys) == 0 && len(pr.Identities) == 0 {
				t.Fatalf("principal %s has no key and no identity", pr.Name)
			}
		}
	})
}

// FuzzParseApproval checks that an approval that parses is the one its
// statement says: making its statement again and parsing that gives the
// same approval.
func FuzzParseApproval(f *testing.F) {
	for _, a := range []signpolicy.Approval{
		{Repository: "git.example.com/acme/app", Kind: signpolicy.KindRelease, Commit: strings.Repeat("a", 40)},
		{Repository: "git.example.com/acme/app", Kind: signpolicy.KindPolicyUpdate, Policy: &signpolicy.PolicyFact{Version: 2,
			Digest: "sha256:" + strings.Repeat("b", 64), PreviousDigest: "sha256:" + strings.Repeat("c", 64)}},
	} {
		st, err := a.Statement()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(st)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := signpolicy.ParseApproval(data)
		if err != nil {
			return
		}
		st, err := a.Statement()
		if err != nil {
			t.Fatalf("a parsed approval makes no statement: %v", err)
		}
		b, err := signpolicy.ParseApproval(st)
		if err != nil {
			t.Fatalf("the approval's own statement does not parse: %v", err)
		}
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("round trip (-parsed +again):\n%s", diff)
		}
	})
}

// FuzzParseRecord: a version record that parses carries a policy whose
// digest is the record's.
func FuzzParseRecord(f *testing.F) {
	r, err := signpolicy.NewRecord("git.example.com/acme/app", 2, "sha256:"+strings.Repeat("c", 64), []byte("principals: {}\n"))
	if err != nil {
		f.Fatal(err)
	}
	st, err := r.Statement()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(st)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := signpolicy.ParseRecord(data)
		if err != nil {
			return
		}
		if signpolicy.Digest([]byte(r.Policy)) != r.Digest {
			t.Fatalf("record digest %s is not its policy's", r.Digest)
		}
		if (r.Version == 1) != (r.PreviousDigest == "") {
			t.Fatalf("version %d with predecessor %q", r.Version, r.PreviousDigest)
		}
	})
}

// FuzzAddToProvenance: a provenance predicate the record is added to reads
// back exactly that record, cannot take a second one, and whatever
// ProvenanceRecord reads from any predicate is a well-formed record.
func FuzzAddToProvenance(f *testing.F) {
	f.Add([]byte(provV1))
	f.Add([]byte(`{"buildDefinition":{"internalParameters":null}}`))
	f.Add([]byte(`{"buildDefinition":{"internalParameters":{"https://hallmark.dev/signing-policy/v1":{"repository":"r","version":1,"digest":"sha256:` + strings.Repeat("a", 64) + `","tag":"v1","commit":"` + strings.Repeat("c", 40) + `"}}}}`))
	rec := signpolicy.ReleaseRecord{Repository: "git.example.com/acme/app", Version: 3, Digest: "sha256:" + strings.Repeat("e", 64), Tag: "v2", Commit: strings.Repeat("f", 40)}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, err := signpolicy.ProvenanceRecord(data); err == nil && got != nil {
			if err := got.Check(); err != nil {
				t.Fatalf("read a malformed record %+v: %v", got, err)
			}
		}
		out, err := signpolicy.AddToProvenance(data, rec)
		if err != nil {
			return
		}
		got, err := signpolicy.ProvenanceRecord(out)
		if err != nil {
			t.Fatalf("the predicate with the record does not read: %v", err)
		}
		if diff := cmp.Diff(&rec, got); diff != "" {
			t.Fatalf("record read back (-want +got):\n%s", diff)
		}
		if signpolicy.Recorded(data) || !signpolicy.Recorded(out) {
			t.Fatalf("Recorded: %v before, %v after, want false then true", signpolicy.Recorded(data), signpolicy.Recorded(out))
		}
		if _, err := signpolicy.AddToProvenance(out, rec); !errors.Is(err, signpolicy.ErrRecorded) {
			t.Fatalf("a second record: got %v, want ErrRecorded", err)
		}
	})
}
