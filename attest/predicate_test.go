package attest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"hallmark.dev/attest"
)

func TestPredicateType(t *testing.T) {
	for name, want := range map[string]string{
		"slsaprovenance":                 attest.PredicateSLSAProvenance02,
		"slsaprovenance1":                attest.PredicateSLSAProvenance1,
		"cyclonedx":                      attest.PredicateCycloneDX,
		"spdxjson":                       attest.PredicateSPDX,
		"vuln":                           attest.PredicateVuln,
		"openvex":                        attest.PredicateOpenVEX,
		"custom":                         attest.PredicateCustom,
		"https://example.com/my-type/v1": "https://example.com/my-type/v1",
	} {
		got, err := attest.PredicateType(name)
		if err != nil || got != want {
			t.Errorf("PredicateType(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "slsa", "relative/path", "mailto:x"} {
		if _, err := attest.PredicateType(bad); err == nil {
			t.Errorf("PredicateType(%q) accepted", bad)
		}
	}
}

func TestPredicateAndStatement(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p, err := attest.Predicate(attest.PredicateCustom, []byte("plain text"), now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(p), `{"Data":"plain text","Timestamp":"2026-01-02T03:04:05Z"}`; got != want {
		t.Errorf("custom predicate %s, want %s (cosign's shape)", got, want)
	}
	if _, err := attest.Predicate(attest.PredicateCycloneDX, []byte(`[1]`), now); err == nil {
		t.Error("a non-object predicate was accepted")
	}
	if _, err := attest.Predicate(attest.PredicateCycloneDX, []byte(`{"a":1,"a":2}`), now); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate keys: %v", err)
	}
	p, err = attest.Predicate(attest.PredicateCycloneDX, []byte(` {"bomFormat":"CycloneDX"} `), now)
	if err != nil {
		t.Fatal(err)
	}
	st, err := attest.NewStatement(attest.PredicateCycloneDX, p, attest.Subject{Name: "registry.example/app", Digest: map[string]string{"sha256": hexA}})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := attest.ParseStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	var pred map[string]any
	if err := json.Unmarshal(parsed.Predicate, &pred); err != nil || pred["bomFormat"] != "CycloneDX" {
		t.Errorf("predicate round trip: %v %v", pred, err)
	}
	if _, err := attest.NewStatement(attest.PredicateCycloneDX, p); err == nil {
		t.Error("a statement without subject was made")
	}
}
