package verify

import (
	"fmt"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// TrustedRootMediaType is the media type of a trusted_root.json that
// sigstore-go accepts (v0.1; v0.2 adds nothing hallmark uses).
const TrustedRootMediaType = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"

// TrustedRoot is trusted material: certificate authorities, transparency
// logs, CT logs and timestamp authorities, each with validity periods.
type TrustedRoot = root.TrustedMaterial

// ParseTrustedRoot parses a trusted_root.json
// (https://github.com/sigstore/protobuf-specs, TrustedRoot).
func ParseTrustedRoot(data []byte) (*root.TrustedRoot, error) {
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("invalid trusted root: %s", strings.TrimPrefix(err.Error(), "proto: "))
	}
	return tr, nil
}
