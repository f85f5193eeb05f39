package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// checkNoDuplicateKeys rejects JSON in which an object repeats a key.
// Duplicate keys make a document mean different things to different
// parsers, which an attacker can use to show a verifier one statement and a
// policy engine another.
func checkNoDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walkValue(dec, 0); err != nil {
		return err
	}
	return nil
}

const maxDepth = 128

func walkValue(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return fmt.Errorf("invalid JSON: %w", err)
			}
			k, _ := kt.(string)
			if seen[k] {
				return fmt.Errorf("duplicate JSON key %q", k)
			}
			seen[k] = true
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // closing delimiter
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
}

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
