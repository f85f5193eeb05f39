package gate

import (
	"encoding/json"
	"fmt"
	"strings"
)

// grypeDocument holds the fields of grype's JSON presenter document
// (grype/presenter/models.Document) that the gate reads.
type grypeDocument struct {
	Matches    []grypeMatch `json:"matches"`
	Source     *grypeSource `json:"source"`
	Descriptor struct {
		Name      string `json:"name"`
		Version   string `json:"version"`
		Timestamp string `json:"timestamp"`
		DB        *struct {
			// grype ≥ 0.88: {"status": {...}, "providers": {...}}
			Status *grypeDBStatus `json:"status"`
			// older grype: the status fields at this level
			grypeDBStatus
		} `json:"db"`
	} `json:"descriptor"`
}

type grypeDBStatus struct {
	SchemaVersion json.RawMessage `json:"schemaVersion"`
	Built         string          `json:"built"`
	From          string          `json:"from"`
}

type grypeSource struct {
	Type   string          `json:"type"`
	Target json.RawMessage `json:"target"`
}

// grypeImage is syft's source.ImageMetadata as grype prints it.
type grypeImage struct {
	UserInput      string   `json:"userInput"`
	ManifestDigest string   `json:"manifestDigest"`
	RepoDigests    []string `json:"repoDigests"`
}

type grypeMatch struct {
	Vulnerability struct {
		ID       string `json:"id"`
		Severity string `json:"severity"`
		Fix      struct {
			Versions []string `json:"versions"`
			State    string   `json:"state"`
		} `json:"fix"`
	} `json:"vulnerability"`
	Artifact struct {
		Name      string `json:"name"`
		Version   string `json:"version"`
		Type      string `json:"type"`
		PURL      string `json:"purl"`
		Locations []struct {
			Path string `json:"path"`
		} `json:"locations"`
	} `json:"artifact"`
}

// grypeOSTypes are syft's package types of operating-system package
// managers; every other type (npm, python, go-module, java-archive,
// binary, …) is a language or application package.
var grypeOSTypes = map[string]bool{"apk": true, "alpm": true, "deb": true, "rpm": true, "portage": true}

// grypeFixStates are grype's vulnerability.FixState values.
var grypeFixStates = map[string]bool{"": true, "fixed": true, "not-fixed": true, "wont-fix": true, "unknown": true}

func grypeSeverity(s string) (Severity, error) {
	switch strings.ToLower(s) {
	case "", "unknown":
		return SeverityUnknown, nil
	case "negligible", "low":
		return SeverityLow, nil
	case "medium":
		return SeverityMedium, nil
	case "high":
		return SeverityHigh, nil
	case "critical":
		return SeverityCritical, nil
	}
	return "", fmt.Errorf("unknown severity %q", s)
}

func parseGrype(data []byte) (*Report, error) {
	var doc grypeDocument
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownFormat, err)
	}
	if doc.Descriptor.Name != "grype" {
		return nil, fmt.Errorf("%w: descriptor.name is %q, not grype", ErrUnknownFormat, doc.Descriptor.Name)
	}
	if doc.Source == nil {
		return nil, fmt.Errorf("no source: the report does not say what was scanned")
	}
	if doc.Source.Type != "image" {
		return nil, fmt.Errorf("source.type is %q: the gate reads scans of container images", doc.Source.Type)
	}
	var img grypeImage
	if err := json.Unmarshal(doc.Source.Target, &img); err != nil {
		return nil, fmt.Errorf("source.target: %v", err)
	}
	r := &Report{
		Format:    "grype",
		Scanner:   Scanner{Name: "grype", Version: doc.Descriptor.Version},
		Artifact:  img.UserInput,
		CreatedAt: doc.Descriptor.Timestamp,
		Findings:  []Finding{},
	}
	if db := doc.Descriptor.DB; db != nil {
		st := db.grypeDBStatus
		if db.Status != nil {
			st = *db.Status
		}
		schema := strings.Trim(string(st.SchemaVersion), `"`)
		switch {
		case schema != "" && st.Built != "":
			r.Scanner.DBVersion = "v" + strings.TrimPrefix(schema, "v") + "@" + st.Built
		case schema != "":
			r.Scanner.DBVersion = "v" + strings.TrimPrefix(schema, "v")
		}
		r.Scanner.DBURI = st.From
	}
	for _, rd := range img.RepoDigests {
		if refDigest(rd) == "" {
			return nil, fmt.Errorf("source.target.repoDigests: %q is not REPOSITORY@DIGEST", rd)
		}
	}
	// The manifest grype scanned; a digest in userInput may name an index
	// of which grype scanned one platform's manifest.
	r.Digest = refDigest(img.UserInput)
	if img.ManifestDigest != "" {
		if !ValidDigest(img.ManifestDigest) {
			return nil, fmt.Errorf("source.target.manifestDigest %q is not a digest", img.ManifestDigest)
		}
		r.Digest = img.ManifestDigest
	}
	for i, m := range doc.Matches {
		v, a := m.Vulnerability, m.Artifact
		where := fmt.Sprintf("matches[%d]", i)
		if v.ID == "" || a.Name == "" {
			return nil, fmt.Errorf("%s: no vulnerability.id or artifact.name", where)
		}
		sev, err := grypeSeverity(v.Severity)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %v", where, v.ID, err)
		}
		if !grypeFixStates[v.Fix.State] {
			return nil, fmt.Errorf("%s (%s): unknown fix state %q", where, v.ID, v.Fix.State)
		}
		class := ClassLang
		if grypeOSTypes[a.Type] {
			class = ClassOS
		}
		f := Finding{
			ID:               v.ID,
			Package:          a.Name,
			InstalledVersion: a.Version,
			FixedVersion:     strings.Join(v.Fix.Versions, ", "),
			Severity:         sev,
			Status:           v.Fix.State,
			Fixable:          v.Fix.State == "fixed",
			Class:            class,
			Type:             a.Type,
			PURL:             a.PURL,
		}
		for _, l := range a.Locations {
			if l.Path != "" {
				f.Paths = append(f.Paths, cleanPath(l.Path))
			}
		}
		r.Findings = append(r.Findings, f)
	}
	return r, nil
}
