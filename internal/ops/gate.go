package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"hallmark.dev/gate"
	"hallmark.dev/internal/scan"
	"hallmark.dev/oci/store"
)

// GateRequest says what to gate: a report file, or an image to scan, and
// the policy and exceptions to gate it under.
type GateRequest struct {
	// ReportPath is a trivy or grype JSON report; or
	ReportPath string
	// Scan is an image (REPO@sha256:…) to scan with Scanner.
	Scan    string
	Scanner scan.Trivy
	// Image is the image the report must be for (REPO@sha256:…). With
	// Scan it may be empty; if set it must name the same digest.
	Image string
	// PolicyPath is a gate policy file; empty means gate.DefaultPolicy.
	PolicyPath string
	// Flags tighten the policy.
	Flags gate.Flags
	// ExceptionsPath is a .trivyignore.yaml file; empty means none.
	ExceptionsPath string
	// Now is the clock exceptions are judged by; nil means time.Now.
	Now func() time.Time
}

// GateResult is the gate's result and how it was reached.
type GateResult struct {
	*gate.Result
	// Source is the report file, or "trivy" for a scan.
	Source string `json:"source"`
	// Scan is set when the report came from a scan.
	Scan *scan.Output `json:"-"`
}

var digestRefRE = regexp.MustCompile(`^[^@\s]+@(sha256:[0-9a-f]{64})$`)

// imageDigest returns the digest of REPO@sha256:….
func imageDigest(flag, ref string) (string, error) {
	m := digestRefRE.FindStringSubmatch(ref)
	if m == nil {
		return "", fmt.Errorf("%s %q does not name a digest: want REPO@sha256:…", flag, ref)
	}
	return m[1], nil
}

// Gate loads the policy and exceptions, reads or makes the report, checks
// it is for the image and evaluates it. A gate that blocks is not an
// error: the result says so. Bad input (a policy, exceptions file or
// report that cannot be read exactly, a weakening flag, a report for
// another image) is. To scan, c resolves the image first, to refuse an
// image index (trivy scans one of its platforms, so a pass would vouch
// for the others unscanned) and a missing image before trivy runs.
func Gate(ctx context.Context, c *store.Client, req GateRequest) (*GateResult, error) {
	if (req.ReportPath == "") == (req.Scan == "") {
		return nil, fmt.Errorf("gate: give a report or an image to scan, not both or neither")
	}
	digest, err := req.digest()
	if err != nil {
		return nil, err
	}
	in, err := loadGate(req)
	if err != nil {
		return nil, err
	}
	if req.Scan != "" {
		if c == nil {
			return nil, errors.New("gate: a scan needs a registry client, to refuse an image index before trivy runs")
		}
		req.Scanner.Target = func(ctx context.Context, ref string) error { return refuseIndex(ctx, c, ref) }
	}
	return evaluateGate(ctx, req, in, digest)
}

// digest is the digest of the image gated: --image's or --scan's, which
// must agree.
func (req GateRequest) digest() (string, error) {
	var digest string
	if req.Image != "" {
		d, err := imageDigest("--image", req.Image)
		if err != nil {
			return "", err
		}
		digest = d
	}
	if req.Scan != "" {
		d, err := imageDigest("--scan", req.Scan)
		if err != nil {
			return "", err
		}
		if digest != "" && d != digest {
			return "", fmt.Errorf("gate: --scan %s and --image %s name different digests", req.Scan, req.Image)
		}
		digest = d
	}
	if digest == "" {
		return "", fmt.Errorf("gate: no image: say which image the report is for (--image REPO@sha256:…)")
	}
	return digest, nil
}

// gateInputs are a gate request's policy, tightened by its flags, and its
// exceptions.
type gateInputs struct {
	policy gate.Policy
	ex     *gate.Exceptions
}

// loadGate reads and checks the policy and the exceptions.
func loadGate(req GateRequest) (gateInputs, error) {
	p := gate.DefaultPolicy()
	if req.PolicyPath != "" {
		data, err := os.ReadFile(req.PolicyPath)
		if err != nil {
			return gateInputs{}, fmt.Errorf("gate policy: %w", err)
		}
		if p, err = gate.ParsePolicy(data); err != nil {
			return gateInputs{}, fmt.Errorf("%s: %w", req.PolicyPath, err)
		}
	}
	p, err := p.Tighten(req.Flags)
	if err != nil {
		return gateInputs{}, err
	}
	var ex *gate.Exceptions
	if req.ExceptionsPath != "" {
		data, err := os.ReadFile(req.ExceptionsPath)
		if err != nil {
			return gateInputs{}, fmt.Errorf("exceptions: %w", err)
		}
		if ex, err = gate.ParseExceptions(data); err != nil {
			return gateInputs{}, fmt.Errorf("%s: %w", req.ExceptionsPath, err)
		}
	}
	return gateInputs{policy: p, ex: ex}, nil
}

// evaluateGate reads or makes the report of the image with the digest and
// evaluates it.
func evaluateGate(ctx context.Context, req GateRequest, in gateInputs, digest string) (*GateResult, error) {
	res := &GateResult{Source: req.ReportPath}
	var data []byte
	var err error
	if req.Scan != "" {
		out, err := req.Scanner.Scan(ctx, req.Scan)
		if err != nil {
			return nil, err
		}
		res.Scan, res.Source, data = out, "trivy", out.Report
	} else if data, err = os.ReadFile(req.ReportPath); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	r, err := gate.ParseReport(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", res.Source, err)
	}
	if res.Scan != nil && r.Scanner.DBVersion == "" {
		r.Scanner.DBVersion = res.Scan.DBVersion
	}
	now := time.Now
	if req.Now != nil {
		now = req.Now
	}
	if res.Result, err = gate.Evaluate(r, in.policy, in.ex, digest, now()); err != nil {
		return nil, fmt.Errorf("%s: %w", res.Source, err)
	}
	return res, nil
}

// Predicate returns the result as a cosign vulnerability predicate
// (gate.Result.Predicate) whose scan times, for a scan, are the scan's.
func (r *GateResult) Predicate(inv gate.Invocation) ([]byte, error) {
	if r.Scan != nil {
		inv.ScanStartedOn, inv.ScanFinishedOn = r.Scan.Started, r.Scan.Finished
	}
	return r.Result.Predicate(inv)
}

// refuseIndex refuses to scan an image index, and an image the registry
// does not have.
func refuseIndex(ctx context.Context, c *store.Client, ref string) error {
	r, err := c.ParseReference(ref)
	if err != nil {
		return err
	}
	_, desc, err := c.Resolve(ctx, r)
	if err != nil {
		return err
	}
	if desc.MediaType.IsIndex() {
		return fmt.Errorf("%s is an image index: trivy scans only one of its platforms; gate each platform's image by its digest", ref)
	}
	return nil
}
