package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

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

// authority builds the verification authority, refusing contradictions,
// and requires the witness policy's quorum when one is given.
func (f *authorityFlags) authority() (verify.Authority, error) {
	a, err := f.baseAuthority()
	if err != nil || f.witnesses == "" {
		return a, err
	}
	if f.trustedRoot == "" || f.ignoreTlog {
		return nil, withHint(errors.New("--witness-policy checks the checkpoints of log entries: it needs --trusted-root and a log entry (not --insecure-ignore-tlog)"),
			"witnesses cosign the log's checkpoints; a signature without a log entry has none")
	}
	p, err := loadWitnessPolicy(f.witnesses)
	if err != nil {
		return nil, err
	}
	return verify.Witnessed(a, p)
}

// loadWitnessPolicy reads a tlog-policy file.
func loadWitnessPolicy(path string) (*tlog.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read witness policy: %w", err)
	}
	p, err := tlog.ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func (f *authorityFlags) baseAuthority() (verify.Authority, error) {
	if f.key != "" && f.keyless() {
		return nil, withHint(errors.New("--key and --certificate-identity/--certificate-oidc-issuer are mutually exclusive"),
			"verify with a key, or with a keyless identity, not both")
	}
	var tr *trustedRootFile
	if f.trustedRoot != "" {
		data, err := os.ReadFile(f.trustedRoot)
		if err != nil {
			return nil, fmt.Errorf("read trusted root: %w", err)
		}
		root, err := verify.ParseTrustedRoot(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.trustedRoot, err)
		}
		tr = &trustedRootFile{root: root}
	}
	if f.key != "" {
		pub, err := loadPublicKey(f.key)
		if err != nil {
			return nil, err
		}
		ks, err := verify.NewKeys(pub)
		if err != nil {
			return nil, err
		}
		if tr == nil {
			if f.signedTS {
				return nil, withHint(errors.New("--use-signed-timestamps needs a trusted root that lists the timestamp authority"), "pass --trusted-root trusted_root.json")
			}
			return ks, nil
		}
		ks = ks.WithTrustedRoot(tr.root)
		if !f.ignoreTlog {
			if f.signedTS {
				return nil, errors.New("--use-signed-timestamps applies with --insecure-ignore-tlog: without it the log entry is required and gives the time")
			}
			return ks, nil
		}
		return ks.TimestampOnly()
	}
	if !f.keyless() {
		return nil, withHint(errors.New("no key or identity to verify with"),
			"pass --key cosign.pub, or --certificate-identity and --certificate-oidc-issuer with --trusted-root")
	}
	if tr == nil {
		return nil, withHint(errors.New("keyless verification needs a trusted root"),
			"pass --trusted-root trusted_root.json (hallmark trust export writes one for a hallmark server)")
	}
	if (f.identity == "") == (f.identityRe == "") {
		return nil, withHint(errors.New("give exactly one of --certificate-identity and --certificate-identity-regexp"),
			"regular expressions match the whole identity: write '^' and '$' or not, the result is the same")
	}
	if (f.issuer == "") == (f.issuerRe == "") {
		return nil, errors.New("give exactly one of --certificate-oidc-issuer and --certificate-oidc-issuer-regexp")
	}
	if f.signedTS && !f.ignoreTlog {
		return nil, errors.New("--use-signed-timestamps applies with --insecure-ignore-tlog: without it the log entry or a timestamp gives the time, and a timestamp alone is not required")
	}
	k, err := verify.NewKeyless(tr.root, verify.Identity{
		Issuer: f.issuer, IssuerRegexp: f.issuerRe, Subject: f.identity, SubjectRegexp: f.identityRe,
	})
	if err != nil || !f.ignoreTlog {
		return k, err
	}
	return k.TimestampOnly()
}

type trustedRootFile struct {
	root verify.TrustedRoot
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
	return strings.Join(parts, ", ")
}
