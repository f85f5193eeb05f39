package hallmark.provenance

builder_prefix := "https://github.com/slsa-framework/slsa-github-generator/"

# A helper rule, so that a missing builder id denies too: `not f(x)` with
# x undefined is undefined, not true.
trusted_builder if startswith(input.predicate.runDetails.builder.id, builder_prefix)

deny contains msg if {
	input.predicateType != "https://slsa.dev/provenance/v1"
	msg := sprintf("predicate type %q is not SLSA provenance v1", [input.predicateType])
}

deny contains msg if {
	not trusted_builder
	msg := "builder is not the SLSA GitHub generator"
}

deny contains {"code": "provenance.source", "msg": msg} if {
	repo := input.predicate.buildDefinition.externalParameters.workflow.repository
	repo != "https://github.com/acme/app"
	msg := sprintf("built from %s, not github.com/acme/app", [repo])
}
