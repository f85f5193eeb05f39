package sbom

import (
	"encoding/json"
	"errors"
)

// Reencode writes a parsed document back out with its format library, for
// the round-trip property of the fuzzer.
func Reencode(d *Document) ([]byte, error) {
	switch {
	case d.bom != nil:
		return json.Marshal(d.bom)
	case d.spdx != nil:
		return json.Marshal(d.spdx)
	}
	return nil, errors.New("no document")
}
