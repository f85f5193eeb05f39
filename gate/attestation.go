package gate

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"hallmark.dev/internal/jsonstrict"
	"hallmark.dev/policy"
)

// MaxClockSkew is how far in the future a verified signing time or a
// scan's finish time may be before a gate attestation is refused: clocks
// of signers, timestamp authorities and verifiers differ a little.
const MaxClockSkew = 5 * time.Minute

// ErrNoTrustedTime is the detail of the signed time check when the
// attestation has no verified signing time: a key signature verified
// without a trusted root carries none, and its age cannot be known.
var ErrNoTrustedTime = errors.New("no verified signing time: the age of a key signature is known only from an RFC 3161 timestamp or a transparency log entry verified against a trusted root")

// AttestationRequirements are what a verified gate attestation (a cosign
// vulnerability predicate written by [Result.Predicate]) must show to let
// an image through; [NewCheck] makes them a verification policy. Who signed it is the verifier's authority; these are
// about what it says and when. The zero value is invalid: MaxAge is
// required.
type AttestationRequirements struct {
	// MaxAge is how old the attestation may be, both by its verified
	// signing time and by the scan's finish time (metadata.scanFinishedOn)
	// it reports; required.
	MaxAge time.Duration `json:"maxAge"`
	// PolicyDigest, when set, is the gate policy (sha256:… of its
	// canonical form, [Policy.Digest]) the image must have passed under.
	PolicyDigest string `json:"policyDigest,omitempty"`
}

// Validate checks the requirements themselves.
func (req AttestationRequirements) Validate() error {
	if req.MaxAge <= 0 {
		return errors.New("gate: the attestation policy needs a maximum age greater than zero")
	}
	if req.PolicyDigest != "" && !(strings.HasPrefix(req.PolicyDigest, "sha256:") && ValidDigest(req.PolicyDigest)) {
		return fmt.Errorf("gate: policy digest %q is not sha256:<64 hex digits>", req.PolicyDigest)
	}
	return nil
}

// The names of the findings the attestation check makes about each gate
// attestation, in order.
const (
	CheckPredicate  = "predicate"
	CheckPassed     = "result"
	CheckImage      = "image"
	CheckSignedTime = "signed time"
	CheckScanTime   = "scan time"
	CheckPolicy     = "policy digest"
	// CheckNewest says whether the attestation is the newest gate result
	// within the window, the one that decides.
	CheckNewest = "newest"
)

// checkAttestation checks a verified gate attestation's predicate against
// the requirements: the predicate is the gate's (read strictly: no
// repeated keys, exact field names, no unknown fields where it is read);
// the gate passed; it is about digest, the verified image; it was signed
// no longer than MaxAge before now, by signedAt, the earliest verified
// signing time (a signed timestamp or log time; the zero time when there
// is none, which fails with [ErrNoTrustedTime]); the scan it reports
// finished no longer than MaxAge before now; neither time is more than
// [MaxClockSkew] in the future; and, when required, it passed under the
// given gate policy.
//
// Both times are checked because each alone can be stale: a signing time
// says when the statement was signed (an old scan result can be signed
// again), the scan time is what the signer claims about the scan.
//
// It returns a finding per check made (their Attestation unset) and the
// predicate read, nil when it is not the gate's: then the predicate
// finding fails and no other check is made.
func checkAttestation(predicate json.RawMessage, digest string, signedAt, now time.Time, req AttestationRequirements) ([]policy.Finding, *attestedResult) {
	var checks []policy.Finding
	add := func(name, detail string, err error) {
		if err != nil {
			checks = append(checks, policy.Finding{Name: name, Detail: err.Error()})
			return
		}
		checks = append(checks, policy.Finding{Name: name, Passed: true, Detail: detail})
	}
	p, err := parseAttestedResult(predicate)
	if err != nil {
		add(CheckPredicate, "", err)
		return checks, nil
	}
	add(CheckPredicate, PredicateType, nil)

	if p.passed {
		add(CheckPassed, "passed", nil)
	} else {
		add(CheckPassed, "", fmt.Errorf("the gate blocked the image (%d blocking finding(s))", p.blocking))
	}
	if p.image == digest {
		add(CheckImage, digest, nil)
	} else {
		add(CheckImage, "", fmt.Errorf("the gate result is for %s, not %s", p.image, digest))
	}
	if signedAt.IsZero() {
		add(CheckSignedTime, "", ErrNoTrustedTime)
	} else {
		detail, err := checkTime("signed", signedAt, now, req.MaxAge)
		add(CheckSignedTime, detail, err)
	}
	detail, err := checkTime("scan finished", p.scanFinishedOn, now, req.MaxAge)
	add(CheckScanTime, detail, err)
	if req.PolicyDigest != "" {
		if p.policyDigest == req.PolicyDigest {
			add(CheckPolicy, p.policyDigest, nil)
		} else {
			add(CheckPolicy, "", fmt.Errorf("the gate ran under policy %s, want %s", p.policyDigest, req.PolicyDigest))
		}
	}
	return checks, p
}

