package gate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrWrongImage is returned (wrapped) when a report is not about the image
// being gated: the image it scanned has another digest, or is not named by
// digest.
var ErrWrongImage = errors.New("the report is not for this image")

// Blocked is a finding that blocks the image.
type Blocked struct {
	Finding
	// ExpiredException is the expired exception that would have matched,
	// if any: the finding blocks again because of it.
	ExpiredException *Exception `json:"expiredException,omitempty"`
}

// Excepted is a finding that would block but for an exception.
type Excepted struct {
	Finding
	Exception Exception `json:"exception"`
}

// Result is the gate's decision and what it was made from.
type Result struct {
	// Passed is true when nothing blocks.
	Passed bool `json:"passed"`
	// Image is the digest the report was checked to be for.
	Image string `json:"image"`
	// Artifact is the image name the report gives.
	Artifact string  `json:"artifact"`
	Scanner  Scanner `json:"scanner"`
	// ScannedAt is when the scanner says it ran, if it says.
	ScannedAt string `json:"scannedAt,omitempty"`
	// EvaluatedAt is the time the exceptions were judged at.
	EvaluatedAt  time.Time `json:"evaluatedAt"`
	Policy       Policy    `json:"policy"`
	PolicyDigest string    `json:"policyDigest"`
	// ExceptionsDigest is the sha256 of the exceptions file, if one was
	// given.
	ExceptionsDigest string `json:"exceptionsDigest,omitempty"`
	// Findings is how many findings the report has, in or out of scope.
	Findings int        `json:"findings"`
	Blocking []Blocked  `json:"blocking"`
	Excepted []Excepted `json:"excepted"`
	// Expiring are the vulnerability exceptions, used or not, that expire
	// within the policy's warning window.
	Expiring []Exception `json:"expiring"`
	// Unused are the live vulnerability exceptions that matched no
	// blocking finding.
	Unused []Exception `json:"unused"`
}

// Evaluate gates a report: it checks that the report is for the image
// with the given digest, then finds what blocks under the policy once
// live exceptions are applied. ex may be nil (no exceptions).
//
// A finding blocks when the policy blocks it (severity, package class and
// fix status) and no unexpired exception matches it. A report whose
// scanned image ([Report.Digest]) is not digest, or is not named by digest,
// is an error wrapping ErrWrongImage.
func Evaluate(r *Report, p Policy, ex *Exceptions, digest string, now time.Time) (*Result, error) {
	if !ValidDigest(digest) {
		return nil, fmt.Errorf("gate: %q is not an image digest (sha256:…)", digest)
	}
	if len(p.Severities) == 0 || len(p.PackageClasses) == 0 {
		return nil, errors.New("gate: the policy blocks no severity or no package class")
	}
	if r.Digest == "" {
		return nil, fmt.Errorf("gate: %w: the %s report for %q names no image digest; scan the image by digest", ErrWrongImage, r.Format, r.Artifact)
	}
	if r.Digest != digest {
		return nil, fmt.Errorf("gate: %w: the %s report is for %s, not %s", ErrWrongImage, r.Format, r.Digest, digest)
	}
	if ex == nil {
		ex = &Exceptions{}
	}
	res := &Result{
		Image:            digest,
		Artifact:         r.Artifact,
		Scanner:          r.Scanner,
		ScannedAt:        r.CreatedAt,
		EvaluatedAt:      now.UTC(),
		Policy:           p,
		PolicyDigest:     p.Digest(),
		ExceptionsDigest: ex.Digest,
		Findings:         len(r.Findings),
		Blocking:         []Blocked{},
		Excepted:         []Excepted{},
		Expiring:         []Exception{},
		Unused:           []Exception{},
	}
	used := make([]bool, len(ex.Vulnerabilities))
	for _, f := range r.Findings {
		if !p.Blocks(f) {
			continue
		}
		var live, expired *Exception
		for i := range ex.Vulnerabilities {
			e := &ex.Vulnerabilities[i]
			if !e.matches(f) {
				continue
			}
			if e.Expired(now) {
				if expired == nil {
					expired = e
				}
				continue
			}
			live = e
			used[i] = true
			break
		}
		if live != nil {
			res.Excepted = append(res.Excepted, Excepted{Finding: f, Exception: *live})
			continue
		}
		res.Blocking = append(res.Blocking, Blocked{Finding: f, ExpiredException: expired})
	}
	warnUntil := now.AddDate(0, 0, p.ExpiryWarningDays)
	for i, e := range ex.Vulnerabilities {
		if e.Expired(now) {
			continue
		}
		if !warnUntil.Before(e.ExpiredAt) {
			res.Expiring = append(res.Expiring, e)
		}
		if !used[i] {
			res.Unused = append(res.Unused, e)
		}
	}
	sortBlocked(res.Blocking)
	res.Passed = len(res.Blocking) == 0
	return res, nil
}

// sortBlocked orders the most severe first, then by package and id.
func sortBlocked(b []Blocked) {
	slices.SortStableFunc(b, func(x, y Blocked) int {
		if d := severityRank[y.Severity] - severityRank[x.Severity]; d != 0 {
			return d
		}
		if c := strings.Compare(x.Package, y.Package); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
}
