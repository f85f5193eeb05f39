package gate

import (
	"encoding/json"
	"fmt"
	"time"

	"hallmark.dev/attest"
)

// PredicateType is cosign's vulnerability scan predicate type, the
// predicate [Result.Predicate] writes.
const PredicateType = attest.PredicateVuln

// Invocation describes the run that made a result, for the predicate's
// invocation field; all fields are optional.
type Invocation struct {
	// URI of the run (a CI job's URL).
	URI string
	// EventID of the run (a CI run id).
	EventID string
	// BuilderID of what ran the gate.
	BuilderID string
	// ScanStartedOn and ScanFinishedOn bound the scan. Zero values are
	// filled from the report's creation time, else the evaluation time.
	ScanStartedOn, ScanFinishedOn time.Time
}

// vulnPredicate is cosign's CosignVulnPredicate
// (pkg/cosign/attestation.CosignVulnPredicate) with hallmark's gate result
// as scanner.result. It is the predicate's one schema: [Result.Predicate]
// writes it, and the attestation check reads it, allowing at each level
// it reads only the fields these types name (predicateRules).
type vulnPredicate struct {
	Invocation vulnInvocation `json:"invocation"`
	Scanner    vulnScanner    `json:"scanner"`
	Metadata   vulnMetadata   `json:"metadata"`
}

type vulnInvocation struct {
	Parameters predicateParameters `json:"parameters"`
	URI        string              `json:"uri"`
	EventID    string              `json:"event_id"`
	BuilderID  string              `json:"builder.id"`
}

type vulnScanner struct {
	URI     string `json:"uri"`
	Version string `json:"version"`
	DB      struct {
		URI     string `json:"uri"`
		Version string `json:"version"`
	} `json:"db"`
	Result *Result `json:"result"`
}

type vulnMetadata struct {
	ScanStartedOn  string `json:"scanStartedOn"`
	ScanFinishedOn string `json:"scanFinishedOn"`
}

// predicateParameters are the gate's inputs, so that a verifier can check
// which policy and exceptions an image passed under.
type predicateParameters struct {
	Image            string      `json:"image"`
	Policy           Policy      `json:"policy"`
	PolicyDigest     string      `json:"policyDigest"`
	ExceptionsDigest string      `json:"exceptionsDigest,omitempty"`
	ExceptionsUsed   []Exception `json:"exceptionsUsed"`
}

// scannerURIs are package URLs of the scanners, as trivy writes its own.
var scannerURIs = map[string]string{
	"trivy": "pkg:github/aquasecurity/trivy",
	"grype": "pkg:github/anchore/grype",
}

// Predicate returns the result as a cosign vulnerability scan predicate
// (https://cosign.sigstore.dev/attestation/vuln/v1): the scanner's name,
// version and database in scanner, the gate's result (blocking findings,
// exceptions used with their statements and expiry) in scanner.result,
// and the policy, its digest and the exceptions used in
// invocation.parameters.
func (r *Result) Predicate(inv Invocation) ([]byte, error) {
	var p vulnPredicate
	p.Invocation.URI = inv.URI
	p.Invocation.EventID = inv.EventID
	p.Invocation.BuilderID = inv.BuilderID
	p.Invocation.Parameters = predicateParameters{
		Image:            r.Image,
		Policy:           r.Policy,
		PolicyDigest:     r.PolicyDigest,
		ExceptionsDigest: r.ExceptionsDigest,
		ExceptionsUsed:   r.ExceptionsUsed(),
	}
	if base, ok := scannerURIs[r.Scanner.Name]; ok {
		p.Scanner.URI = base
		if r.Scanner.Version != "" {
			p.Scanner.URI += "@" + r.Scanner.Version
		}
	}
	p.Scanner.Version = r.Scanner.Version
	p.Scanner.DB.URI = r.Scanner.DBURI
	p.Scanner.DB.Version = r.Scanner.DBVersion
	p.Scanner.Result = r
	started, finished := inv.ScanStartedOn, inv.ScanFinishedOn
	if started.IsZero() {
		started = r.EvaluatedAt
		if t, err := time.Parse(time.RFC3339Nano, r.ScannedAt); err == nil {
			started = t
		}
	}
	if finished.IsZero() {
		finished = started
	}
	if finished.Before(started) {
		return nil, fmt.Errorf("gate: predicate: scan finished (%s) before it started (%s)", finished, started)
	}
	p.Metadata.ScanStartedOn = started.UTC().Format(time.RFC3339)
	p.Metadata.ScanFinishedOn = finished.UTC().Format(time.RFC3339)
	return json.Marshal(p)
}

// ExceptionsUsed returns the exceptions that excepted a finding, once
// each, in file order.
func (r *Result) ExceptionsUsed() []Exception {
	out := []Exception{}
	seen := map[[2]int]bool{}
	for _, e := range r.Excepted {
		k := [2]int{e.Exception.Index, e.Exception.Line}
		if !seen[k] {
			seen[k] = true
			out = append(out, e.Exception)
		}
	}
	return out
}
