package sample

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FromDir returns a one-layer OCI image for a platform whose layer holds
// the directory's files and folders (a root file system for scanners to
// read: a dpkg status file, an os-release), in name order, with fixed
// times, modes and owners.
func FromDir(dir, goos, goarch string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: time.Unix(0, 0).UTC(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		var body []byte
		switch {
		case d.IsDir():
			h.Name += "/"
			h.Mode, h.Typeflag = 0o755, tar.TypeDir
		case d.Type().IsRegular():
			if body, err = os.ReadFile(p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("sample: %s is neither a file nor a directory", p)
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(body)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return layerImage(buf.Bytes(), goos, goarch, nil)
}
