// Package sbom reads the software bills of materials attached to images as
// attestations and says which image each claims to describe.
//
// Two formats are read, in JSON:
//
//   - CycloneDX 1.4 to 1.7 (https://cyclonedx.org/specification/overview/;
//     syft 1.57 writes 1.7 by default, trivy 0.70 writes 1.6),
//     decoded with github.com/CycloneDX/cyclonedx-go. The subject is
//     metadata.component.
//   - SPDX 2.2 and 2.3 (https://spdx.github.io/spdx-spec/v2.3/), decoded with
//     github.com/spdx/tools-golang. The subjects are the packages the document
//     DESCRIBES (the documentDescribes field or DESCRIBES / DESCRIBED_BY
//     relationships).
//
// # Which digest names the image
//
// An image has two digests a scanner may write: the manifest digest (what a
// registry serves and what hallmark signs) and the config digest (docker's
// "image ID"). A subject's digests are read as [Claim]s of a [Kind]:
//
//   - [Manifest]: the version of a pkg:oci package URL
//     (https://github.com/package-url/purl-spec/blob/main/types-doc/oci-definition.md:
//     the manifest digest), which trivy (from a registry) and syft (SPDX)
//     write; trivy's aquasecurity:trivy:RepoDigest ("repository@sha256:…",
//     the digest the registry served: for a multi-platform tag, the
//     index's); and the version of a CycloneDX container component when it
//     is a sha256 digest. syft writes there the digest of the reference it
//     was given, or for a layout or archive the manifest digest it read; for
//     a tag reference it writes the tag (no digest), and for a
//     docker-archive the digest of a manifest it makes up, which no
//     registry serves (such an SBOM matches no pushed image).
//   - [Config]: trivy's ImageID (a CycloneDX property, an SPDX annotation
//     "ImageID: …"), the image's config digest. It is the only digest trivy
//     writes for an image read from an archive or a layout.
//   - [ContentHash]: a SHA-256 in CycloneDX hashes or SPDX checksums of the
//     subject. The formats do not say what was hashed; syft writes the
//     manifest digest in SPDX checksums. Such a claim matches either digest.
//
// [CheckSubject] accepts an SBOM when it names no digest at all (the result
// says so), or when one of its claims names the image; it refuses an SBOM
// whose claims all name other digests, and one that names a config digest
// other than the image's when the image is a manifest whose config was read.
//
// Parsing is strict where the subject is concerned: duplicate JSON keys,
// and keys that match a field this package reads only when compared without
// regard to case (Go's encoding/json would read "Metadata" as "metadata",
// other parsers would not), are errors.
package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	spdxcommon "github.com/spdx/tools-golang/spdx/v2/common"
)

// Format is an SBOM format.
type Format string

// The formats this package reads.
const (
	CycloneDX Format = "CycloneDX"
	SPDX      Format = "SPDX"
)

// CycloneDXVersions and SPDXVersions are the specification versions Parse
// accepts.
var (
	CycloneDXVersions = []string{"1.4", "1.5", "1.6", "1.7"}
	SPDXVersions      = []string{"SPDX-2.2", "SPDX-2.3"}
)

// Kind says which digest of an image a claim names.
type Kind string

const (
	// Manifest is the manifest (or index) digest.
	Manifest Kind = "manifest"
	// Config is the config digest (docker's image ID).
	Config Kind = "config"
	// ContentHash is a SHA-256 of the subject whose meaning the format
	// leaves open: it may be either digest.
	ContentHash Kind = "hash"
)

// Claim is one digest an SBOM says its subject has.
type Claim struct {
	Kind Kind `json:"kind"`
	// Digest is "sha256:<64 lowercase hex>".
	Digest string `json:"digest"`
	// Field says where the claim was read, e.g. "metadata.component.purl".
	Field string `json:"field"`
}

func (c Claim) String() string { return fmt.Sprintf("%s digest %s (%s)", c.Kind, c.Digest, c.Field) }

