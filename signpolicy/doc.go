// Package signpolicy is hallmark's signing policy: the rules a source
// commit must satisfy before a builder signs anything built from it, kept
// as a signed, append-only chain of versions per source repository.
//
// # The policy document
//
// A policy is a YAML file (read strictly: exact keys, unknown fields,
// repeated keys, anchors and aliases refused) with two fields:
//
//	principals:            # who may sign what the rules talk about, by name
//	  release-hsm:
//	    keys:              # OpenSSH authorized_keys lines, PEM/PKIX public
//	      - ecdsa-sha2-nistp256 AAAA…   keys (cosign.pub), OpenPGP armored keys
//	  alice:
//	    identities:        # keyless signers: an OIDC issuer and subject,
//	      - issuer: https://accounts.example.com    both exact
//	        subject: alice@example.com
//	rego: |                # an OPA Rego v1 module (https://www.openpolicyagent.org/docs/policy-language)
//	  package hallmark.signing
//	  default allow := false
//	  allow if { … }
//	  deny contains msg if { … }    # optional
//
// A key or identity belongs to one principal only. The policy's digest is
// the SHA-256 of the file's bytes, "sha256:<hex>".
//
// # What the rules see
//
// The module sees only verified facts ([Input]): the kind ("release" or
// "policy-update"), the repository, the commit, the release tag with the
// principal whose key verified its signature over exactly that tag object
// (absent for anything less), the set of distinct principals whose
// approvals of exactly this commit or policy version verified, verified
// scan results, and for updates the policy version being approved. The
// verdict ([Decision]) allows only when `allow` is true and `deny` is
// empty; an undefined `allow`, a Rego error or a policy that does not
// parse denies, naming the cause. Builtins that reach outside the
// evaluation are not available.
//
// # Statements
//
// Approvals and policy versions are in-toto Statements v1
// (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md)
// signed as DSSE envelopes in Sigstore bundles, each logged in a
// transparency log:
//
//   - [ApprovalPredicateType]: subject the commit ({"gitCommit": hex},
//     named by the repository) or the policy digest ({"sha256": hex});
//     the predicate binds repository, kind, and the commit or the policy
//     version, digest and predecessor ([Approval]).
//   - [VersionPredicateType]: subject the policy digest; the predicate
//     binds repository, version number, digest, predecessor's digest and
//     the policy text ([Record]), signed by the policy writer.
//
// # The chain
//
// Version 1 is signed by the writer. Version N+1 is signed by the writer,
// names version N's digest as its predecessor, and carries approvals that
// the policies of both version N and version N+1 allow for kind
// "policy-update". [VerifyChain] checks a whole chain from version 1 and
// compares it with the newest version a reader saw before ([Head]), so a
// rollback or a fork is caught; [VerifyNext] checks one new version, as a
// server does before it accepts it. Failures are [*ChainError]s that name
// the [Reason].
//
// The package is pure: it reads no files, network or environment. Git
// facts are read by the caller (hallmark's internal/gitfacts).
package signpolicy
