package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	if err := checkNoDuplicateKeys(payload); err != nil {
		return nil, fmt.Errorf("attest: simple signing payload: %w", err)
	}
	if err := checkSimpleSigningKeys(payload); err != nil {
		return nil, fmt.Errorf("attest: simple signing payload: %w", err)
	}
	var p SimpleSigning
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("attest: simple signing payload is not valid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("attest: simple signing payload has trailing data")
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

func checkSimpleSigningKeys(payload []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if err := checkExactKeys(top, map[string]bool{"critical": true, "optional": true}, "payload"); err != nil {
		return err
	}
	var critical map[string]json.RawMessage
	if err := json.Unmarshal(top["critical"], &critical); err != nil {
		return fmt.Errorf("critical is not an object: %w", err)
	}
	if err := checkExactKeys(critical, map[string]bool{"identity": true, "image": true, "type": true}, "critical"); err != nil {
		return err
	}
	for name, want := range map[string]string{"identity": "docker-reference", "image": "docker-manifest-digest"} {
		raw, ok := critical[name]
		if !ok {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return fmt.Errorf("critical.%s is not an object: %w", name, err)
		}
		if err := checkExactKeys(obj, map[string]bool{want: true}, "critical."+name); err != nil {
			return err
		}
	}
	return nil
}