// Subject is what an SBOM says it describes.
type Subject struct {
	Name    string  `json:"name,omitempty"`
	Version string  `json:"version,omitempty"`
	PURL    string  `json:"purl,omitempty"`
	Claims  []Claim `json:"claims,omitempty"`
}

// Document is what Parse read from an SBOM.
type Document struct {
	Format Format `json:"format"`
	// SpecVersion is "1.5" for CycloneDX, "SPDX-2.3" for SPDX, as written.
	SpecVersion string `json:"specVersion"`
	// Components counts CycloneDX components (nested ones included, the
	// subject excluded) or SPDX packages.
	Components int `json:"components"`
	// Created is the document's creation time (CycloneDX
	// metadata.timestamp, SPDX creationInfo.created); zero if absent.
	Created time.Time `json:"created,omitzero"`
	// Subjects are what the document describes: CycloneDX has at most one.
	Subjects []Subject `json:"subjects,omitempty"`
}

// Claims returns every digest claim of every subject.
func (d *Document) Claims() []Claim {
	var out []Claim
	for _, s := range d.Subjects {
		out = append(out, s.Claims...)
	}
	return out
}

// MalformedError reports an SBOM that is not a well-formed document of the
// format it declares.
type MalformedError struct {
	Format Format // "" when the format could not be told
	Err    error
}

func (e *MalformedError) Error() string {
	if e.Format == "" {
		return "sbom: " + e.Err.Error()
	}
	return fmt.Sprintf("sbom: malformed %s: %v", e.Format, e.Err)
}

func (e *MalformedError) Unwrap() error { return e.Err }

func malformed(f Format, format string, args ...any) error {
	return &MalformedError{Format: f, Err: fmt.Errorf(format, args...)}
}

// Parse reads a CycloneDX or SPDX JSON document, telling them apart by their
// bomFormat and spdxVersion fields.
func Parse(data []byte) (*Document, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, malformed("", "not a JSON object")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, malformed("", "invalid JSON: %v", err)
	}
	_, isCDX := top["bomFormat"]
	_, isSPDX := top["spdxVersion"]
	var f Format
	switch {
	case isCDX && isSPDX:
		return nil, malformed("", "the document has both bomFormat (CycloneDX) and spdxVersion (SPDX)")
	case isCDX:
		f = CycloneDX
	case isSPDX:
		f = SPDX
	default:
		return nil, malformed("", "neither CycloneDX JSON (no bomFormat) nor SPDX JSON (no spdxVersion)")
	}
	if err := checkKeys(data); err != nil {
		return nil, &MalformedError{Format: f, Err: err}
	}
	if f == CycloneDX {
		return parseCycloneDX(data, top)
	}
	return parseSPDX(data, top)
}

func parseCycloneDX(data []byte, top map[string]json.RawMessage) (*Document, error) {
	var format, version string
	if json.Unmarshal(top["bomFormat"], &format) != nil || format != cdx.BOMFormat {
		return nil, malformed(CycloneDX, "bomFormat %s, want %q", top["bomFormat"], cdx.BOMFormat)
	}
	if json.Unmarshal(top["specVersion"], &version) != nil || !slices.Contains(CycloneDXVersions, version) {
		return nil, malformed(CycloneDX, "specVersion %s is not supported (want one of %s)", orMissing(top["specVersion"]), strings.Join(CycloneDXVersions, ", "))
	}
	var bom cdx.BOM
	if err := json.Unmarshal(data, &bom); err != nil {
		return nil, malformed(CycloneDX, "%v", err)
	}
	doc := &Document{Format: CycloneDX, SpecVersion: version}
	if bom.Components != nil {
		doc.Components = countComponents(*bom.Components)
	}
	if bom.Metadata == nil {
		return doc, nil
	}
	if ts := bom.Metadata.Timestamp; ts != "" {
		t, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			return nil, malformed(CycloneDX, "metadata.timestamp %q is not an RFC 3339 time", ts)
		}
		doc.Created = t
	}
	if c := bom.Metadata.Component; c != nil {
		s, err := cycloneDXSubject(c)
		if err != nil {
			return nil, &MalformedError{Format: CycloneDX, Err: err}
		}
		doc.Subjects = []Subject{s}
	}
	return doc, nil
}

