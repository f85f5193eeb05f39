package monitor

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"go.yaml.in/yaml/v3"
)

// Config is rekor-monitor's identity monitor configuration
// (github.com/sigstore/rekor-monitor, pkg/notifications
// IdentityMonitorConfiguration), read unchanged: a file written for
// rekor-monitor is a file for hallmark monitor. Keys it does not know are
// refused, so that a typo does not silently watch nothing.
type Config struct {
	// StartIndex and EndIndex bound the entries of the transparency log
	// searched on a first run (no saved checkpoint); EndIndex also stops
	// later runs there.
	StartIndex *int64 `yaml:"startIndex"`
	EndIndex   *int64 `yaml:"endIndex"`
	// MonitoredValues are what to look for.
	MonitoredValues MonitoredValues `yaml:"monitoredValues"`
	// OutputIdentities is a file each report line is appended to, in
	// OutputIdentitiesFormat ("text", the default, or "json").
	OutputIdentities       *string `yaml:"outputIdentities"`
	OutputIdentitiesFormat *string `yaml:"outputIdentitiesFormat"`
	// LogInfoFile keeps the last verified checkpoint of the transparency
	// log, one signed checkpoint per line with its newlines written as
	// "\n" (rekor-monitor's format); the CT log's is kept in
	// LogInfoFile + ".ctlog".
	LogInfoFile string `yaml:"logInfoFile"`
	// IdentityMetadataFile receives {"latestIndex": N}: the last
	// transparency log index searched.
	IdentityMetadataFile *string `yaml:"identityMetadataFile"`

	// rekor-monitor's notifications and CA filters; hallmark reports
	// through its output and --webhook instead, and matches entries
	// whatever CA issued them (reporting more, never less). Unsupported
	// reports which are set.
	GitHubIssue               any      `yaml:"githubIssue"`
	EmailNotificationSMTP     any      `yaml:"emailNotificationSMTP"`
	EmailNotificationMailgun  any      `yaml:"emailNotificationMailgun"`
	EmailNotificationSendGrid any      `yaml:"emailNotificationSendGrid"`
	CARootsFile               string   `yaml:"caRootsFile"`
	CAIntermediatesFile       string   `yaml:"caIntermediatesFile"`
	CTShards                  []string `yaml:"ctShards"`
}

// MonitoredValues is rekor-monitor's monitoredValues.
type MonitoredValues struct {
	// CertIdentities match a certificate by a subject alternative name
	// (certSubject, a regular expression) and, if any are given, its OIDC
	// issuer (issuers, regular expressions).
	CertIdentities []CertIdentity `yaml:"certIdentities"`
	// Subjects are regular expressions matched against a certificate's
	// subject alternative names, whatever its issuer.
	Subjects []string `yaml:"subjects"`
	// Fingerprints are hex SHA-256 digests of a DER certificate or DER
	// (PKIX) public key.
	Fingerprints []string `yaml:"fingerprints"`
	// OIDMatchers match certificate extensions by value.
	OIDMatchers OIDMatchers `yaml:"oidMatchers"`
}

// CertIdentity is one certIdentities item.
type CertIdentity struct {
	CertSubject string   `yaml:"certSubject"`
	Issuers     []string `yaml:"issuers"`
}

// OIDMatchers is rekor-monitor's oidMatchers: extensions given as integer
// arrays, as Fulcio extension names, or in dot notation.
type OIDMatchers struct {
	OIDExtensions    []OIDExtension      `yaml:"oidExtensions"`
	FulcioExtensions map[string][]string `yaml:"fulcioExtensions"`
	CustomExtensions []CustomExtension   `yaml:"customExtensions"`
}

// OIDExtension is an oidExtensions item.
type OIDExtension struct {
	ObjectIdentifier []int    `yaml:"objectIdentifier"`
	ExtensionValues  []string `yaml:"extensionValues"`
}

