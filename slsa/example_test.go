package slsa_test

import (
	"encoding/json"
	"fmt"

	"hallmark.dev/attest"
	"hallmark.dev/slsa"
)

// Check runs on a statement whose signature was verified (for example by
// verify.Attestations or verify.Statement, which return the statement and
// its payload); here one is built in place.
func ExampleCheck() {
	payload, err := attest.NewStatement(slsa.PredicateV1, json.RawMessage(`{
		"buildDefinition": {
			"buildType": "https://actions.github.io/buildtypes/workflow/v1",
			"externalParameters": {"workflow": {"repository": "https://github.com/org/app", "ref": "refs/tags/v1.4.0", "path": ".github/workflows/release.yml"}},
			"resolvedDependencies": [{"uri": "git+https://github.com/org/app@refs/tags/v1.4.0"}]
		},
		"runDetails": {"builder": {"id": "https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1.4.0"}}
	}`), attest.Subject{Name: "app", Digest: map[string]string{"sha256": "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff"}})
	if err != nil {
		panic(err)
	}
	st, err := attest.ParseStatement(payload)
	if err != nil {
		panic(err)
	}

	res, err := slsa.Check(st, payload, slsa.Requirements{
		SourceURI:          "github.com/org/app",
		SourceVersionedTag: "v1",
		Artifacts:          []slsa.Artifact{{Name: "app", Digests: []string{"sha256:c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff"}}},
	})
	fmt.Println(err)
	for _, c := range res.Checks {
		fmt.Printf("%s: %s\n", c.Name, c.Detail)
	}

	_, err = slsa.Check(st, payload, slsa.Requirements{
		SourceURI: "github.com/evil/app",
		Artifacts: []slsa.Artifact{{Name: "app", Digests: []string{"sha256:c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff"}}},
	})
	fmt.Println(err)
	// Output:
	// <nil>
	// predicate type: https://slsa.dev/provenance/v1
	// builder: https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1.4.0
	// source uri: git+https://github.com/org/app@refs/tags/v1.4.0
	// subject: app is subject app
	// versioned tag: v1.4.0 is compatible with v1
	// source uri: provenance says git+https://github.com/org/app (predicate.buildDefinition.externalParameters.workflow), want github.com/evil/app
}