func countComponents(cs []cdx.Component) int {
	n := len(cs)
	for _, c := range cs {
		if c.Components != nil {
			n += countComponents(*c.Components)
		}
	}
	return n
}

// Trivy's property names (github.com/aquasecurity/trivy pkg/sbom/core).
const (
	trivyImageID    = "aquasecurity:trivy:ImageID"
	trivyRepoDigest = "aquasecurity:trivy:RepoDigest"
)

func cycloneDXSubject(c *cdx.Component) (Subject, error) {
	const at = "metadata.component"
	s := Subject{Name: c.Name, Version: c.Version, PURL: c.PackageURL}
	if c.Name == "" || c.Type == "" {
		return s, fmt.Errorf("%s needs a type and a name", at)
	}
	if c.PackageURL != "" {
		claim, err := purlClaim(c.PackageURL, at+".purl")
		if err != nil {
			return s, err
		}
		if claim != nil {
			s.Claims = append(s.Claims, *claim)
		}
	}
	if c.Type == cdx.ComponentTypeContainer && digestRE.MatchString(c.Version) {
		s.Claims = append(s.Claims, Claim{Kind: Manifest, Digest: c.Version, Field: at + ".version"})
	}
	if c.Hashes != nil {
		for i, h := range *c.Hashes {
			if h.Algorithm != cdx.HashAlgoSHA256 {
				continue
			}
			field := fmt.Sprintf("%s.hashes[%d]", at, i)
			if !hexRE.MatchString(h.Value) {
				return s, fmt.Errorf("%s: SHA-256 %q is not 64 hex digits", field, h.Value)
			}
			s.Claims = append(s.Claims, Claim{Kind: ContentHash, Digest: "sha256:" + strings.ToLower(h.Value), Field: field})
		}
	}
	if c.Properties != nil {
		for _, p := range *c.Properties {
			if p.Name != trivyImageID && p.Name != trivyRepoDigest {
				continue
			}
			c, err := trivyClaim(p.Name, p.Value, fmt.Sprintf("%s.properties[%s]", at, p.Name))
			if err != nil {
				return s, err
			}
			s.Claims = append(s.Claims, c)
		}
	}
	return s, nil
}

// trivyClaim reads trivy's ImageID (the config digest) or RepoDigest
// ("repository@sha256:…", the digest the registry served: a manifest's or,
// for a multi-platform tag, the index's).
func trivyClaim(property, value, field string) (Claim, error) {
	if property == trivyImageID {
		if !digestRE.MatchString(value) {
			return Claim{}, fmt.Errorf("%s: %q is not a sha256 digest", field, value)
		}
		return Claim{Kind: Config, Digest: value, Field: field}, nil
	}
	i := strings.LastIndexByte(value, '@')
	if i < 0 || !digestRE.MatchString(value[i+1:]) {
		return Claim{}, fmt.Errorf("%s: %q is not repository@sha256:<hex>", field, value)
	}
	return Claim{Kind: Manifest, Digest: value[i+1:], Field: field}, nil
}

var (
	digestRE = regexp.MustCompile(`\Asha256:[0-9a-f]{64}\z`)
	hexRE    = regexp.MustCompile(`\A[0-9a-fA-F]{64}\z`)
)

// purlClaim reads the digest of a pkg:oci package URL: its version, which
// the purl-spec defines as the manifest digest. Other package URL types
// name no image digest.
func purlClaim(purl, field string) (*Claim, error) {
	rest, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return nil, fmt.Errorf("%s %q is not a package URL", field, purl)
	}
	rest = strings.TrimLeft(rest, "/")
	typ, rest, _ := strings.Cut(rest, "/")
	if !strings.EqualFold(typ, "oci") {
		return nil, nil
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, _, _ = strings.Cut(rest, "?")
	i := strings.LastIndexByte(rest, '@')
	if i < 0 {
		return nil, fmt.Errorf("%s %q: a pkg:oci package URL needs a version (the manifest digest)", field, purl)
	}
	v, err := url.PathUnescape(rest[i+1:])
	if err != nil || !digestRE.MatchString(v) {
		return nil, fmt.Errorf("%s %q: the pkg:oci version is not a sha256 digest", field, purl)
	}
	return &Claim{Kind: Manifest, Digest: v, Field: field}, nil
}

