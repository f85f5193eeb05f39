// Package hallmark signs what a team builds and lets everyone downstream
// check it, on infrastructure the team runs itself.
//
// The public packages at the module root are the produce-and-check path that
// integrators embed:
//
//   - [hallmark.dev/keys]: cosign-compatible key files.
//   - [hallmark.dev/oci]: where signatures live in an OCI registry (OCI 1.1
//     referrers, the referrers tag schema, cosign's legacy tags);
//     [hallmark.dev/oci/store] reads and writes them in a registry.
//   - [hallmark.dev/attest]: in-toto statements and the payloads cosign signs.
//   - [hallmark.dev/sign]: signers that produce Sigstore bundles.
//   - [hallmark.dev/verify]: verification of bundles, attestations and
//     legacy signatures, with keys or keyless identities under a trusted root.
//   - [hallmark.dev/tlog]: C2SP checkpoints and Merkle proofs.
//   - [hallmark.dev/policy]: the verification policy interface, and CUE and
//     Rego policies over verified statements.
//   - [hallmark.dev/gate]: the CVE gate over trivy and grype reports, and
//     the check of its attestations.
//   - [hallmark.dev/sbom]: CycloneDX and SPDX SBOMs and the image they name.
//   - [hallmark.dev/slsa]: SLSA provenance requirements, as slsa-verifier
//     checks them.
//   - [hallmark.dev/signpolicy]: the signing policy a source commit must
//     satisfy before anything built from it is signed.
//
// Everything only the hallmark binary runs lives under internal/: the
// server and its trust stack, the commands' operations, and the Kubernetes
// admission webhook (internal/admission), which judges images under sigstore
// policy-controller's ClusterImagePolicies with verify and the checks of
// policy, gate, slsa and signpolicy.
package hallmark
