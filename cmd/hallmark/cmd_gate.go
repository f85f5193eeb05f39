package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hallmark.dev/gate"
	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/scan"
)

// gateFlags are the flags that set the gate's policy and exceptions, shared
// by gate and release.
type gateFlags struct {
	policyPath, exceptions, trivyPath string
	severities, pkgTypes              []string
	ignoreUnfixed                     bool
	cmd                               *cobra.Command
}

func (g *gateFlags) bind(cmd *cobra.Command) {
	g.cmd = cmd
	f := cmd.Flags()
	f.StringVar(&g.policyPath, "policy", "", "gate policy file (YAML: severities, packageClasses, fixableOnly, expiryWarningDays); default: fixable HIGH,CRITICAL in OS packages block")
	f.StringVar(&g.exceptions, "exceptions", "", "exceptions file in trivy's .trivyignore.yaml format (statement and expired_at required)")
	f.StringSliceVar(&g.severities, "severity", nil, "severities that block (stricter only: must include the policy's)")
	f.StringSliceVar(&g.pkgTypes, "pkg-types", nil, "package classes in scope: os, library (stricter only: must include the policy's)")
	f.BoolVar(&g.ignoreUnfixed, "ignore-unfixed", true, "only findings with a fix block; --ignore-unfixed=false blocks unfixed findings too (stricter only)")
	f.StringVar(&g.trivyPath, "trivy", "", "the trivy binary for --scan (default: trivy on PATH)")
}

// request fills the policy part of a gate request.
func (g *gateFlags) request(req ops.GateRequest) ops.GateRequest {
	flags := gate.Flags{}
	if g.cmd.Flags().Changed("severity") {
		flags.Severities = append([]string{}, g.severities...)
	}
	if g.cmd.Flags().Changed("pkg-types") {
		flags.PackageClasses = append([]string{}, g.pkgTypes...)
	}
	if g.cmd.Flags().Changed("ignore-unfixed") {
		fixableOnly := g.ignoreUnfixed
		flags.FixableOnly = &fixableOnly
	}
	req.PolicyPath, req.ExceptionsPath, req.Flags = g.policyPath, g.exceptions, flags
	req.Scanner = scan.Trivy{Path: g.trivyPath}
	return req
}

// error explains a gate error (see gateError).
func (g *gateFlags) error(err error) error { return gateError(err, g.severities, g.pkgTypes) }

