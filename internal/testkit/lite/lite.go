// Package lite is the part of testkit that starts nothing and imports none
// of the server: test inputs made in memory. The tests inside packages the
// server is built from use it where importing testkit would make an import
// cycle; any other test may use it too.
package lite

import (
	"encoding/json"
	"testing"
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
