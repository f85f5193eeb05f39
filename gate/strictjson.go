package gate

import (
	"errors"

	"hallmark.dev/internal/jsonstrict"
)

// reportRules are the rules of the JSON reports this package reads: one
// value, nesting at most 64 levels, and no object that repeats a key.
// Keys are compared under Unicode case folding, because encoding/json
// matches struct fields that way: "Severity" and "severity" (or
// "ſeverity") in one object would otherwise let the last one silently win.
var reportRules = jsonstrict.Rules{MaxDepth: 64, FoldKeys: true}

// checkJSON checks data under r.
func checkJSON(data []byte, r jsonstrict.Rules) error {
	err := jsonstrict.Check(data, r)
	if errors.Is(err, jsonstrict.ErrTrailingData) {
		return errors.New("data after the JSON value")
	}
	return err
}
