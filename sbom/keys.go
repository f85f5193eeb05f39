package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	return walk(dec, 0, "")
}

func walk(dec *json.Decoder, depth int, path string) error {
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
		seen := map[string]string{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return fmt.Errorf("invalid JSON: %w", err)
			}
			k, _ := kt.(string)
			folded := strings.ToLower(k)
			if prev, dup := seen[folded]; dup {
				return fmt.Errorf("%skeys %q and %q are the same to a case-insensitive reader", at(path), prev, k)
			}
			seen[folded] = k
			if want, ok := readKeys[folded]; ok && want != k {
				return fmt.Errorf("%skey %q, want %q", at(path), k, want)
			}
			if err := walk(dec, depth+1, path+"."+k); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if err := walk(dec, depth+1, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // closing delimiter
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
}

func at(path string) string {
	if path == "" {
		return ""
	}
	return strings.TrimPrefix(path, ".") + ": "
}
