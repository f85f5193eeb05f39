package testkit

import (
	"testing"

	"hallmark.dev/signpolicy"
)

// VersionRecord returns the statement of version n of repo's signing
// policy, the file policy, after the version whose digest is previous (""
// for version 1): what the policy writer signs.
func VersionRecord(t testing.TB, repo string, n int, previous string, policy []byte) []byte {
	t.Helper()
	r, err := signpolicy.NewRecord(repo, n, previous, policy)
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Statement()
	if err != nil {
		t.Fatal(err)
	}
	return st
}
