package attest

import (
	"encoding/json"
	"fmt"

	"hallmark.dev/internal/jsonstrict"
)

// SimpleSigningType is the critical.type of cosign's legacy image signature
// payload.
const SimpleSigningType = "cosign container image signature"

// SimpleSigning is cosign's legacy image signature payload (the "simple
// signing" format, media type application/vnd.dev.cosign.simplesigning.v1+json).
type SimpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// NewSimpleSigning returns the legacy payload for an image: its repository
// (docker-reference), its manifest digest, and the annotations.
func NewSimpleSigning(repository, digest string, annotations map[string]string) ([]byte, error) {
	var p SimpleSigning
	p.Critical.Identity.DockerReference = repository
	p.Critical.Image.DockerManifestDigest = digest
	p.Critical.Type = SimpleSigningType
	if len(annotations) > 0 {
		p.Optional = make(map[string]any, len(annotations))
		for k, v := range annotations {
			p.Optional[k] = v
		}
	}
	return json.Marshal(p)
}

// ParseSimpleSigning parses a legacy payload strictly: duplicate keys, a type
// other than [SimpleSigningType] and a missing digest are errors.
func ParseSimpleSigning(payload []byte) (*SimpleSigning, error) {
	if len(payload) > MaxPayloadSize {
		return nil, fmt.Errorf("attest: payload is %d bytes, over the %d byte limit", len(payload), MaxPayloadSize)
	}
	var p SimpleSigning
	if err := jsonstrict.Unmarshal(payload, &p, simpleSigningRules); err != nil {
		return nil, decodeError("simple signing payload", err)
	}
	if p.Critical.Type != SimpleSigningType {
		return nil, fmt.Errorf("attest: simple signing payload type %q, want %q", p.Critical.Type, SimpleSigningType)
	}
	if _, _, err := SplitDigest(p.Critical.Image.DockerManifestDigest); err != nil {
		return nil, fmt.Errorf("attest: simple signing payload: %w", err)
	}
	return &p, nil
}

// StringOptional returns the optional entries whose values are strings, and
// the keys whose values are not.
func (p *SimpleSigning) StringOptional() (map[string]string, []string) {
	return Subject{Annotations: p.Optional}.StringAnnotations()
}
