// Command gen writes a CycloneDX SBOM (JSON) of about the given size,
// for bench/bigattest/run: one application with many library components,
// each with a purl, hashes, a license, external references and properties,
// and the dependency graph, as SBOM generators write for a large image.
// The content is deterministic.
//
//	go run ./bench/bigattest/gen -size 50000000 -o sbom.cdx.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

func main() {
	size := flag.Int("size", 50_000_000, "target size in bytes (the output is at most this)")
	out := flag.String("o", "", "output file")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gen: -o is required")
		os.Exit(2)
	}
	b, err := generate(*size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

var (
	ecosystems = []struct{ typ, ns string }{{"npm", ""}, {"golang", "github.com/example"}, {"maven", "org.example"}, {"pypi", ""}, {"deb", "debian"}}
	licenses   = []string{"MIT", "Apache-2.0", "BSD-3-Clause", "ISC", "MPL-2.0", "GPL-2.0-only", "LGPL-2.1-or-later"}
)

func component(rng *rand.Rand, i int) cdx.Component {
	eco := ecosystems[i%len(ecosystems)]
	name := fmt.Sprintf("pkg-%06d-%x", i, rng.Uint32())
	version := fmt.Sprintf("%d.%d.%d", rng.IntN(20), rng.IntN(50), rng.IntN(100))
	purl := fmt.Sprintf("pkg:%s/%s@%s", eco.typ, name, version)
	if eco.ns != "" {
		purl = fmt.Sprintf("pkg:%s/%s/%s@%s", eco.typ, eco.ns, name, version)
	}
	sha256 := fmt.Sprintf("%016x%016x%016x%016x", rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64())
	sha1 := fmt.Sprintf("%016x%016x%08x", rng.Uint64(), rng.Uint64(), rng.Uint32())
	lic := licenses[rng.IntN(len(licenses))]
	return cdx.Component{
		BOMRef:      purl,
		Type:        cdx.ComponentTypeLibrary,
		Name:        name,
		Version:     version,
		Description: fmt.Sprintf("Library %s, a dependency of the application (%s ecosystem).", name, eco.typ),
		Scope:       cdx.ScopeRequired,
		Hashes:      &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: sha256}, {Algorithm: cdx.HashAlgoSHA1, Value: sha1}},
		Licenses:    &cdx.Licenses{{License: &cdx.License{ID: lic}}},
		PackageURL:  purl,
		ExternalReferences: &[]cdx.ExternalReference{
			{Type: cdx.ERTypeVCS, URL: "https://git.example.com/" + name + ".git"},
			{Type: cdx.ERTypeWebsite, URL: "https://" + name + ".example.org/"},
		},
		Properties: &[]cdx.Property{
			{Name: "syft:package:foundBy", Value: eco.typ + "-cataloger"},
			{Name: "syft:location:0:path", Value: fmt.Sprintf("/usr/lib/%s/%s/%s", eco.typ, name, version)},
		},
	}
}

func generate(size int) ([]byte, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"
	bom.Metadata = &cdx.Metadata{
		Timestamp: "2026-11-22T00:00:00Z",
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: "bench-gen", Version: "1"}}},
		Component: &cdx.Component{BOMRef: "pkg:oci/app@sha256:0", Type: cdx.ComponentTypeContainer, Name: "app", Version: "1.0.0"},
	}
	var comps []cdx.Component
	var deps []cdx.Dependency
	// Each component costs its JSON, a dependency entry and a reference in
	// the application's dependency list; stop before the size.
	total := 2048
	for i := 0; ; i++ {
		c := component(rng, i)
		cj, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		var dep []string
		if i > 0 {
			dep = []string{comps[rng.IntN(len(comps))].BOMRef}
		}
		d := cdx.Dependency{Ref: c.BOMRef, Dependencies: &dep}
		dj, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		cost := len(cj) + len(dj) + len(c.BOMRef) + 5
		if total+cost > size {
			break
		}
		total += cost
		comps = append(comps, c)
		deps = append(deps, d)
	}
	var refs []string
	for _, c := range comps {
		refs = append(refs, c.BOMRef)
	}
	deps = append([]cdx.Dependency{{Ref: bom.Metadata.Component.BOMRef, Dependencies: &refs}}, deps...)
	bom.Components = &comps
	bom.Dependencies = &deps
	var buf bytes.Buffer
	if err := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).SetPretty(false).Encode(bom); err != nil {
		return nil, err
	}
	b := bytes.TrimSpace(buf.Bytes())
	if len(b) > size {
		return nil, fmt.Errorf("generated %d bytes, over %d", len(b), size)
	}
	return b, nil
}
