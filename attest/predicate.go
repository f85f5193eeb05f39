package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"hallmark.dev/internal/jsonstrict"
)

// Predicate types hallmark knows by name, with cosign's names for them
// (cosign attest --type).
const (
	PredicateSLSAProvenance02 = "https://slsa.dev/provenance/v0.2"
	PredicateSLSAProvenance1  = "https://slsa.dev/provenance/v1"
	PredicateCycloneDX        = "https://cyclonedx.org/bom"
	PredicateSPDX             = "https://spdx.dev/Document"
	PredicateLink             = "https://in-toto.io/Link/v1"
	PredicateVuln             = "https://cosign.sigstore.dev/attestation/vuln/v1"
	PredicateOpenVEX          = "https://openvex.dev/ns"
	PredicateCustom           = "https://cosign.sigstore.dev/attestation/v1"
)

var predicateNames = map[string]string{
	"slsaprovenance":   PredicateSLSAProvenance02,
	"slsaprovenance02": PredicateSLSAProvenance02,
	"slsaprovenance1":  PredicateSLSAProvenance1,
	"cyclonedx":        PredicateCycloneDX,
	"spdx":             PredicateSPDX,
	"spdxjson":         PredicateSPDX,
	"link":             PredicateLink,
	"vuln":             PredicateVuln,
	"openvex":          PredicateOpenVEX,
	"custom":           PredicateCustom,
}

// PredicateType resolves a cosign predicate type name (slsaprovenance,
// slsaprovenance02, slsaprovenance1, cyclonedx, spdx, spdxjson, link, vuln,
// openvex, custom) or an absolute URI to a predicate type URI.
func PredicateType(name string) (string, error) {
	if uri, ok := predicateNames[name]; ok {
		return uri, nil
	}
	u, err := url.ParseRequestURI(name)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("attest: predicate type %q is neither a known name (slsaprovenance, slsaprovenance1, cyclonedx, spdxjson, vuln, openvex, custom, …) nor an absolute URI", name)
	}
	return name, nil
}

// Predicate makes the predicate for a predicate type from a file's bytes:
// the JSON object itself, except for cosign's custom type, whose predicate
// wraps the content as {"Data": …, "Timestamp": …} as cosign writes it.
func Predicate(predicateType string, content []byte, now time.Time) (json.RawMessage, error) {
	if predicateType == PredicateCustom {
		var data any = string(content)
		var parsed any
		if json.Unmarshal(content, &parsed) == nil {
			data = parsed
		}
		return json.Marshal(struct {
			Data      any
			Timestamp string
		}{data, now.UTC().Format(time.RFC3339)})
	}
	trimmed := bytes.TrimSpace(content)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("attest: the predicate must be a JSON object")
	}
	if err := jsonstrict.Check(trimmed, jsonstrict.Rules{MaxDepth: maxDepth}); err != nil {
		return nil, fmt.Errorf("attest: predicate: %w", err)
	}
	return json.RawMessage(trimmed), nil
}

// NewStatement returns an in-toto Statement v1 about the subjects.
func NewStatement(predicateType string, predicate json.RawMessage, subjects ...Subject) ([]byte, error) {
	if len(subjects) == 0 {
		return nil, errors.New("attest: a statement needs a subject")
	}
	st := Statement{Type: StatementTypeV1, Subject: subjects, PredicateType: predicateType, Predicate: predicate}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	if _, err := CheckStatement(b); err != nil {
		return nil, err
	}
	return b, nil
}
