package signpolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"hallmark.dev/attest"
	"hallmark.dev/internal/jsonstrict"
)

// Predicate types of the statements this package signs and verifies.
const (
	ApprovalPredicateType = "https://hallmark.dev/signing-policy/approval/v1"
	VersionPredicateType  = "https://hallmark.dev/signing-policy/version/v1"
)

// Approval is what an approver signs: one commit of one repository (kind
// release), or one version of one repository's policy (kind
// policy-update). It is bound to all of it: an approval of another commit,
// repository, policy digest, version or predecessor is another approval.
type Approval struct {
	Repository string `json:"repository"`
	Kind       Kind   `json:"kind"`
	// Commit is the approved commit (releases).
	Commit string `json:"commit,omitempty"`
	// Policy is the approved policy version (updates).
	Policy *PolicyFact `json:"policy,omitempty"`
}

// Check checks that the approval is well formed.
func (a Approval) Check() error {
	if err := CheckRepository(a.Repository); err != nil {
		return err
	}
	switch a.Kind {
	case KindRelease:
		if a.Policy != nil {
			return errors.New("a release approval names no policy")
		}
		return CheckCommit(a.Commit)
	case KindPolicyUpdate:
		if a.Commit != "" {
			return errors.New("a policy-update approval names no commit")
		}
		if a.Policy == nil {
			return errors.New("a policy-update approval names the policy version")
		}
		if err := CheckDigest(a.Policy.Digest); err != nil {
			return err
		}
		if a.Policy.Version < 2 {
			return fmt.Errorf("policy version %d: updates start at version 2", a.Policy.Version)
		}
		if err := CheckDigest(a.Policy.PreviousDigest); err != nil {
			return fmt.Errorf("previous %w", err)
		}
		return nil
	}
	return fmt.Errorf("kind %q: want %s or %s", a.Kind, KindRelease, KindPolicyUpdate)
}

// String describes what is approved.
func (a Approval) String() string {
	if a.Kind == KindRelease {
		return fmt.Sprintf("release of commit %s of %s", a.Commit, a.Repository)
	}
	if a.Policy == nil {
		return "policy update of " + a.Repository
	}
	return fmt.Sprintf("policy update of %s to version %d (%s, after %s)", a.Repository, a.Policy.Version, a.Policy.Digest, a.Policy.PreviousDigest)
}

// subject is the statement subject: the commit, or the policy digest.
func (a Approval) subject() attest.Subject {
	if a.Kind == KindRelease {
		return attest.Subject{Name: a.Repository, Digest: map[string]string{"gitCommit": a.Commit}}
	}
	return attest.Subject{Name: a.Repository, Digest: map[string]string{"sha256": strings.TrimPrefix(a.Policy.Digest, "sha256:")}}
}

// Statement returns the in-toto statement an approver signs.
func (a Approval) Statement() ([]byte, error) {
	if err := a.Check(); err != nil {
		return nil, fmt.Errorf("signpolicy: approval: %w", err)
	}
	return statement(a.subject(), ApprovalPredicateType, a)
}

// ParseApproval reads an approval statement (the signed payload). The
// subject must be exactly the one the predicate implies.
func ParseApproval(payload []byte) (Approval, error) {
	var a Approval
	st, err := parseStatement(payload, ApprovalPredicateType, &a)
	if err != nil {
		return Approval{}, fmt.Errorf("signpolicy: approval: %w", err)
	}
	if err := a.Check(); err != nil {
		return Approval{}, fmt.Errorf("signpolicy: approval: %w", err)
	}
	if err := sameSubject(st, a.subject()); err != nil {
		return Approval{}, fmt.Errorf("signpolicy: approval: %w", err)
	}
	return a, nil
}

// Record is one version of a repository's policy, as the writer signs it.
type Record struct {
	Repository string `json:"repository"`
	Version    int    `json:"version"`
	// Digest is the policy's digest, sha256 of Policy's bytes.
	Digest string `json:"digest"`
	// PreviousDigest is version-1's digest; empty for version 1.
	PreviousDigest string `json:"previousDigest,omitempty"`
	// Policy is the policy file's text.
	Policy string `json:"policy"`
}

// NewRecord returns the record of a policy file as version n after
// previous ("" for version 1).
func NewRecord(repo string, n int, previous string, policyFile []byte) (Record, error) {
	r := Record{Repository: repo, Version: n, Digest: Digest(policyFile), PreviousDigest: previous, Policy: string(policyFile)}
	if err := r.check(); err != nil {
		return Record{}, fmt.Errorf("signpolicy: version record: %w", err)
	}
	return r, nil
}

