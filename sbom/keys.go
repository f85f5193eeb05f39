package sbom

import (
	"errors"
	"fmt"

	"hallmark.dev/internal/jsonstrict"
)

// keyRules are the rules for the keys of an SBOM. Go's encoding/json
// matches field names to keys under Unicode case folding; a document with
// "Metadata", "PURL" or "haſhes" would show this package one subject and a
// case-sensitive reader another, so two keys of an object that fold alike
// are refused, and so is a key that matches one this package (through the
// format libraries) reads to tell the format, count components and find
// the subject, but is spelled otherwise.
var keyRules = jsonstrict.Rules{
	MaxDepth: 256,
	FoldKeys: true,
	Known: []string{
		// CycloneDX
		"bomFormat", "specVersion", "metadata", "component", "components", "type", "name", "version",
		"purl", "hashes", "alg", "content", "properties", "value", "timestamp",
		// SPDX
		"spdxVersion", "SPDXID", "documentNamespace", "creationInfo", "created", "documentDescribes",
		"packages", "relationships", "spdxElementId", "relatedSpdxElement", "relationshipType",
		"checksums", "algorithm", "checksumValue", "externalRefs", "referenceType", "referenceLocator",
		"referenceCategory", "versionInfo",
	},
}

// checkKeys checks data under keyRules.
func checkKeys(data []byte) error {
	err := jsonstrict.Check(data, keyRules)
	e, ok := errors.AsType[*jsonstrict.Error](err)
	if !ok {
		return err
	}
	at := ""
	if len(e.Path) > 0 {
		at = e.Path.String() + ": "
	}
	switch e.Err {
	case jsonstrict.ErrDuplicateKey:
		return fmt.Errorf("%skeys %q and %q are the same to a case-insensitive reader", at, e.Prev, e.Key)
	case jsonstrict.ErrKeySpelling:
		return fmt.Errorf("%skey %q, want %q", at, e.Key, e.Want)
	}
	return err
}