// CustomExtension is a customExtensions item.
type CustomExtension struct {
	ObjectIdentifier string   `yaml:"objectIdentifier"`
	ExtensionValues  []string `yaml:"extensionValues"`
}

// fulcioExtensionNames are rekor-monitor's names for Fulcio's extensions
// (fulcioExtensions keys). issuer matches both issuer extensions.
var fulcioExtensionNames = map[string][]asn1.ObjectIdentifier{
	"issuer":                                  {certificate.OIDIssuerV2, certificate.OIDIssuer},
	"github-workflow-trigger":                 {certificate.OIDGitHubWorkflowTrigger},
	"github-workflow-sha":                     {certificate.OIDGitHubWorkflowSHA},
	"github-workflow-name":                    {certificate.OIDGitHubWorkflowName},
	"github-workflow-repository":              {certificate.OIDGitHubWorkflowRepository},
	"github-workflow-ref":                     {certificate.OIDGitHubWorkflowRef},
	"build-signer-uri":                        {certificate.OIDBuildSignerURI},
	"build-signer-digest":                     {certificate.OIDBuildSignerDigest},
	"runner-environment":                      {certificate.OIDRunnerEnvironment},
	"source-repository-uri":                   {certificate.OIDSourceRepositoryURI},
	"source-repository-digest":                {certificate.OIDSourceRepositoryDigest},
	"source-repository-ref":                   {certificate.OIDSourceRepositoryRef},
	"source-repository-identifier":            {certificate.OIDSourceRepositoryIdentifier},
	"source-repository-owner-uri":             {certificate.OIDSourceRepositoryOwnerURI},
	"source-repository-owner-identifier":      {certificate.OIDSourceRepositoryOwnerIdentifier},
	"build-config-uri":                        {certificate.OIDBuildConfigURI},
	"build-config-digest":                     {certificate.OIDBuildConfigDigest},
	"build-trigger":                           {certificate.OIDBuildTrigger},
	"run-invocation-uri":                      {certificate.OIDRunInvocationURI},
	"source-repository-visibility-at-signing": {certificate.OIDSourceRepositoryVisibilityAtSigning},
}

// ParseConfig reads a rekor-monitor configuration and checks it: at least
// one value to watch, valid regular expressions and object identifiers, a
// known output format.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("monitor config: %w", err)
	}
	if _, err := c.matchers(); err != nil {
		return nil, err
	}
	if f := c.OutputIdentitiesFormat; f != nil && *f != "text" && *f != "json" {
		return nil, fmt.Errorf("monitor config: outputIdentitiesFormat %q: want text or json", *f)
	}
	if c.StartIndex != nil && *c.StartIndex < 0 || c.EndIndex != nil && *c.EndIndex < 0 ||
		c.StartIndex != nil && c.EndIndex != nil && *c.EndIndex < *c.StartIndex {
		return nil, errors.New("monitor config: startIndex and endIndex must be non-negative, startIndex at most endIndex")
	}
	return &c, nil
}