// checkTime checks that t is at most maxAge before now and not more than
// MaxClockSkew after it.
func checkTime(what string, t, now time.Time, maxAge time.Duration) (string, error) {
	at := t.UTC().Format(time.RFC3339)
	age := now.Sub(t)
	switch {
	case age < -MaxClockSkew:
		return "", fmt.Errorf("%s at %s, %s in the future (more than the %s clock skew allowed)", what, at, FormatAge(-age), MaxClockSkew)
	case age > maxAge:
		return "", fmt.Errorf("%s at %s, %s ago: older than %s", what, at, FormatAge(age), FormatAge(maxAge))
	case age < 0:
		return fmt.Sprintf("%s at %s (within the clock skew)", what, at), nil
	}
	return fmt.Sprintf("%s at %s, %s ago", what, at, FormatAge(age)), nil
}

// FormatAge writes a duration with days ("7d", "2d3h0m0s", "1h30m0s"),
// to the second.
func FormatAge(d time.Duration) string {
	d = d.Truncate(time.Second)
	const day = 24 * time.Hour
	if d < day {
		return d.String()
	}
	days := d / day
	rest := d % day
	if rest == 0 {
		return strconv.FormatInt(int64(days), 10) + "d"
	}
	return strconv.FormatInt(int64(days), 10) + "d" + rest.String()
}