func parseSPDX(data []byte, top map[string]json.RawMessage) (*Document, error) {
	var version string
	if json.Unmarshal(top["spdxVersion"], &version) != nil || !slices.Contains(SPDXVersions, version) {
		return nil, malformed(SPDX, "spdxVersion %s is not supported (want one of %s)", orMissing(top["spdxVersion"]), strings.Join(SPDXVersions, ", "))
	}
	d, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return nil, malformed(SPDX, "%v", err)
	}
	if d.SPDXIdentifier != "DOCUMENT" {
		return nil, malformed(SPDX, "SPDXID %q, want SPDXRef-DOCUMENT", "SPDXRef-"+d.SPDXIdentifier)
	}
	if d.DocumentName == "" || d.DocumentNamespace == "" || d.CreationInfo == nil {
		return nil, malformed(SPDX, "name, documentNamespace and creationInfo are required")
	}
	if len(d.CreationInfo.Creators) == 0 {
		return nil, malformed(SPDX, "creationInfo.creators is empty")
	}
	for _, c := range d.CreationInfo.Creators {
		if c.Creator == "" || (c.CreatorType != "Person" && c.CreatorType != "Organization" && c.CreatorType != "Tool") {
			return nil, malformed(SPDX, "creator %q is not Person:, Organization: or Tool: and a name", c.CreatorType+": "+c.Creator)
		}
	}
	doc := &Document{Format: SPDX, SpecVersion: version, Components: len(d.Packages)}
	if d.CreationInfo.Created != "" {
		t, err := time.Parse(time.RFC3339, d.CreationInfo.Created)
		if err != nil {
			return nil, malformed(SPDX, "creationInfo.created %q is not an RFC 3339 time", d.CreationInfo.Created)
		}
		doc.Created = t
	}
	packages := map[spdxcommon.ElementID]*spdx.Package{}
	for _, p := range d.Packages {
		if p == nil {
			return nil, malformed(SPDX, "null package")
		}
		if _, dup := packages[p.PackageSPDXIdentifier]; dup {
			return nil, malformed(SPDX, "two packages have SPDXID %q", "SPDXRef-"+p.PackageSPDXIdentifier)
		}
		packages[p.PackageSPDXIdentifier] = p
	}
	var described []spdxcommon.ElementID
	for _, r := range d.Relationships {
		var id spdxcommon.DocElementID
		switch {
		case r.Relationship == spdxcommon.TypeRelationshipDescribe && isDocument(r.RefA):
			id = r.RefB
		case r.Relationship == spdxcommon.TypeRelationshipDescribeBy && isDocument(r.RefB):
			id = r.RefA
		default:
			continue
		}
		if id.DocumentRefID != "" || id.SpecialID != "" || slices.Contains(described, id.ElementRefID) {
			continue
		}
		described = append(described, id.ElementRefID)
	}
	for _, id := range described {
		p, ok := packages[id]
		if !ok {
			continue // a file or snippet: not an image
		}
		s, err := spdxSubject(p)
		if err != nil {
			return nil, &MalformedError{Format: SPDX, Err: err}
		}
		doc.Subjects = append(doc.Subjects, s)
	}
	return doc, nil
}

func isDocument(id spdxcommon.DocElementID) bool {
	return id.DocumentRefID == "" && id.SpecialID == "" && id.ElementRefID == "DOCUMENT"
}

