package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"hallmark.dev/internal/jsonstrict"
)

// checkNoDuplicateKeys rejects JSON in which an object repeats a key.
// Duplicate keys make a document mean different things to different
// parsers, which an attacker can use to show a verifier one statement and a
// policy engine another.
func checkNoDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return jsonstrict.Walk(dec, jsonstrict.Options{MaxDepth: maxDepth, TooDeep: errTooDeep})
}

const maxDepth = 128

var errTooDeep = errors.New("JSON nested too deeply")

// checkExactKeys rejects an object with a key not in allowed. Go's
// encoding/json matches field names case-insensitively, so without this
// "_TYPE" or "predicatetype" would be read as the real field, and a
// document could carry a second, differently-cased copy of a field that
// other parsers read instead.
func checkExactKeys(obj map[string]json.RawMessage, allowed map[string]bool, where string) error {
	for k := range obj {
		if !allowed[k] {
			return fmt.Errorf("unknown field %q in %s", k, where)
		}
	}
	return nil
}

func checkStatementKeys(payload []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if err := checkExactKeys(top, statementKeys, "statement"); err != nil {
		return err
	}
	raw, ok := top["subject"]
	if !ok {
		return nil
	}
	var subjects []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &subjects); err != nil {
		return fmt.Errorf("subject is not a list of objects: %w", err)
	}
	for i, s := range subjects {
		if err := checkExactKeys(s, subjectKeys, fmt.Sprintf("subject %d", i)); err != nil {
			return err
		}
	}
	return nil
}
