package gate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"hallmark.dev/internal/jsonstrict"
)

const maxJSONDepth = 64

// fold maps every rune to the smallest rune of its Unicode case-folding
// orbit, so that fold(a) == fold(b) exactly when strings.EqualFold(a, b),
// the rule encoding/json matches keys to fields by ("ſ" is "s", "K" (the
// Kelvin sign) is "k").
func fold(s string) string {
	var b strings.Builder
	for _, r := range s {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		b.WriteRune(min)
	}
	return b.String()
}

// checkJSON checks that data is one JSON value in which no object repeats
// a key. Keys are compared case-insensitively, because encoding/json
// matches struct fields that way: "Severity" and "severity" in one object
// would otherwise let the last one silently win.
func checkJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := jsonstrict.Walk(dec, jsonstrict.Options{
		MaxDepth: maxJSONDepth,
		TooDeep:  fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth),
		Fold:     fold,
	}); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}