func spdxSubject(p *spdx.Package) (Subject, error) {
	at := "package SPDXRef-" + string(p.PackageSPDXIdentifier)
	s := Subject{Name: p.PackageName, Version: p.PackageVersion}
	for i, c := range p.PackageChecksums {
		if c.Algorithm != spdxcommon.SHA256 {
			continue
		}
		field := fmt.Sprintf("%s checksums[%d]", at, i)
		if !hexRE.MatchString(c.Value) {
			return s, fmt.Errorf("%s: SHA256 %q is not 64 hex digits", field, c.Value)
		}
		s.Claims = append(s.Claims, Claim{Kind: ContentHash, Digest: "sha256:" + strings.ToLower(c.Value), Field: field})
	}
	for i, r := range p.PackageExternalReferences {
		if r == nil || r.RefType != spdxcommon.TypePackageManagerPURL {
			continue
		}
		if s.PURL == "" {
			s.PURL = r.Locator
		}
		claim, err := purlClaim(r.Locator, fmt.Sprintf("%s externalRefs[%d] purl", at, i))
		if err != nil {
			return s, err
		}
		if claim != nil {
			s.Claims = append(s.Claims, *claim)
		}
	}
	// trivy writes its properties as annotations "ImageID: sha256:…" and
	// "RepoDigest: repository@sha256:…" of the described package.
	for i, a := range p.Annotations {
		field := fmt.Sprintf("%s annotations[%d]", at, i)
		switch k, v, _ := strings.Cut(a.AnnotationComment, ": "); k {
		case "ImageID":
			c, err := trivyClaim(trivyImageID, v, field)
			if err != nil {
				return s, err
			}
			s.Claims = append(s.Claims, c)
		case "RepoDigest":
			c, err := trivyClaim(trivyRepoDigest, v, field)
			if err != nil {
				return s, err
			}
			s.Claims = append(s.Claims, c)
		}
	}
	return s, nil
}

func orMissing(raw json.RawMessage) string {
	if raw == nil {
		return "(missing)"
	}
	return string(raw)
}

// Image is what an SBOM is checked against.
type Image struct {
	// Digest is the digest being attested: an image manifest's or an
	// index's, "sha256:<hex>". Required.
	Digest string
	// Config is the image's config digest when Digest is an image manifest
	// and the caller read it; empty for an index.
	Config string
}

// ErrOtherSubject is returned (wrapped) by CheckSubject when an SBOM claims
// to describe another image.
var ErrOtherSubject = errors.New("the SBOM describes another image")

// CheckSubject checks that the SBOM is about img. It returns the claim that
// names img, or nil when the SBOM names no digest (then nothing could be
// checked). It refuses an SBOM that names digests but none of img's, and
// one that names a config digest other than img's.
func CheckSubject(doc *Document, img Image) (*Claim, error) {
	if !digestRE.MatchString(img.Digest) {
		return nil, fmt.Errorf("sbom: image digest %q is not sha256:<64 hex>", img.Digest)
	}
	if img.Config != "" && !digestRE.MatchString(img.Config) {
		return nil, fmt.Errorf("sbom: config digest %q is not sha256:<64 hex>", img.Config)
	}
	claims := doc.Claims()
	if len(claims) == 0 {
		return nil, nil
	}
	var match *Claim
	for i, c := range claims {
		if img.Config != "" && c.Kind == Config && c.Digest != img.Config {
			return nil, fmt.Errorf("sbom: %w: it names %s, but %s has config digest %s", ErrOtherSubject, c, img.Digest, img.Config)
		}
		if match == nil && names(c, img) {
			match = &claims[i]
		}
	}
	if match != nil {
		return match, nil
	}
	named := make([]string, len(claims))
	for i, c := range claims {
		named[i] = c.String()
	}
	what := img.Digest
	if img.Config != "" {
		what += " (config " + img.Config + ")"
	}
	return nil, fmt.Errorf("sbom: %w: it names %s, not %s", ErrOtherSubject, strings.Join(named, ", "), what)
}

func names(c Claim, img Image) bool {
	switch c.Kind {
	case Manifest:
		return c.Digest == img.Digest
	case Config:
		return img.Config != "" && c.Digest == img.Config
	case ContentHash:
		return c.Digest == img.Digest || (img.Config != "" && c.Digest == img.Config)
	}
	return false
}
