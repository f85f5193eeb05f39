package gate

import (
	"fmt"
	"strings"
)

// Severity is a finding's severity, in trivy's vocabulary.
type Severity string

// Severities, from least to most severe. grype's Negligible is read as LOW.
const (
	SeverityUnknown  Severity = "UNKNOWN"
	SeverityLow      Severity = "LOW"
	SeverityMedium   Severity = "MEDIUM"
	SeverityHigh     Severity = "HIGH"
	SeverityCritical Severity = "CRITICAL"
)

var severityRank = map[Severity]int{
	SeverityUnknown: 0, SeverityLow: 1, SeverityMedium: 2, SeverityHigh: 3, SeverityCritical: 4,
}

// ParseSeverity reads a severity name, in any case.
func ParseSeverity(s string) (Severity, error) {
	v := Severity(strings.ToUpper(strings.TrimSpace(s)))
	if _, ok := severityRank[v]; !ok {
		return "", fmt.Errorf("unknown severity %q (want UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL)", s)
	}
	return v, nil
}

// Class is the kind of package a finding is in.
type Class string

const (
	// ClassOS is a package of the operating system's package manager
	// (dpkg, apk, rpm, …): trivy's "os-pkgs".
	ClassOS Class = "os"
	// ClassLang is a language or application package (npm, pip, Go
	// modules, jars, …): trivy's "lang-pkgs".
	ClassLang Class = "lang"
)

// ParseClass reads a package class: os, or lang (also trivy's name,
// library).
func ParseClass(s string) (Class, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "os":
		return ClassOS, nil
	case "lang", "library":
		return ClassLang, nil
	}
	return "", fmt.Errorf("unknown package class %q (want os or lang)", s)
}

// Finding is one vulnerability in one package, whichever scanner found it.
type Finding struct {
	// ID is the vulnerability's identifier (CVE-…, GHSA-…).
	ID string `json:"id"`
	// Package is the package name.
	Package          string `json:"package"`
	InstalledVersion string `json:"installedVersion"`
	// FixedVersion is the version(s) with a fix, empty when none is known.
	FixedVersion string   `json:"fixedVersion,omitempty"`
	Severity     Severity `json:"severity"`
	// Status is the fix status as the scanner wrote it: trivy's fixed,
	// affected, will_not_fix, …; grype's fixed, not-fixed, wont-fix, ….
	Status string `json:"status,omitempty"`
	// Fixable reports whether a fixed version exists (status fixed).
	Fixable bool  `json:"fixable"`
	Class   Class `json:"class"`
	// Type is the scanner's package or target type (debian, alpine,
	// python-pkg; grype's deb, apk, python, …).
	Type string `json:"type,omitempty"`
	// PURL is the package URL, when the scanner gave one.
	PURL string `json:"purl,omitempty"`
	// Paths are where the package was found: trivy's target and package
	// path, grype's locations, without a leading slash.
	Paths []string `json:"paths,omitempty"`
}

// Scanner names what produced a report.
type Scanner struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// DBVersion and DBURI describe the vulnerability database, when known.
	DBVersion string `json:"dbVersion,omitempty"`
	DBURI     string `json:"dbURI,omitempty"`
}

// Report is a scanner's report read into the finding model.
type Report struct {
	// Format is "trivy" or "grype".
	Format  string  `json:"format"`
	Scanner Scanner `json:"scanner"`
	// Artifact is the name the scanner gave the scanned image.
	Artifact string `json:"artifact"`
	// Digest is the manifest digest (sha256:…) of the image the scanner
	// scanned: the digest of trivy's ArtifactName, grype's
	// source.target.manifestDigest (or, without one, the digest of its
	// userInput). It is "" when the report does not name the scanned image
	// by digest (a scan by tag or of an archive): the repo digests a report
	// also lists may name other images and never stand in for it.
	Digest string `json:"digest,omitempty"`
	// CreatedAt is when the scan ran, as the report says ("" if not).
	CreatedAt string    `json:"createdAt,omitempty"`
	Findings  []Finding `json:"findings"`
}
