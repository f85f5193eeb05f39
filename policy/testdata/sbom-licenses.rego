package conforma.sbom_licenses

permissive := {"Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Zlib"}

deny contains result if {
	input.predicateType == "https://cyclonedx.org/bom"
	some c in input.predicate.components
	some l in c.licenses
	not permissive[l.license.id]
	result := {
		"code": "sbom.disallowed_license",
		"msg": sprintf("component %s %s is licensed %s", [c.name, c.version, l.license.id]),
	}
}

deny contains "not a CycloneDX SBOM" if {
	input.predicateType != "https://cyclonedx.org/bom"
}
