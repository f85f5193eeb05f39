package attest

import (
	"errors"
	"fmt"

	"hallmark.dev/internal/jsonstrict"
)

// The rules of the JSON this package parses: no repeated key (which makes
// a document mean different things to different parsers, so that an
// attacker could show a verifier one statement and a policy engine
// another), nesting at most maxDepth, and in a statement or simple
// signing payload only the fields of its type, spelled exactly. Go's
// encoding/json matches field names case-insensitively, so without the
// last rule "_TYPE" or "predicatetype" would be read as the real field,
// and a document could carry a second, differently-cased copy of a field
// that other parsers read instead.
const maxDepth = 128

var (
	statementRules = jsonstrict.Rules{
		MaxDepth: maxDepth,
		Fields:   jsonstrict.FieldsOf(Statement{}),
		Name: func(p jsonstrict.Path) string {
			switch {
			case len(p) == 0:
				return "statement"
			case len(p) == 2 && p[0].Key == "subject" && p[1].IsIndex:
				return fmt.Sprintf("subject %d", p[1].Index)
			}
			return p.String()
		},
	}
	simpleSigningRules = jsonstrict.Rules{
		MaxDepth: maxDepth,
		Fields:   jsonstrict.FieldsOf(SimpleSigning{}),
		Name: func(p jsonstrict.Path) string {
			if len(p) == 0 {
				return "payload"
			}
			return p.String()
		},
	}
)

// decodeError wraps an error of jsonstrict.Unmarshal: a breach of the
// rules as what, and a decoding error as what is not valid JSON.
func decodeError(what string, err error) error {
	if _, ok := errors.AsType[*jsonstrict.Error](err); ok {
		return fmt.Errorf("attest: %s: %w", what, err)
	}
	return fmt.Errorf("attest: %s is not valid JSON: %w", what, err)
}
