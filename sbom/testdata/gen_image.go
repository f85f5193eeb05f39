//go:build ignore

// gen_image writes the sample image the checked-in SBOMs describe, as an OCI
// image layout (image/) and a docker-archive (image.tar): one layer holding
// a tiny Alpine root filesystem with an apk database of three packages, a
// Python package's dist-info and a go.mod. The same program always writes
// the same bytes. Run by scripts/gen-sbom-vectors.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var files = []struct{ name, body string }{
	{"etc/os-release", `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.20.3
PRETTY_NAME="Alpine Linux v3.20"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
`},
	{"etc/alpine-release", "3.20.3\n"},
	{"lib/apk/db/installed", `C:Q1mkCF6i7RQt+qVd3ZMr6Qd9UUzvs=
P:musl
V:1.2.5-r0
A:x86_64
S:411189
I:807571
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1712225512
c:1d4d4dc41a4a6c5b4c4c1b8a4f5c59e1c3bb6b26
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1cbpQMfGnfM4KAXEzCqyHjWpfuhg=

C:Q1fVw6LcLKz7bzGHUk0ZzcnyTd0iQ=
P:zlib
V:1.3.1-r1
A:x86_64
S:53962
I:104059
T:A compression/decompression Library
U:https://zlib.net/
L:Zlib
o:zlib
m:Natanael Copa <ncopa@alpinelinux.org>
t:1718800000
c:5a1f6e2bdbd0a3bdb2f5a7c7e7a0d4f1e0b3c2a1
D:so:libc.musl-x86_64.so.1
p:so:libz.so.1=1.3.1
F:lib
R:libz.so.1.3.1
a:0:0:755
Z:Q1z6jLm0Qe4nFb6tc9dT7wpKc6SPU=

C:Q1XWx1Y1q0pOd3mOhUWPqvJ2a3xQ4=
P:busybox
V:1.36.1-r29
A:x86_64
S:509160
I:955728
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1718300000
c:7f2b1c0e9d8a6b5c4d3e2f1a0b9c8d7e6f5a4b3c
D:so:libc.musl-x86_64.so.1
F:bin
R:busybox
a:0:0:755
Z:Q1Wl1q2Q8b7o6c5d4e3f2a1b0c9d8e7f6=

`},
	{"usr/lib/python3.12/site-packages/requests-2.31.0.dist-info/METADATA", `Metadata-Version: 2.1
Name: requests
Version: 2.31.0
Summary: Python HTTP for Humans.
Home-page: https://requests.readthedocs.io
Author: Kenneth Reitz
License: Apache 2.0
Requires-Python: >=3.7
`},
	{"usr/lib/python3.12/site-packages/requests-2.31.0.dist-info/RECORD", ""},
	{"app/go.mod", `module example.com/app

go 1.22

require golang.org/x/text v0.14.0
`},
	{"app/go.sum", `golang.org/x/text v0.14.0 h1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=
golang.org/x/text v0.14.0/go.mod h1:18ZOQIKpY8NJVqYksKHtTdi31H5itFRjB5/qKTNYzSU=
`},
}

func layerBytes() ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	dirs := map[string]bool{}
	epoch := time.Unix(0, 0).UTC()
	for _, f := range files {
		for d := filepath.Dir(f.name); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	// Directories first, parents before children.
	var ordered []string
	for _, f := range files {
		var chain []string
		for d := filepath.Dir(f.name); d != "."; d = filepath.Dir(d) {
			chain = append([]string{d}, chain...)
		}
		for _, d := range chain {
			if dirs[d] {
				ordered = append(ordered, d)
				dirs[d] = false
			}
		}
	}
	for _, d := range ordered {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func image() (v1.Image, error) {
	data, err := layerBytes()
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Cmd = []string{"/bin/sh"}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.title": "hallmark sbom sample"}
	return mutate.ConfigFile(img, cf)
}

func main() {
	out := flag.String("out", ".", "directory to write image/ and image.tar into")
	flag.Parse()
	img, err := image()
	if err != nil {
		log.Fatal(err)
	}
	dir := filepath.Join(*out, "image")
	if err := os.RemoveAll(dir); err != nil {
		log.Fatal(err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		log.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		log.Fatal(err)
	}
	tag, err := name.NewTag("example.com/hallmark/sbom-sample:v1")
	if err != nil {
		log.Fatal(err)
	}
	if err := tarball.WriteToFile(filepath.Join(*out, "image.tar"), tag, img); err != nil {
		log.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		log.Fatal(err)
	}
	c, err := img.ConfigName()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("manifest %s\nconfig %s\n", d, c)
}
