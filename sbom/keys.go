package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"hallmark.dev/internal/jsonstrict"
)

// readKeys are the JSON field names this package (through the format
// libraries) reads to tell the format, count components and find the
// subject. Go's encoding/json matches field names without regard to case;
// a document with "Metadata" or "PURL" would show this package one subject
// and a case-sensitive reader another, so such keys are refused.
var readKeys = foldSet(
	// CycloneDX
	"bomFormat", "specVersion", "metadata", "component", "components", "type", "name", "version",
	"purl", "hashes", "alg", "content", "properties", "value", "timestamp",
	// SPDX
	"spdxVersion", "SPDXID", "documentNamespace", "creationInfo", "created", "documentDescribes",
	"packages", "relationships", "spdxElementId", "relatedSpdxElement", "relationshipType",
	"checksums", "algorithm", "checksumValue", "externalRefs", "referenceType", "referenceLocator",
	"referenceCategory", "versionInfo",
)

func foldSet(keys ...string) map[string]string {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[strings.ToLower(k)] = k
	}
	return m
}

const maxDepth = 256

// checkKeys rejects an object that repeats a key (also in another case) and
// a key that matches one of readKeys only without regard to case.
func checkKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return jsonstrict.Walk(dec, jsonstrict.Options{
		MaxDepth: maxDepth,
		TooDeep:  errors.New("JSON nested too deeply"),
		Fold:     strings.ToLower,
		Duplicate: func(path jsonstrict.Path, prev, k string) error {
			return fmt.Errorf("%skeys %q and %q are the same to a case-insensitive reader", at(path.String()), prev, k)
		},
		Key: func(path jsonstrict.Path, k string) error {
			if want, ok := readKeys[strings.ToLower(k)]; ok && want != k {
				return fmt.Errorf("%skey %q, want %q", at(path.String()), k, want)
			}
			return nil
		},
	})
}

func at(path string) string {
	if path == "" {
		return ""
	}
	return strings.TrimPrefix(path, ".") + ": "
}
