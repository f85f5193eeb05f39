// Package admission is the engine of hallmark's Kubernetes admission
// webhook (admission.k8s.io/v1 AdmissionReview,
// https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/):
// a mutating webhook that pins image tags to the digests they name, a
// validating webhook that admits a workload only when every image in it
// passes every ClusterImagePolicy that matches it, and a validating webhook
// for the policies themselves.
//
// Policies are sigstore policy-controller's ClusterImagePolicy and TrustRoot
// resources (policy.sigstore.dev v1alpha1 and v1beta1, read by package cip),
// compiled by [Compile] and swapped in with [Engine.SetPolicies]. As in
// policy-controller, every matching policy must pass and, within one, one
// authority suffices. An authority is a verify.Authority built by
// verify.NewAuthority; the checks of its attestations (an attestation's cue
// or rego policy, and hallmark's requirements set by admission.hallmark.dev/
// annotations: gate.NewCheck, slsa.NewCheck, signpolicy.NewProvenanceCheck)
// are policy.Checks run by policy.Run. hallmark.go is the one file that
// calls those packages and the registry client.
//
// Verdicts are cached per (repository and digest, policy, policy generation) and tags per
// (credentials identity, reference) for a short time (decision D24). Every
// failure denies: a registry that does not answer within the webhook's
// time, a policy that cannot be used, an evaluation error. The webhook's own
// namespace is never checked.
package admission
