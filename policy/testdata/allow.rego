package hallmark.allow

default allow := false

allow if {
	input.predicateType == "https://slsa.dev/provenance/v1"
	some s in input.subject
	startswith(s.name, "registry.example.com/")
}
