package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/opencontainers/go-digest"
)

// CopyResult counts what Copy copied.
type CopyResult struct {
	// Files are the files of distribution's tree (blobs, links, tags).
	Files int `json:"files"`
	// Bytes is their size.
	Bytes int64 `json:"bytes"`
	// Blobs are the blobs (manifests, configs, layers) checked against
	// their digests in the destination.
	Blobs int `json:"blobs"`
	// Referrers are the referrer records copied.
	Referrers int `json:"referrers"`
}

// distRoot is where distribution keeps its tree in a storage driver.
const distRoot = "/docker/registry/v2"

// Copy copies the registry kept in the directory from (by a registry
// Config with only Dir) to the storage and database of to (Storage and
// DB): every file of distribution's tree except uploads in progress, and
// every referrer record. It then reads every blob back from the
// destination (manifests are blobs too) and checks it against its digest.
// Copy may run again after a failure; files are written whole.
func Copy(ctx context.Context, from string, to Config) (CopyResult, error) {
	var res CopyResult
	if to.Storage == nil || to.DB == nil {
		return res, errors.New("registry: copy: the destination needs a storage driver and a database")
	}
	dir, err := filepath.Abs(from)
	if err != nil {
		return res, err
	}
	src, err := factory.Create(ctx, "filesystem", map[string]any{"rootdirectory": dir})
	if err != nil {
		return res, fmt.Errorf("registry: copy: opening %s: %w", dir, err)
	}
	dst, err := factory.Create(ctx, to.Storage.Name, to.Storage.Parameters)
	if err != nil {
		return res, fmt.Errorf("registry: copy: opening the destination: %w", err)
	}
	var blobs []string
	if _, err := src.Stat(ctx, distRoot); err == nil {
		err := src.Walk(ctx, distRoot, func(fi storagedriver.FileInfo) error {
			if fi.IsDir() {
				if path.Base(fi.Path()) == "_uploads" {
					return storagedriver.ErrSkipDir
				}
				return nil
			}
			if err := copyFile(ctx, src, dst, fi.Path()); err != nil {
				return err
			}
			res.Files++
			res.Bytes += fi.Size()
			if path.Base(fi.Path()) == "data" && strings.HasPrefix(fi.Path(), distRoot+"/blobs/") {
				blobs = append(blobs, fi.Path())
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("registry: copy: %w", err)
		}
	} else if !errors.As(err, new(storagedriver.PathNotFoundError)) {
		return res, fmt.Errorf("registry: copy: %w", err)
	}
	for _, p := range blobs {
		if err := checkBlob(ctx, dst, p); err != nil {
			return res, err
		}
		res.Blobs++
	}
	n, err := copyReferrers(ctx, filepath.Join(dir, "_hallmark", "referrers"), to)
	res.Referrers = n
	return res, err
}

func copyFile(ctx context.Context, src, dst storagedriver.StorageDriver, p string) error {
	r, err := src.Reader(ctx, p, 0)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	defer r.Close()
	w, err := dst.Writer(ctx, p, false)
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Cancel(ctx)
		w.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := w.Commit(ctx); err != nil {
		w.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// checkBlob reads the blob at p (…/blobs/<algorithm>/<xx>/<hex>/data) from
// d and checks that it hashes to the digest its path names.
func checkBlob(ctx context.Context, d storagedriver.StorageDriver, p string) error {
	parts := strings.Split(strings.TrimPrefix(p, distRoot+"/blobs/"), "/")
	if len(parts) != 4 {
		return fmt.Errorf("registry: copy: blob path %s", p)
	}
	want := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
	if err := want.Validate(); err != nil {
		return fmt.Errorf("registry: copy: blob path %s: %w", p, err)
	}
	r, err := d.Reader(ctx, p, 0)
	if err != nil {
		return fmt.Errorf("registry: copy: reading back %s: %w", want, err)
	}
	defer r.Close()
	v := want.Verifier()
	if _, err := io.Copy(v, r); err != nil {
		return fmt.Errorf("registry: copy: reading back %s: %w", want, err)
	}
	if !v.Verified() {
		return fmt.Errorf("registry: copy: blob %s does not match its digest in the destination", want)
	}
	return nil
}

// copyReferrers copies the record files under root into the destination's
// database, each read as the registry reads it.
func copyReferrers(ctx context.Context, root string, to Config) (int, error) {
	index := &referrerIndex{root: root}
	dst, err := openSQLReferrers(ctx, to.DB)
	if err != nil {
		return 0, err
	}
	n := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == root {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(p, recordSuffix) || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		repo, rest, ok := strings.Cut(filepath.ToSlash(rel), "/"+subjectsComponent+"/")
		subjectName, referrerName, ok2 := strings.Cut(rest, "/")
		subject, err1 := parseDigestFileName(subjectName)
		referrer, err2 := parseDigestFileName(strings.TrimSuffix(referrerName, recordSuffix))
		if !ok || !ok2 || err1 != nil || err2 != nil {
			return fmt.Errorf("registry: copy: %s is not a referrer record", p)
		}
		desc, found, err := index.get(ctx, repo, subject, referrer)
		if err != nil || !found {
			return fmt.Errorf("registry: copy: %s: %v", p, err)
		}
		if err := dst.put(ctx, repo, subject, desc); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, nil
}

func parseDigestFileName(s string) (digest.Digest, error) {
	alg, hex, ok := strings.Cut(s, "-")
	d := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
	if !ok {
		return "", fmt.Errorf("%q is not a digest file name", s)
	}
	return d, d.Validate()
}
