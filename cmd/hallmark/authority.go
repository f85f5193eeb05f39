package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/setup"
	"hallmark.dev/tlog"
	"hallmark.dev/verify"
)

// authorityFlags say who may have signed: --key, or a certificate identity
// under --trusted-root.
type authorityFlags struct {
	key         string
	trustedRoot string
	identity    string
	identityRe  string
	issuer      string
	issuerRe    string
	ignoreTlog  bool
	signedTS    bool
	witnesses   string
}

func (f *authorityFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.key, "key", "", "public key file (PEM) the signature must verify with")
	fl.StringVar(&f.trustedRoot, "trusted-root", "", "trusted_root.json: the CAs, logs and timestamp authorities to trust")
	fl.StringVar(&f.identity, "certificate-identity", "", "the signer's certificate identity (email or URI), exactly")
	fl.StringVar(&f.identityRe, "certificate-identity-regexp", "", "a regular expression the whole certificate identity must match")
	fl.StringVar(&f.issuer, "certificate-oidc-issuer", "", "the OIDC issuer of the signer's identity, exactly")
	fl.StringVar(&f.issuerRe, "certificate-oidc-issuer-regexp", "", "a regular expression the whole OIDC issuer must match")
	fl.BoolVar(&f.ignoreTlog, "insecure-ignore-tlog", false, "do not require a transparency log entry; with --trusted-root an RFC 3161 timestamp from its timestamp authority is required instead (for attestations signed with --tlog=false --timestamp); without a trusted root, key signatures are never checked against a log")
	fl.StringVar(&f.witnesses, "witness-policy", "", "a C2SP tlog-policy file: the checkpoint of every log entry must carry cosignatures from its quorum of witnesses")
	fl.BoolVar(&f.signedTS, "use-signed-timestamps", false, "require an RFC 3161 timestamp from the trusted root's timestamp authority (with --insecure-ignore-tlog; keyless timestamp-only verification implies it)")
}

func (f *authorityFlags) keyless() bool {
	return f.identity != "" || f.identityRe != "" || f.issuer != "" || f.issuerRe != ""
}

// authority builds the verification authority the flags name.
func (f *authorityFlags) authority() (verify.Authority, error) {
	a := setup.Authority{
		KeyPath: f.key, TrustedRootPath: f.trustedRoot,
		InsecureIgnoreTlogUnsafe: f.ignoreTlog, RequireSignedTimestamps: f.signedTS,
		WitnessPolicyPath: f.witnesses,
	}
	if f.keyless() {
		a.Identity = verify.Identity{Issuer: f.issuer, IssuerRegexp: f.issuerRe, Subject: f.identity, SubjectRegexp: f.identityRe}
	}
	res, err := setup.NewAuthority(a)
	return res, authorityError(err)
}

// authorityError names the flags behind a refusal and says what to do.
func authorityError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, verify.ErrKeysAndIdentities):
		return withHint(errors.New("--key and --certificate-identity/--certificate-oidc-issuer are mutually exclusive"),
			"verify with a key, or with a keyless identity, not both")
	case errors.Is(err, verify.ErrNoAuthority):
		return withHint(errors.New("no key or identity to verify with"),
			"pass --key cosign.pub, or --certificate-identity and --certificate-oidc-issuer with --trusted-root")
	case errors.Is(err, verify.ErrKeylessNoRoot):
		return withHint(err, "pass --trusted-root trusted_root.json (hallmark trust export writes one for a hallmark server)")
	case errors.Is(err, verify.ErrSubjectChoice):
		return withHint(errors.New("give exactly one of --certificate-identity and --certificate-identity-regexp"),
			"regular expressions match the whole identity: write '^' and '$' or not, the result is the same")
	case errors.Is(err, verify.ErrIssuerChoice):
		return errors.New("give exactly one of --certificate-oidc-issuer and --certificate-oidc-issuer-regexp")
	case errors.Is(err, verify.ErrSignedTimestampsNoRoot):
		return withHint(errors.New("--use-signed-timestamps needs a trusted root that lists the timestamp authority"), "pass --trusted-root trusted_root.json")
	case errors.Is(err, verify.ErrSignedTimestampsWithTlog):
		return errors.New("--use-signed-timestamps applies with --insecure-ignore-tlog: without it the log entry is required and gives the time")
	case errors.Is(err, verify.ErrWitnessesNeedLog):
		return withHint(errors.New("--witness-policy checks the checkpoints of log entries: it needs --trusted-root and a log entry (not --insecure-ignore-tlog)"),
			"witnesses cosign the log's checkpoints; a signature without a log entry has none")
	case errors.Is(err, verify.ErrNoTransparencyLog):
		return withHint(err, "pass --insecure-ignore-tlog to accept signatures without a log entry, each with a signed timestamp from the trusted root's timestamp authority")
	}
	return err
}

// describeSigner says who signed, for the verification report.
func describeSigner(s verify.Signer) string {
	var parts []string
	if s.KeyFingerprint != "" {
		parts = append(parts, "key "+s.KeyFingerprint)
	}
	if s.Subject != "" {
		parts = append(parts, fmt.Sprintf("identity %s from %s", s.Subject, s.Issuer))
	}
	if s.LogEntries > 0 {
		parts = append(parts, fmt.Sprintf("%d log entries", s.LogEntries))
	}
	if len(s.Witnesses) > 0 {
		parts = append(parts, "witnessed by "+strings.Join(s.Witnesses, ", "))
	}
	for _, t := range s.Timestamps {
		if t.Type == "timestamp-authority" {
			parts = append(parts, "timestamped "+t.Time.Format("2006-01-02T15:04:05Z"))
		}
	}
	if s.LogSkipped {
		parts = append(parts, "log not checked (--insecure-ignore-tlog)")
	}
	return strings.Join(parts, ", ")
}

// readWitnessPolicyFlag reads the --witness-policy file, if one was named.
func readWitnessPolicyFlag(path string) (*tlog.Policy, error) {
	if path == "" {
		return nil, nil
	}
	return setup.ReadWitnessPolicy(path)
}