// Unsupported names the keys that are set and that hallmark does not act
// on, to warn about.
func (c *Config) Unsupported() []string {
	var out []string
	for name, set := range map[string]bool{
		"githubIssue":               c.GitHubIssue != nil,
		"emailNotificationSMTP":     c.EmailNotificationSMTP != nil,
		"emailNotificationMailgun":  c.EmailNotificationMailgun != nil,
		"emailNotificationSendGrid": c.EmailNotificationSendGrid != nil,
		"caRootsFile":               c.CARootsFile != "",
		"caIntermediatesFile":       c.CAIntermediatesFile != "",
		"ctShards":                  len(c.CTShards) > 0,
	} {
		if set {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// matcher is one compiled monitored value.
type matcher struct {
	// kind and value describe it in reports, as rekor-monitor's
	// MonitoredValue.String does ("certIdentity:<subject>:[issuers]").
	kind, value string
	subject     *regexp.Regexp
	issuers     []*regexp.Regexp
	fingerprint string
	oids        []asn1.ObjectIdentifier
	values      map[string]bool
}

func (c *Config) matchers() ([]*matcher, error) {
	mv := c.MonitoredValues
	var out []*matcher
	for i, ci := range mv.CertIdentities {
		if ci.CertSubject == "" {
			return nil, fmt.Errorf("monitor config: certIdentities[%d]: empty certSubject", i)
		}
		m := &matcher{kind: "certIdentity", value: ci.CertSubject}
		var err error
		if m.subject, err = regexp.Compile(ci.CertSubject); err != nil {
			return nil, fmt.Errorf("monitor config: certIdentities[%d].certSubject: %w", i, err)
		}
		for j, iss := range ci.Issuers {
			if iss == "" {
				return nil, fmt.Errorf("monitor config: certIdentities[%d].issuers[%d]: empty", i, j)
			}
			re, err := regexp.Compile(iss)
			if err != nil {
				return nil, fmt.Errorf("monitor config: certIdentities[%d].issuers[%d]: %w", i, j, err)
			}
			m.issuers = append(m.issuers, re)
		}
		if len(ci.Issuers) > 0 {
			m.value += ":[" + strings.Join(ci.Issuers, ",") + "]"
		}
		out = append(out, m)
	}
	for i, s := range mv.Subjects {
		re, err := regexp.Compile(s)
		if err != nil || s == "" {
			return nil, fmt.Errorf("monitor config: subjects[%d]: %q is not a regular expression", i, s)
		}
		out = append(out, &matcher{kind: "subject", value: s, subject: re})
	}
	for i, fp := range mv.Fingerprints {
		if fp == "" {
			return nil, fmt.Errorf("monitor config: fingerprints[%d]: empty", i)
		}
		out = append(out, &matcher{kind: "fingerprint", value: fp, fingerprint: strings.ToLower(fp)})
	}
	add := func(where string, oids []asn1.ObjectIdentifier, values []string) error {
		if len(values) == 0 {
			return fmt.Errorf("monitor config: %s: no extensionValues", where)
		}
		m := &matcher{kind: "oidExtension", oids: oids, values: map[string]bool{}}
		for _, v := range values {
			if v == "" {
				return fmt.Errorf("monitor config: %s: empty extension value", where)
			}
			m.values[v] = true
		}
		m.value = oids[0].String() + ":[" + strings.Join(values, ",") + "]"
		out = append(out, m)
		return nil
	}
	for i, e := range mv.OIDMatchers.OIDExtensions {
		if len(e.ObjectIdentifier) < 2 {
			return nil, fmt.Errorf("monitor config: oidExtensions[%d]: object identifier too short", i)
		}
		if err := add(fmt.Sprintf("oidExtensions[%d]", i), []asn1.ObjectIdentifier{e.ObjectIdentifier}, e.ExtensionValues); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(mv.OIDMatchers.FulcioExtensions))
	for n := range mv.OIDMatchers.FulcioExtensions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		oids, ok := fulcioExtensionNames[n]
		if !ok {
			return nil, fmt.Errorf("monitor config: fulcioExtensions: unknown extension %q", n)
		}
		if err := add("fulcioExtensions."+n, oids, mv.OIDMatchers.FulcioExtensions[n]); err != nil {
			return nil, err
		}
	}
	for i, e := range mv.OIDMatchers.CustomExtensions {
		oid, err := parseOID(e.ObjectIdentifier)
		if err != nil {
			return nil, fmt.Errorf("monitor config: customExtensions[%d]: %w", i, err)
		}
		if err := add(fmt.Sprintf("customExtensions[%d]", i), []asn1.ObjectIdentifier{oid}, e.ExtensionValues); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, errors.New("monitor config: monitoredValues names nothing to watch")
	}
	return out, nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("object identifier %q: want dot notation", s)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("object identifier %q: want dot notation", s)
		}
		oid[i] = n
	}
	return oid, nil
}
