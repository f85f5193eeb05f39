// Command gen makes the trivy vectors of hallmark's gate tests: it builds
// a trivy vulnerability database from db.yaml, builds a small Debian-like
// image from ../rootfs, serves it from a registry on loopback and runs the
// real trivy on it by digest, writing trivy's reports next to db.yaml.
//
// trivy's own test helper (internal/dbtest.InitDB) cannot be imported from
// outside trivy's module; this does what it does with the same libraries:
// bolt-fixtures loads the YAML into trivy.db, trivy-db's metadata client
// writes metadata.json.
//
// Run it with scripts/gen-gate-vectors; it is a separate module so that
// hallmark does not depend on trivy's database libraries.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	fixtures "github.com/aquasecurity/bolt-fixtures"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	dir   = flag.String("dir", "", "the vectors directory (gate/testdata/trivy)")
	trivy = flag.String("trivy", "trivy", "the trivy binary")
)

// epoch is the time written into the database metadata and the image.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	flag.Parse()
	if *dir == "" {
		log.Fatal("usage: gen -dir gate/testdata/trivy [-trivy PATH]")
	}
	cache, err := os.MkdirTemp("", "gate-vectors-")
	check(err)
	defer os.RemoveAll(cache)
	dbDir := filepath.Join(cache, "db")
	check(os.MkdirAll(dbDir, 0o755))

	// The database, as trivy's dbtest.InitDB makes it.
	loader, err := fixtures.New(filepath.Join(dbDir, "trivy.db"), []string{filepath.Join(*dir, "db.yaml")})
	check(err)
	check(loader.Load())
	check(loader.Close())
	check(metadata.NewClient(dbDir).Update(metadata.Metadata{
		Version: 2, NextUpdate: epoch.AddDate(100, 0, 0), UpdatedAt: epoch, DownloadedAt: epoch,
	}))

	img, err := rootfsImage(filepath.Join(*dir, "rootfs"))
	check(err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(ln)
	defer srv.Close()
	ref, err := name.ParseReference(ln.Addr().String() + "/gate/sample:v1")
	check(err)
	check(remote.Write(ref, img))
	d, err := img.Digest()
	check(err)
	byDigest := ref.Context().Digest(d.String()).String()
	log.Printf("image %s", byDigest)

	common := []string{"image", "--cache-dir", cache, "--skip-db-update", "--skip-java-db-update", "--offline-scan",
		"--skip-version-check", "--disable-telemetry", "--image-src", "remote", "--scanners", "vuln"}
	run := func(out string, args ...string) {
		args = append(append(append([]string{}, common...), args...), "--output", filepath.Join(*dir, out), byDigest)
		cmd := exec.CommandContext(context.Background(), *trivy, args...)
		cmd.Stderr = os.Stderr
		log.Printf("trivy %s", strings.Join(args, " "))
		check(cmd.Run())
	}
	run("report-all.json", "--format", "json")
	run("report-os.json", "--format", "json", "--pkg-types", "os")
	run("cosign-vuln.json", "--format", "cosign-vuln")

	// Keep the database for the CLI test that runs trivy (gate_trivy.txt).
	for _, f := range []string{"trivy.db", "metadata.json"} {
		data, err := os.ReadFile(filepath.Join(dbDir, f))
		check(err)
		check(os.MkdirAll(filepath.Join(*dir, "db"), 0o755))
		check(os.WriteFile(filepath.Join(*dir, "db", f), data, 0o644))
	}
	ver, err := exec.Command(*trivy, "version", "--cache-dir", cache, "--format", "json").Output()
	check(err)
	check(os.WriteFile(filepath.Join(*dir, "trivy-version.json"), ver, 0o644))
	fmt.Println(byDigest)
}

// rootfsImage makes a one-layer linux/amd64 image of a directory, the
// same bytes on every run.
func rootfsImage(root string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: epoch, Mode: 0o644, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		var data []byte
		if fi.IsDir() {
			h.Name += "/"
			h.Mode, h.Typeflag = 0o755, tar.TypeDir
		} else if data, err = os.ReadFile(p); err != nil {
			return nil, err
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", "amd64", v1.Time{Time: epoch}
	cf.Config.Cmd = []string{"/bin/bash"}
	return mutate.ConfigFile(img, cf)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
