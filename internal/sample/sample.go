// Package sample makes small, deterministic container images and indexes
// for the quickstart, tests and benchmarks: the same input always gives the
// same digest.
package sample

import (
	"archive/tar"
	"bytes"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image returns a one-layer OCI image for a platform whose layer holds
// /hello.txt with the given text.
func Image(text, os, arch string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte(text + "\n")
	if err := tw.WriteHeader(&tar.Header{
		Name: "hello.txt", Mode: 0o644, Size: int64(len(body)),
		ModTime: time.Unix(0, 0).UTC(), Typeflag: tar.TypeReg, Format: tar.FormatPAX,
	}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(body); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return layerImage(buf.Bytes(), os, arch, []string{"cat", "/hello.txt"})
}

// layerImage returns a one-layer OCI image for a platform from an
// uncompressed tar, with a fixed creation time and, if cmd is not nil, that
// command.
func layerImage(tarball []byte, goos, goarch string, cmd []string) (v1.Image, error) {
	layer := static.NewLayer(tarball, types.OCIUncompressedLayer)
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = goos, goarch
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	if cmd != nil {
		cf.Config.Cmd = cmd
	}
	return mutate.ConfigFile(img, cf)
}

// Index returns an OCI index of the image for linux/amd64 and linux/arm64.
func Index(text string) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		img, err := Image(text, p.OS, p.Architecture)
		if err != nil {
			return nil, err
		}
		p := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return idx, nil
}
