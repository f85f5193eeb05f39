package gate

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrUnknownFormat is returned (wrapped) for a report that is neither a
// trivy JSON report of a supported schema version nor a grype JSON
// document.
var ErrUnknownFormat = errors.New("unknown report format")

// TrivySchemaVersion is the trivy JSON report schema this package reads.
const TrivySchemaVersion = 2

// ParseReport reads a trivy (schema 2) or grype JSON report. It refuses
// JSON with repeated keys, reports of other formats or schema versions,
// severities and fix statuses it does not know, and vulnerabilities in a
// trivy result class that holds no packages: anything it cannot read
// exactly is an error, never a finding dropped.
func ParseReport(data []byte) (*Report, error) {
	if err := checkJSON(data, reportRules); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("report: %w: not a JSON object", ErrUnknownFormat)
	}
	_, trivy := probe["SchemaVersion"]
	_, matches := probe["matches"]
	_, descriptor := probe["descriptor"]
	switch {
	case trivy:
		r, err := parseTrivy(data)
		if err != nil {
			return nil, fmt.Errorf("trivy report: %w", err)
		}
		return r, nil
	case matches && descriptor:
		r, err := parseGrype(data)
		if err != nil {
			return nil, fmt.Errorf("grype report: %w", err)
		}
		return r, nil
	}
	return nil, fmt.Errorf("report: %w: neither a trivy JSON report (no SchemaVersion) nor a grype JSON document (no matches and descriptor)", ErrUnknownFormat)
}

var digestRE = regexp.MustCompile(`^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$`)

// ValidDigest reports whether d is a sha256 or sha512 digest in OCI form.
func ValidDigest(d string) bool { return digestRE.MatchString(d) }

// refDigest returns the digest of a reference REPO@DIGEST, or "".
func refDigest(ref string) string {
	i := strings.LastIndex(ref, "@")
	if i < 0 {
		return ""
	}
	if d := ref[i+1:]; ValidDigest(d) {
		return d
	}
	return ""
}

// cleanPath makes a path relative, as trivy writes them, so that one
// exception pattern matches both scanners' paths.
func cleanPath(p string) string { return strings.TrimLeft(p, "/") }
