// Package lite is the part of testkit that starts nothing and imports none
// of the server, only hallmark's pure packages (attest, keys, verify): test
// inputs and keys made in memory, a checked HTTP GET, a buffer for
// concurrent writers. Tests inside a package that testkit's server is
// built from can import it where importing testkit would make an import
// cycle; any other test may use it too.
package lite

import (
	"encoding/json"
	"testing"
	"time"

	"hallmark.dev/attest"
	"hallmark.dev/verify"
)

// EditJSON decodes the JSON object doc, lets f change it, and encodes it
// again: a document tampered with, or with a part left out, for a test.
func EditJSON(t testing.TB, doc []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// VerifiedAttestation is a statement about subject as verification returns
// it: parsed, found at source, signed by signer. Policy tests judge it
// without signing anything.
func VerifiedAttestation(t testing.TB, source string, signer verify.Signer, predicateType string, predicate []byte, subject attest.Subject) verify.VerifiedAttestation {
	t.Helper()
	payload, err := attest.NewStatement(predicateType, predicate, subject)
	if err != nil {
		t.Fatal(err)
	}
	st, err := attest.ParseStatement(payload)
	if err != nil {
		t.Fatal(err)
	}
	return verify.VerifiedAttestation{Source: source, Signer: signer, Statement: st, Payload: payload}
}

// TSATime is a time verified by the timestamp authority
// https://tsa.example.
func TSATime(at time.Time) verify.VerifiedTime {
	return verify.VerifiedTime{Type: "timestamp-authority", URI: "https://tsa.example", Time: at}
}

// NpmAttestation is one entry of npm's attestations document, the form
// npm serves a package's provenance in.
type NpmAttestation struct {
	PredicateType string          `json:"predicateType"`
	Bundle        json.RawMessage `json:"bundle"`
}

// NpmAttestations decodes npm's attestations document
// ({"attestations": [{"predicateType": …, "bundle": …}, …]}).
func NpmAttestations(t testing.TB, data []byte) []NpmAttestation {
	t.Helper()
	var doc struct {
		Attestations []NpmAttestation `json:"attestations"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Attestations
}
