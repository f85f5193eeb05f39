package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"hallmark.dev/internal/jsonstrict"
	"hallmark.dev/internal/keyfile"
)

// descriptor is an OCI content descriptor as the referrers API lists it
// (https://github.com/opencontainers/image-spec/blob/v1.1.0/descriptor.md).
type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       digest.Digest     `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// referrerStore keeps the referrer records: per repository and subject,
// the descriptor of each manifest that refers to the subject. A record
// MUST be durable when put returns. referrerIndex keeps them in a
// directory, sqlReferrers in a MySQL table that replicas share.
type referrerStore interface {
	// put records that referrer d, in repository repo, refers to subject.
	put(ctx context.Context, repo string, subject digest.Digest, d descriptor) error
	// remove deletes the records of referrer in repo, whatever its
	// subject.
	remove(ctx context.Context, repo string, referrer digest.Digest) error
	// referrers returns the digests of the recorded referrers of subject
	// in repo, sorted.
	referrers(ctx context.Context, repo string, subject digest.Digest) ([]digest.Digest, error)
	// get returns the record of referrer of subject in repo; ok is false
	// if there is none.
	get(ctx context.Context, repo string, subject, referrer digest.Digest) (d descriptor, ok bool, err error)
}

var (
	_ referrerStore = (*referrerIndex)(nil)
	_ referrerStore = (*sqlReferrers)(nil)
)

// referrerIndex records, per repository and subject, the descriptors of the
// manifests that refer to the subject: one file
// <root>/<repository>/_subjects/<subject alg>-<hex>/<referrer alg>-<hex>.json
// per referrer. No repository path component can start with "_", so
// "_subjects" never collides with a repository name (as distribution's own
// "_manifests" does not). Callers pass repository names and digests that are valid
// (reference.WithName, digest.Parse); valid ones never escape root.
//
// A record, once put returns nil, survives a crash: it is written to a
// temporary file that is fsynced, then renamed into place, and the
// directory is fsynced. Readers never see a partial record.
type referrerIndex struct {
	root string
}

// recordRules are the rules of a record as put writes it: the fields of
// descriptor, each once, spelled exactly.
var recordRules = jsonstrict.Rules{Fields: jsonstrict.FieldsOf(descriptor{})}

// recordSuffix ends every record's file name; temporary files start with a
// dot and never end with it.
const recordSuffix = ".json"

// subjectsComponent separates a repository's records from the directories
// of repositories nested below it.
const subjectsComponent = "_subjects"

func openReferrerIndex(root string) (*referrerIndex, error) {
	if err := mkdirAllDurable(root); err != nil {
		return nil, fmt.Errorf("registry: creating referrers index: %w", err)
	}
	return &referrerIndex{root: root}, nil
}

func digestFileName(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded()
}

func (x *referrerIndex) subjectDir(repo string, subject digest.Digest) string {
	return filepath.Join(x.subjectsDir(repo), digestFileName(subject))
}

func (x *referrerIndex) subjectsDir(repo string) string {
	return filepath.Join(x.root, filepath.FromSlash(repo), subjectsComponent)
}

// put records that referrer d, in repository repo, refers to subject.
func (x *referrerIndex) put(_ context.Context, repo string, subject digest.Digest, d descriptor) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("registry: encoding referrer %s: %w", d.Digest, err)
	}
	dir := x.subjectDir(repo, subject)
	if err := mkdirAllDurable(dir); err != nil {
		return fmt.Errorf("registry: recording referrer %s of %s: %w", d.Digest, subject, err)
	}
	name := digestFileName(d.Digest) + recordSuffix
	if err := keyfile.WriteFileAtomic(filepath.Join(dir, name), b, 0o600); err != nil {
		return fmt.Errorf("registry: recording referrer %s of %s: %w", d.Digest, subject, err)
	}
	return nil
}

// remove deletes the records of referrer in repo, whatever its subject.
func (x *referrerIndex) remove(_ context.Context, repo string, referrer digest.Digest) error {
	repoDir := x.subjectsDir(repo)
	subjects, err := os.ReadDir(repoDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("registry: removing referrer %s: %w", referrer, err)
	}
	name := digestFileName(referrer) + recordSuffix
	var errs []error
	for _, s := range subjects {
		if !s.IsDir() {
			continue
		}
		dir := filepath.Join(repoDir, s.Name())
		err := os.Remove(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = keyfile.SyncDir(dir)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("registry: removing referrer %s: %w", referrer, err))
		}
	}
	return errors.Join(errs...)
}

// referrers returns the digests of the recorded referrers of subject in
// repo, sorted. The records themselves are read one at a time, by get.
func (x *referrerIndex) referrers(_ context.Context, repo string, subject digest.Digest) ([]digest.Digest, error) {
	dir := x.subjectDir(repo, subject)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry: listing referrers of %s: %w", subject, err)
	}
	var out []digest.Digest
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, recordSuffix) {
			continue
		}
		d, err := parseDigestFileName(strings.TrimSuffix(name, recordSuffix))
		if err != nil {
			return nil, fmt.Errorf("registry: referrer record %s: the file name is not a digest", filepath.Join(dir, name))
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b digest.Digest) int { return strings.Compare(string(a), string(b)) })
	return out, nil
}

// maxRecordSize bounds the record files get reads. Records written since
// annotations are capped are a few dozen KiB at most; older ones carry
// the annotations of a manifest of up to MaxManifestSize bytes, which
// JSON escaping can grow up to six times.
const maxRecordSize = 6*MaxManifestSize + 4<<10

// get reads the record of referrer of subject in repo; ok is false if
// there is none (it was removed since referrers listed it).
func (x *referrerIndex) get(_ context.Context, repo string, subject, referrer digest.Digest) (d descriptor, ok bool, err error) {
	path := filepath.Join(x.subjectDir(repo, subject), digestFileName(referrer)+recordSuffix)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return descriptor{}, false, nil
	}
	if err != nil {
		return descriptor{}, false, fmt.Errorf("registry: reading referrer record: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return descriptor{}, false, fmt.Errorf("registry: reading referrer record: %w", err)
	}
	if fi.Size() > maxRecordSize {
		return descriptor{}, false, fmt.Errorf("registry: referrer record %s is over %d bytes", path, maxRecordSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRecordSize))
	if err != nil {
		return descriptor{}, false, fmt.Errorf("registry: reading referrer record: %w", err)
	}
	if err := jsonstrict.Unmarshal(b, &d, recordRules); err != nil {
		return descriptor{}, false, fmt.Errorf("registry: referrer record %s: %w", path, err)
	}
	if d.Digest != referrer {
		return descriptor{}, false, fmt.Errorf("registry: referrer record %s: digest %q does not match the file name", path, d.Digest)
	}
	return d, true, nil
}

// mkdirAllDurable is os.MkdirAll that also fsyncs the parent of each
// directory it creates. Concurrent calls for overlapping paths are safe.
func mkdirAllDurable(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllDurable(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return keyfile.SyncDir(parent)
}
