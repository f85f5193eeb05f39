package gate

import (
	"encoding/json"
	"fmt"
)

// trivyReport holds the fields of trivy's types.Report (schema 2) that the
// gate reads; field names are trivy's JSON names.
type trivyReport struct {
	SchemaVersion int
	CreatedAt     string
	ArtifactName  string
	Trivy         struct {
		Version string
	}
	Metadata struct {
		RepoDigests []string
	}
	Results []trivyResult
}

type trivyResult struct {
	Target          string
	Class           string
	Type            string
	Vulnerabilities []trivyVuln
}

type trivyVuln struct {
	VulnerabilityID  string
	PkgName          string
	PkgPath          string
	PkgIdentifier    struct{ PURL string }
	InstalledVersion string
	FixedVersion     string
	Status           string
	Severity         string
}

// trivyStatuses are trivy-db's fix statuses (types.Statuses).
var trivyStatuses = map[string]bool{
	"unknown": true, "not_affected": true, "affected": true, "fixed": true,
	"under_investigation": true, "will_not_fix": true, "fix_deferred": true, "end_of_life": true,
}

// trivyClasses maps the result classes that hold packages to ours. Other
// classes (config, secret, license, license-file, custom) carry no
// vulnerabilities and are skipped.
var trivyClasses = map[string]Class{"os-pkgs": ClassOS, "lang-pkgs": ClassLang}

func parseTrivy(data []byte) (*Report, error) {
	var tr trivyReport
	if err := json.Unmarshal(data, &tr); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownFormat, err)
	}
	if tr.SchemaVersion != TrivySchemaVersion {
		return nil, fmt.Errorf("%w: schema version %d, this gate reads schema version %d", ErrUnknownFormat, tr.SchemaVersion, TrivySchemaVersion)
	}
	r := &Report{
		Format:    "trivy",
		Scanner:   Scanner{Name: "trivy", Version: tr.Trivy.Version},
		Artifact:  tr.ArtifactName,
		CreatedAt: tr.CreatedAt,
		Findings:  []Finding{},
	}
	for _, rd := range tr.Metadata.RepoDigests {
		if refDigest(rd) == "" {
			return nil, fmt.Errorf("Metadata.RepoDigests: %q is not REPOSITORY@DIGEST", rd)
		}
	}
	r.Digest = refDigest(tr.ArtifactName)
	for i, res := range tr.Results {
		if len(res.Vulnerabilities) == 0 {
			continue
		}
		class, ok := trivyClasses[res.Class]
		if !ok {
			return nil, fmt.Errorf("Results[%d] (%s): vulnerabilities in result class %q; the gate reads os-pkgs and lang-pkgs", i, res.Target, res.Class)
		}
		for j, v := range res.Vulnerabilities {
			where := fmt.Sprintf("Results[%d].Vulnerabilities[%d]", i, j)
			if v.VulnerabilityID == "" || v.PkgName == "" {
				return nil, fmt.Errorf("%s: no VulnerabilityID or PkgName", where)
			}
			sev := SeverityUnknown // trivy's own reading of an empty severity
			if v.Severity != "" {
				s, err := ParseSeverity(v.Severity)
				if err != nil {
					return nil, fmt.Errorf("%s (%s): %v", where, v.VulnerabilityID, err)
				}
				sev = s
			}
			if v.Status != "" && !trivyStatuses[v.Status] {
				return nil, fmt.Errorf("%s (%s): unknown status %q", where, v.VulnerabilityID, v.Status)
			}
			// Without a status (older reports), a fixed version means a fix.
			fixable := v.Status == "fixed" || (v.Status == "" && v.FixedVersion != "")
			f := Finding{
				ID:               v.VulnerabilityID,
				Package:          v.PkgName,
				InstalledVersion: v.InstalledVersion,
				FixedVersion:     v.FixedVersion,
				Severity:         sev,
				Status:           v.Status,
				Fixable:          fixable,
				Class:            class,
				Type:             res.Type,
				PURL:             v.PkgIdentifier.PURL,
			}
			for _, p := range []string{res.Target, v.PkgPath} {
				if p != "" {
					f.Paths = append(f.Paths, cleanPath(p))
				}
			}
			r.Findings = append(r.Findings, f)
		}
	}
	return r, nil
}
