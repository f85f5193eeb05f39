package signpolicy_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/attest"
	"hallmark.dev/policy"
	"hallmark.dev/signpolicy"
	"hallmark.dev/verify"
)

const provV1 = `{"buildDefinition":{"buildType":"https://example.com/b","externalParameters":{"x":1},` +
	`"internalParameters":{"github":{"event_name":"push"}}},"runDetails":{"builder":{"id":"https://example.com/builder"}}}`

func testRecord(digest string) signpolicy.ReleaseRecord {
	return signpolicy.ReleaseRecord{Repository: "git.example.com/acme/app", Version: 2, Digest: digest, Tag: "v1", Commit: strings.Repeat("c", 40)}
}

var (
	digestA = "sha256:" + strings.Repeat("a", 64)
	digestB = "sha256:" + strings.Repeat("b", 64)
)

func TestAddToProvenance(t *testing.T) {
	rec := testRecord(digestA)
	out, err := signpolicy.AddToProvenance([]byte(provV1), rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := signpolicy.ProvenanceRecord(out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&rec, got); diff != "" {
		t.Errorf("record read back (-want +got):\n%s", diff)
	}
	// Every other member is kept.
	var before, after map[string]any
	if err := json.Unmarshal([]byte(provV1), &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &after); err != nil {
		t.Fatal(err)
	}
	delete(after["buildDefinition"].(map[string]any)["internalParameters"].(map[string]any), signpolicy.ProvenanceParameter)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("the rest of the predicate changed (-before +after):\n%s", diff)
	}
	// Without internalParameters, they are made.
	out, err = signpolicy.AddToProvenance([]byte(`{"buildDefinition":{"buildType":"b","internalParameters":null},"runDetails":{}}`), rec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"internalParameters":{"`+signpolicy.ProvenanceParameter+`":{"repository":"git.example.com/acme/app","version":2,`) {
		t.Errorf("got %s, want the record in new internalParameters", out)
	}

	tests := []struct {
		name, predicate, want string
	}{
		{"recorded already", string(out), "the provenance records a signing policy already"},
		{"not an object", `["x"]`, "the provenance predicate is not a JSON object"},
		{"not JSON", `{"buildDefinition":`, "provenance predicate: "},
		{"no buildDefinition", `{"buildType":"x"}`, "has no buildDefinition"},
		{"buildDefinition not an object", `{"buildDefinition":"x"}`, "buildDefinition is not a JSON object"},
		{"internalParameters not an object", `{"buildDefinition":{"internalParameters":[1]}}`, "buildDefinition.internalParameters is not a JSON object"},
		{"a repeated key", `{"buildDefinition":{"internalParameters":{}},"buildDefinition":{}}`, `duplicate JSON key "buildDefinition"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signpolicy.AddToProvenance([]byte(tt.predicate), rec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := signpolicy.AddToProvenance([]byte(provV1), signpolicy.ReleaseRecord{Repository: "r", Version: 1, Digest: "sha256:x"}); err == nil || !strings.Contains(err.Error(), "policy digest") {
		t.Errorf("a malformed record: got %v, want it refused", err)
	}
	if _, err := signpolicy.AddToProvenance([]byte(string(out)), rec); !errors.Is(err, signpolicy.ErrRecorded) {
		t.Errorf("got %v, want ErrRecorded", err)
	}
}

func TestProvenanceRecord(t *testing.T) {
	wrap := func(record string) string {
		return `{"buildDefinition":{"internalParameters":{"` + signpolicy.ProvenanceParameter + `":` + record + `}}}`
	}
	good := `{"repository":"git.example.com/acme/app","version":1,"digest":"` + digestA + `","tag":"v1","commit":"` + strings.Repeat("c", 40) + `"}`
	tests := []struct {
		name, predicate, want string
	}{
		{"none", provV1, ""},
		{"no internalParameters", `{"buildDefinition":{}}`, ""},
		{"another case of the parameter is not it", `{"buildDefinition":{"internalParameters":{"HTTPS://hallmark.dev/signing-policy/v1":` + good + `}}}`, ""},
		{"good", wrap(good), ""},
		{"unknown field", wrap(strings.Replace(good, `"tag"`, `"approvers":[],"tag"`, 1)), `unknown field "approvers"`},
		{"a key in another case", wrap(strings.Replace(good, `"digest"`, `"Digest"`, 1)), `Digest`},
		{"missing commit", wrap(strings.Replace(good, `,"commit":"`+strings.Repeat("c", 40)+`"`, "", 1)), `commit ""`},
		{"bad digest", wrap(strings.Replace(good, digestA, "sha256:x", 1)), `policy digest "sha256:x"`},
		{"version 0", wrap(strings.Replace(good, `"version":1`, `"version":0`, 1)), "versions start at 1"},
		{"not SLSA v1", `{"buildType":"x","builder":{"id":"b"}}`, "no buildDefinition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := signpolicy.ProvenanceRecord([]byte(tt.predicate))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, %v; want an error containing %q", rec, err, tt.want)
			}
			if tt.name == "good" && (rec == nil || rec.Digest != digestA) {
				t.Errorf("got %+v, want the record of %s", rec, digestA)
			}
			if tt.want == "" && tt.name != "good" && rec != nil {
				t.Errorf("got %+v, want no record", rec)
			}
			// A record is there, well formed or not, for every case but
			// those that read none.
			if got, want := signpolicy.Recorded([]byte(tt.predicate)), rec != nil || (err != nil && tt.name != "not SLSA v1"); got != want {
				t.Errorf("Recorded = %v, want %v", got, want)
			}
		})
	}
	if signpolicy.Recorded([]byte("not json")) {
		t.Error("Recorded is true for a predicate that is not JSON")
	}
}

// verified is a verified provenance statement with the predicate.
func verified(t *testing.T, source, predicateType, predicate string) verify.VerifiedAttestation {
	t.Helper()
	st, err := attest.NewStatement(predicateType, json.RawMessage(predicate), attest.Subject{Name: "img", Digest: map[string]string{"sha256": strings.Repeat("d", 64)}})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := attest.ParseStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	return verify.VerifiedAttestation{Source: source, Statement: parsed, Payload: st}
}

func TestProvenanceCheck(t *testing.T) {
	withA, err := signpolicy.AddToProvenance([]byte(provV1), testRecord(digestA))
	if err != nil {
		t.Fatal(err)
	}
	withB, err := signpolicy.AddToProvenance([]byte(provV1), testRecord(digestB))
	if err != nil {
		t.Fatal(err)
	}
	check, err := signpolicy.NewProvenanceCheck(digestA)
	if err != nil {
		t.Fatal(err)
	}
	if got := check.(policy.ForPredicateTypes).PredicateTypes(); !cmp.Equal(got, []string{attest.PredicateSLSAProvenance1}) {
		t.Errorf("applies to %v, want SLSA v1 provenance only", got)
	}
	slsa1 := attest.PredicateSLSAProvenance1
	tests := []struct {
		name   string
		atts   []verify.VerifiedAttestation
		passed bool
		err    string
	}{
		{"the wanted digest", []verify.VerifiedAttestation{verified(t, "att 1", slsa1, string(withA))}, true, ""},
		{"one of two suffices", []verify.VerifiedAttestation{verified(t, "att 1", slsa1, provV1), verified(t, "att 2", slsa1, string(withA))}, true, ""},
		{"another digest", []verify.VerifiedAttestation{verified(t, "att 1", slsa1, string(withB))}, false,
			"no verified provenance records a release allowed by signing policy " + digestA + ": att 1: records signing policy " + digestB + " (version 2 of git.example.com/acme/app), not " + digestA},
		{"no record", []verify.VerifiedAttestation{verified(t, "att 1", slsa1, provV1)}, false,
			"no verified provenance records a release allowed by signing policy " + digestA + ": att 1: records no signing policy"},
		{"no provenance", nil, false, "no verified SLSA v1 provenance records a release allowed by signing policy " + digestA},
		{"SLSA v0.2", []verify.VerifiedAttestation{verified(t, "att 1", attest.PredicateSLSAProvenance02, `{"builder":{"id":"b"}}`)}, false,
			"att 1: not SLSA v1 provenance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := policy.Run(context.Background(), policy.Input{Attestations: tt.atts}, check)
			if len(res) != 1 {
				t.Fatalf("got %d results, %v", len(res), err)
			}
			if res[0].Passed != tt.passed {
				t.Fatalf("passed %v, want %v (%v)", res[0].Passed, tt.passed, err)
			}
			if tt.err == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			var pe *policy.Error
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, want a policy error containing %q", err, tt.err)
			}
		})
	}
	if _, err := signpolicy.NewProvenanceCheck("sha256:abc"); err == nil || !strings.Contains(err.Error(), `policy digest "sha256:abc"`) {
		t.Errorf("a malformed digest: got %v, want it refused", err)
	}
}