// ParseMaxAge reads a maximum age: a Go duration ("36h", "90m") or a
// whole number of days ("7d"). It must be greater than zero.
func ParseMaxAge(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days > int64(100*365) {
			return 0, fmt.Errorf("gate: max age %q: too many days", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("gate: max age %q is neither a duration (36h, 90m) nor a number of days (7d)", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("gate: max age %q must be greater than zero", s)
	}
	return d, nil
}

// attestedResult is what checkAttestation reads from a gate predicate.
type attestedResult struct {
	passed         bool
	blocking       int
	image          string
	policyDigest   string
	scanFinishedOn time.Time
}

// predicateRules are the rules of the gate's predicate: the report rules,
// and, at the levels that are read, the fields of the types
// [Result.Predicate] writes (the predicate's one schema), matched exactly (encoding/json would match "Passed" or
// "PASSED" to the passed field).
var predicateRules = jsonstrict.Rules{
	MaxDepth: reportRules.MaxDepth,
	FoldKeys: true,
	Fields: jsonstrict.Fields{
		"":                      jsonstrict.FieldsOf(vulnPredicate{})[""],
		"invocation":            jsonstrict.FieldsOf(vulnInvocation{})[""],
		"invocation.parameters": jsonstrict.FieldsOf(predicateParameters{})[""],
		"scanner":               jsonstrict.FieldsOf(vulnScanner{})[""],
		"scanner.result":        jsonstrict.FieldsOf(Result{})[""],
		"metadata":              jsonstrict.FieldsOf(vulnMetadata{})[""],
	},
	Name: func(p jsonstrict.Path) string {
		if len(p) == 0 {
			return "the predicate"
		}
		return p.String()
	},
}

// object reads a JSON object (its keys checked by predicateRules).
func object(data json.RawMessage, where string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%s is not a JSON object", where)
	}
	return obj, nil
}

// field decodes a required field into v.
func field(obj map[string]json.RawMessage, where, key string, v any) error {
	raw, ok := obj[key]
	if !ok {
		return fmt.Errorf("%s.%s is missing", where, key)
	}
	if err := json.Unmarshal(raw, v); err != nil || string(raw) == "null" {
		return fmt.Errorf("%s.%s has the wrong type", where, key)
	}
	return nil
}

// parseAttestedResult reads a gate predicate strictly.
func parseAttestedResult(data json.RawMessage) (*attestedResult, error) {
	wrap := func(err error) error { return fmt.Errorf("not a hallmark gate predicate: %w", err) }
	if err := checkJSON(data, predicateRules); err != nil {
		return nil, wrap(err)
	}
	top, err := object(data, "the predicate")
	if err != nil {
		return nil, wrap(err)
	}
	var out attestedResult

	scannerRaw, ok := top["scanner"]
	if !ok {
		return nil, wrap(errors.New("scanner is missing"))
	}
	scanner, err := object(scannerRaw, "scanner")
	if err != nil {
		return nil, wrap(err)
	}
	resultRaw, ok := scanner["result"]
	if !ok || string(resultRaw) == "null" {
		return nil, wrap(errors.New("scanner.result (the gate result) is missing"))
	}
	result, err := object(resultRaw, "scanner.result")
	if err != nil {
		return nil, wrap(err)
	}
	// The whole result must have the gate's types; its top-level fields
	// are read exactly below.
	var typed Result
	if err := json.Unmarshal(resultRaw, &typed); err != nil {
		return nil, wrap(fmt.Errorf("scanner.result is not a gate result: %v", err))
	}
	if err := field(result, "scanner.result", "passed", &out.passed); err != nil {
		return nil, wrap(err)
	}
	if err := field(result, "scanner.result", "image", &out.image); err != nil {
		return nil, wrap(err)
	}
	if !ValidDigest(out.image) {
		return nil, wrap(fmt.Errorf("scanner.result.image %q is not an image digest", out.image))
	}
	if err := field(result, "scanner.result", "policyDigest", &out.policyDigest); err != nil {
		return nil, wrap(err)
	}
	var blocking []json.RawMessage
	if raw, ok := result["blocking"]; ok {
		if err := json.Unmarshal(raw, &blocking); err != nil {
			return nil, wrap(errors.New("scanner.result.blocking is not a list"))
		}
	}
	out.blocking = len(blocking)
	if out.passed && out.blocking > 0 {
		return nil, wrap(fmt.Errorf("scanner.result says passed with %d blocking finding(s)", out.blocking))
	}

	// The inputs the gate recorded must agree with its result.
	if invRaw, ok := top["invocation"]; ok {
		inv, err := object(invRaw, "invocation")
		if err != nil {
			return nil, wrap(err)
		}
		if paramsRaw, ok := inv["parameters"]; ok {
			params, err := object(paramsRaw, "invocation.parameters")
			if err != nil {
				return nil, wrap(err)
			}
			for key, want := range map[string]string{"image": out.image, "policyDigest": out.policyDigest} {
				if _, ok := params[key]; !ok {
					continue
				}
				var got string
				if err := field(params, "invocation.parameters", key, &got); err != nil {
					return nil, wrap(err)
				}
				if got != want {
					return nil, wrap(fmt.Errorf("invocation.parameters.%s %q disagrees with scanner.result.%s %q", key, got, key, want))
				}
			}
		}
	}

	metaRaw, ok := top["metadata"]
	if !ok {
		return nil, wrap(errors.New("metadata is missing"))
	}
	meta, err := object(metaRaw, "metadata")
	if err != nil {
		return nil, wrap(err)
	}
	var finished string
	if err := field(meta, "metadata", "scanFinishedOn", &finished); err != nil {
		return nil, wrap(err)
	}
	if out.scanFinishedOn, err = time.Parse(time.RFC3339, finished); err != nil {
		return nil, wrap(fmt.Errorf("metadata.scanFinishedOn %q is not an RFC 3339 time", finished))
	}
	return &out, nil
}