func gateCmd(e *env) *cobra.Command {
	var (
		gf                     gateFlags
		rf                     registryFlags
		report, scanRef, image string
		output, predicate      string
	)
	cmd := &cobra.Command{
		Use:   "gate (--report REPORT.json --image REPO@sha256:… | --scan REPO@sha256:…) [--policy GATE.yaml] [--exceptions .trivyignore.yaml]",
		Short: "Gate an image on its vulnerability scan under a CVE policy and documented, expiring exceptions",
		Long: `Gate an image on a trivy (JSON schema 2) or grype JSON report, or on a fresh
trivy scan (--scan: trivy image --scanners vuln by digest).

By default a fixable (status fixed) HIGH or CRITICAL vulnerability in an OS
package blocks. A policy file (--policy) sets severities, packageClasses,
fixableOnly and expiryWarningDays; --severity, --pkg-types and
--ignore-unfixed may make the gate stricter, never weaker.

Exceptions use trivy's .trivyignore.yaml format; every entry needs a
statement and an expired_at date (YYYY-MM-DD), from 00:00 UTC of which the
finding blocks again. The exit status is 1 if anything blocks.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if report == "" && scanRef == "" {
				return withHint(errors.New("nothing to gate"), "pass --report REPORT.json --image REPO@sha256:…, or --scan REPO@sha256:… to run trivy")
			}
			if report != "" && scanRef != "" {
				return withHint(errors.New("--report and --scan are both given"), "gate a report file or a fresh scan, not both")
			}
			if report != "" && image == "" {
				return withHint(errors.New("--image is required with --report"), "name the image the report must be for: --image REPO@sha256:…")
			}
			res, err := ops.Gate(cmd.Context(), rf.client(), gf.request(ops.GateRequest{ReportPath: report, Scan: scanRef, Image: image}))
			if err != nil {
				return gf.error(err)
			}
			e.warnExpiring(res)
			if predicate != "" {
				p, err := res.Predicate(gate.Invocation{})
				if err != nil {
					return err
				}
				if err := os.WriteFile(predicate, append(p, '\n'), 0o644); err != nil {
					return fmt.Errorf("write predicate: %w", err)
				}
			}
			if output == "json" {
				if err := e.json(res); err != nil {
					return err
				}
			} else {
				e.printGate(res)
			}
			if !res.Passed {
				return withHint(fmt.Errorf("gate: %d blocking finding(s) in %s", len(res.Blocking), res.Image),
					"update the packages and rebuild, or record a reviewed exception (id, statement, expired_at) in .trivyignore.yaml")
			}
			return nil
		},
	}
	gf.bind(cmd)
	rf.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&report, "report", "", "a trivy (JSON, schema 2) or grype (JSON) report of the image")
	f.StringVar(&scanRef, "scan", "", "scan this image (REPO@sha256:…) with trivy and gate its report")
	f.StringVar(&image, "image", "", "the image the report must be for (REPO@sha256:…); required with --report")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	f.StringVar(&predicate, "predicate", "", "write the result as a cosign vulnerability predicate (https://cosign.sigstore.dev/attestation/vuln/v1) to this file")
	return cmd
}

// gateError names the flag behind a weakening and says what to do
// instead.
func gateError(err error, severities, pkgTypes []string) error {
	var we *gate.WeakeningError
	if errors.As(err, &we) {
		var msg string
		switch we.Setting {
		case "severities":
			msg = fmt.Sprintf("--severity %s would stop blocking %s, which the gate policy blocks", strings.Join(severities, ","), strings.Join(we.Dropped, ", "))
		case "packageClasses":
			msg = fmt.Sprintf("--pkg-types %s would take %s packages out of scope, which the gate policy has in scope", strings.Join(pkgTypes, ","), strings.Join(we.Dropped, ", "))
		default:
			msg = "--ignore-unfixed would stop unfixed findings from blocking, which the gate policy blocks"
		}
		return withHint(errors.New(msg), "a flag may make the gate stricter, never weaker; to relax the gate, change the policy file")
	}
	switch {
	case errors.Is(err, scan.ErrNotInstalled):
		return withHint(err, "install trivy (or pass --trivy PATH), or scan the image yourself and pass --report")
	case errors.Is(err, gate.ErrWrongImage):
		return withHint(err, "gate the report of this very image: scan it by digest")
	case errors.Is(err, gate.ErrUnknownFormat):
		return withHint(err, "pass a trivy report (trivy image --format json, schema version 2) or a grype report (grype -o json)")
	}
	return err
}

// warnExpiring warns about exceptions that expire within the policy's
// warning window.
func (e *env) warnExpiring(res *ops.GateResult) {
	for _, x := range res.Expiring {
		e.warn("exception %s expires on %s (%s): %s", x.Name(), x.Date(), untilDate(x.ExpiredAt, res.EvaluatedAt), x.Statement)
	}
}

func untilDate(t, now time.Time) string {
	days := int(t.Sub(now).Hours()/24 + 0.999)
	if days <= 1 {
		return "in less than a day"
	}
	return fmt.Sprintf("in %d days", days)
}

func (e *env) printGate(res *ops.GateResult) {
	verdict := "passed"
	if !res.Passed {
		verdict = "FAILED"
	}
	scanner := res.Scanner.Name
	if res.Scanner.Version != "" {
		scanner += " " + res.Scanner.Version
	}
	if res.Scanner.DBVersion != "" {
		scanner += ", DB " + res.Scanner.DBVersion
	}
	e.printf("Gate %s for %s (%s)\n", verdict, res.Image, scanner)
	p := res.Policy
	var sev, cls []string
	for _, s := range p.Severities {
		sev = append(sev, string(s))
	}
	for _, c := range p.PackageClasses {
		cls = append(cls, string(c))
	}
	fix := "fixed or not"
	if p.FixableOnly {
		fix = "fixable only"
	}
	e.printf("  policy: %s in %s packages, %s (%s)\n", strings.Join(sev, ","), strings.Join(cls, ","), fix, res.PolicyDigest)
	e.printf("  findings: %d in the report, %d blocking, %d excepted\n", res.Findings, len(res.Blocking), len(res.Excepted))
	if len(res.Blocking) > 0 {
		e.printf("\nBlocking:\n")
		rows := [][]string{{"ID", "PACKAGE", "INSTALLED → FIXED", "SEVERITY", ""}}
		for _, b := range res.Blocking {
			note := ""
			if b.ExpiredException != nil {
				note = "exception expired " + b.ExpiredException.Date()
				rows[0][4] = "NOTE"
			}
			rows = append(rows, []string{b.ID, b.Package, versions(b.Finding), string(b.Severity), note})
		}
		e.table("  ", rows)
	}
	if len(res.Excepted) > 0 {
		e.printf("\nExceptions used:\n")
		rows := [][]string{{"ID", "PACKAGE", "INSTALLED → FIXED", "SEVERITY", "UNTIL", "STATEMENT"}}
		for _, x := range res.Excepted {
			rows = append(rows, []string{x.ID, x.Package, versions(x.Finding), string(x.Severity), x.Exception.Date(), oneLine(x.Exception.Statement)})
		}
		e.table("  ", rows)
	}
}

func versions(f gate.Finding) string {
	fixed := f.FixedVersion
	if fixed == "" {
		fixed = "(no fix)"
	}
	return f.InstalledVersion + " → " + fixed
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
