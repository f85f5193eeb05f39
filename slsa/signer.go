package slsa

import "fmt"

// CheckCertificateSource is the name of the check of the signing
// certificate's source repository.
const CheckCertificateSource = "certificate source repository"

// githubURL is how the deprecated GitHub repository extension's
// "owner/repo" becomes a repository URI, as Fulcio writes the source
// repository URI of GitHub workloads.
const githubURL = "https://github.com/"

// CheckSigner checks the repository the signing certificate names against
// the expected source URI, as slsa-verifier checks the certificate of its
// GitHub builders before it reads the provenance: the provenance is a
// claim of whoever signed it, the certificate's extension the CA's record
// of where the signing workload ran.
//
// certSourceURI is the certificate's source repository URI extension (OID
// 1.3.6.1.4.1.57264.1.12) and certGitHubRepo its deprecated GitHub
// workflow repository extension ("owner/repo", OID 1.3.6.1.4.1.57264.1.5),
// which older GitHub certificates carry alone; either may be empty. When
// both are present they must name the same repository. The repository
// must equal the expected URI exactly once both are normalised as the
// source uri check normalises the expected URI (scheme and "git+"): no
// prefix matching, no case folding.
//
// When the certificate has neither extension (a key signature, an email
// identity, a CA that records no repository) the check does not apply: it
// passes with NotApplicable set, as slsa-verifier checks no certificate
// for its builders that sign without one.
func CheckSigner(sourceURI, certSourceURI, certGitHubRepo string) CheckResult {
	res := CheckResult{Name: CheckCertificateSource}
	if certSourceURI == "" && certGitHubRepo == "" {
		res.Passed, res.NotApplicable = true, true
		res.Detail = "not applicable: the signature's certificate names no source repository"
		return res
	}
	got := certSourceURI
	if certGitHubRepo != "" {
		deprecated := githubURL + certGitHubRepo
		if got == "" {
			got = deprecated
		} else if got != deprecated {
			res.Detail = fmt.Sprintf("the signing certificate's source repository extensions disagree: source repository URI %s, GitHub workflow repository %s", certSourceURI, certGitHubRepo)
			return res
		}
	}
	if sourceURI == "" || normalizeGitURI(got) != normalizeGitURI(sourceURI) {
		res.Detail = fmt.Sprintf("the signing certificate was issued to a workload of %s, want %s", got, sourceURI)
		return res
	}
	res.Passed, res.Detail = true, got
	return res
}