func (r Record) check() error {
	if err := checkVersion(r.Repository, r.Version, r.Digest); err != nil {
		return err
	}
	if got := Digest([]byte(r.Policy)); got != r.Digest {
		return fmt.Errorf("the policy text's digest is %s, the record says %s", got, r.Digest)
	}
	if r.Version == 1 && r.PreviousDigest != "" {
		return errors.New("version 1 has no predecessor")
	}
	if r.Version > 1 {
		if err := CheckDigest(r.PreviousDigest); err != nil {
			return fmt.Errorf("previous %w", err)
		}
	}
	return nil
}

// checkVersion checks what names a version of a repository's policy: the
// repository, the version number (from 1) and the policy's digest.
func checkVersion(repo string, version int, digest string) error {
	if err := CheckRepository(repo); err != nil {
		return err
	}
	if version < 1 {
		return fmt.Errorf("version %d: versions start at 1", version)
	}
	return CheckDigest(digest)
}

// Statement returns the in-toto statement the writer signs.
func (r Record) Statement() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("signpolicy: version record: %w", err)
	}
	subj := attest.Subject{Name: r.Repository, Digest: map[string]string{"sha256": strings.TrimPrefix(r.Digest, "sha256:")}}
	return statement(subj, VersionPredicateType, r)
}

// ParseRecord reads a version statement (the signed payload).
func ParseRecord(payload []byte) (Record, error) {
	var r Record
	st, err := parseStatement(payload, VersionPredicateType, &r)
	if err != nil {
		return Record{}, fmt.Errorf("signpolicy: version record: %w", err)
	}
	if err := r.check(); err != nil {
		return Record{}, fmt.Errorf("signpolicy: version record: %w", err)
	}
	subj := attest.Subject{Name: r.Repository, Digest: map[string]string{"sha256": strings.TrimPrefix(r.Digest, "sha256:")}}
	if err := sameSubject(st, subj); err != nil {
		return Record{}, fmt.Errorf("signpolicy: version record: %w", err)
	}
	return r, nil
}

func statement(subj attest.Subject, predicateType string, predicate any) ([]byte, error) {
	pred, err := json.Marshal(predicate)
	if err != nil {
		return nil, err
	}
	return json.Marshal(attest.Statement{
		Type:          attest.StatementTypeV1,
		Subject:       []attest.Subject{subj},
		PredicateType: predicateType,
		Predicate:     pred,
	})
}

// parseStatement parses a statement of the predicate type and decodes its
// predicate into v strictly: exact keys, no unknown fields, no trailing
// data (attest.ParseStatement already refuses repeated keys anywhere).
func parseStatement(payload []byte, predicateType string, v any) (*attest.Statement, error) {
	st, err := attest.ParseStatement(payload)
	if err != nil {
		return nil, err
	}
	if st.Type != attest.StatementTypeV1 {
		return nil, fmt.Errorf("statement type %s, want %s", st.Type, attest.StatementTypeV1)
	}
	if st.PredicateType != predicateType {
		return nil, fmt.Errorf("predicate type %s, want %s", st.PredicateType, predicateType)
	}
	if err := decodeExact(st.Predicate, v); err != nil {
		return nil, fmt.Errorf("predicate: %w", err)
	}
	return st, nil
}

// decodeExact decodes a predicate into v strictly: v's fields only,
// spelled exactly (encoding/json would match "Kind" to kind), no key
// repeated, nothing after the value.
func decodeExact(data []byte, v any) error {
	return jsonstrict.Unmarshal(data, v, jsonstrict.Rules{
		MaxDepth: 8,
		FoldKeys: true,
		Fields:   jsonstrict.FieldsOf(v),
		Name: func(p jsonstrict.Path) string {
			if len(p) == 0 {
				return "the predicate"
			}
			return p.String()
		},
	})
}

// sameSubject checks that the statement has exactly the one subject want.
func sameSubject(st *attest.Statement, want attest.Subject) error {
	if len(st.Subject) != 1 {
		return fmt.Errorf("%d subjects, want exactly 1", len(st.Subject))
	}
	got := st.Subject[0]
	if got.Name != want.Name || got.URI != "" || len(got.Digest) != len(want.Digest) || got.Content != nil ||
		got.DownloadLocation != "" || got.MediaType != "" || len(got.Annotations) != 0 {
		return fmt.Errorf("subject %q does not match the predicate (want name %q and only a digest)", got.Name, want.Name)
	}
	for alg, d := range want.Digest {
		if got.Digest[alg] != d {
			return fmt.Errorf("subject digest %s:%s does not match the predicate's %s", alg, got.Digest[alg], d)
		}
	}
	return nil
}
