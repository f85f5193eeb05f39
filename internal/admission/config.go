package admission

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxPlatforms bounds the images of an index read for their config files.
const maxPlatforms = 32

// configFiles returns the OCI config file of each platform of the image,
// by os/architecture[/variant], as policy-controller gives them to a
// ClusterImagePolicy-level policy with fetchConfigFile.
func (e *Engine) configFiles(ctx context.Context, req *request, d name.Digest) (json.RawMessage, error) {
	// Through a session, as every other registry request: plain HTTP off
	// loopback is refused unless allowed, so the workload's pull
	// credentials are not sent in clear.
	desc, err := e.reg.session(req.keychain).c.Descriptor(ctx, d)
	if err != nil {
		return nil, err
	}
	out := map[string]*v1.ConfigFile{}
	add := func(img v1.Image) error {
		cf, err := img.ConfigFile()
		if err != nil {
			return err
		}
		p := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, OSVersion: cf.OSVersion, Variant: cf.Variant}
		out[p.String()] = cf
		return nil
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		if len(m.Manifests) > maxPlatforms {
			return nil, fmt.Errorf("index %s lists %d manifests, over %d", d, len(m.Manifests), maxPlatforms)
		}
		for _, md := range m.Manifests {
			if !md.MediaType.IsImage() {
				continue
			}
			img, err := idx.Image(md.Digest)
			if err != nil {
				return nil, err
			}
			if err := add(img); err != nil {
				return nil, err
			}
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return nil, err
		}
		if err := add(img); err != nil {
			return nil, err
		}
	}
	return json.Marshal(out)
}
