// Package gate decides whether a vulnerability scan of a container image
// lets the image through, under a written CVE policy and a file of
// documented exceptions.
//
// It reads the reports of two scanners into one finding model:
//
//   - trivy's JSON report, schema version 2 (trivy image --format json):
//     Results[].Class/Type/Target/Vulnerabilities[] with VulnerabilityID,
//     PkgName, PkgPath, PkgIdentifier.PURL, InstalledVersion, FixedVersion,
//     Status and Severity; the scanned image in ArtifactName, which must
//     name it by digest (Metadata.RepoDigests may name other images).
//   - grype's JSON document (grype -o json): matches[].vulnerability{id,
//     severity, fix{state, versions}} and matches[].artifact{name, version,
//     type, purl, locations}; the scanned image in
//     source.target.manifestDigest (or the digest of its userInput).
//
// A [Policy] pins which findings block: severities, package classes (OS
// packages, language packages) and whether only findings with a fix
// block. Flags may tighten a policy ([Policy.Tighten]) but never loosen it.
//
// [Exceptions] are read from trivy's .trivyignore.yaml format; every entry
// must carry a statement (why) and an expired_at date after which the
// finding blocks again, from 00:00 UTC of that date.
//
// [Evaluate] is pure: it takes the parsed report, policy, exceptions, the
// image digest the report must be for and the current time, and returns a
// [Result]. [Result.Predicate] turns a result into cosign's vulnerability
// attestation predicate (https://cosign.sigstore.dev/attestation/vuln/v1).
//
// [NewCheck] is the other side: a verification policy ([hallmark.dev/policy]
// Check) over the verified gate attestations of an image (the gate passed,
// for this digest, signed and scanned within
// [AttestationRequirements.MaxAge], optionally under a given gate policy),
// as verify-attestation runs it. Who must have signed them is
// the verifier's authority, not this package's concern.
//
// The package does no I/O: running a scanner belongs to the caller.
package gate
