// Package registry is the disk-backed OCI registry that `hallmark serve`
// embeds: an [http.Handler] that implements the OCI Distribution
// Specification v1.1 (https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md),
// including the referrers API through which signatures and attestations are
// discovered.
//
// # Design
//
// The registry is distribution/distribution v3 (the reference implementation
// of the specification) used as a library: [handlers.NewApp] with the
// filesystem storage driver rooted at [Config.Dir]. It persists blobs,
// manifests and tags on disk. go-containerregistry's pkg/registry has the
// referrers API but keeps manifests in memory only, so it cannot back a
// server whose signatures must survive a restart.
//
// distribution v3.1.2 has no referrers API. This package adds exactly that,
// as a thin layer in front of distribution's handler, and sends every other
// request straight to distribution:
//
//   - PUT /v2/<name>/manifests/<reference> with an OCI image manifest or
//     index that has a subject: the body (at most [MaxManifestSize] bytes,
//     distribution's own limit; larger bodies get 413) goes to distribution,
//     unless its annotations are over [MaxReferrerAnnotationsSize] bytes
//     (400 MANIFEST_INVALID: the listing would carry them).
//     Only if distribution answers 201 Created is the referrer's descriptor
//     recorded, and the record MUST be durable (written to a temporary file,
//     fsynced, renamed, directory fsynced) before the client gets its answer,
//     which then carries the OCI-Subject header. If the record cannot be
//     written the client gets 500, and a retried PUT records it.
//   - GET /v2/<name>/referrers/<digest>[?artifactType=<type>]: 200 with an
//     OCI image index listing the descriptors of the referrers of <digest>
//     that still exist in the repository (an empty list, never 404),
//     filtered by artifact type when asked (with the OCI-Filters-Applied
//     header). A list longer than [Config.ReferrersPageSize] bytes is paged:
//     each page but the last has a Link header (RFC 8288) with rel="next" to
//     the following one, ?last=<digest of its last record>. Pages are built
//     one record at a time, at most a few at once, so that memory does not
//     grow with the records or the clients.
//   - DELETE /v2/<name>/manifests/<digest>: if distribution deletes the
//     manifest, its referrer record is removed too. Listing checks that each
//     referrer still exists, so a record left behind by a failed removal is
//     never served.
//
// The descriptor of a referrer follows the specification: mediaType, digest
// and size of the manifest, its annotations, and as artifactType the
// manifest's artifactType field or, when that is empty, the media type of an
// image manifest's config.
//
// # In a replica set
//
// With [Config.Storage] and [Config.DB], the blobs, manifests and tags are
// in an S3 bucket (distribution's S3 driver) and the referrer records in
// the MySQL table hallmark_referrers, one row per record: replicas behind
// one load balancer serve the same registry. They must share
// [Config.HTTPSecret], since the requests of one blob upload may reach
// different replicas. A manifest PUT and DELETE of the same digest are
// serialised within a replica only; listing checks that each referrer
// still exists, so a record that a concurrent DELETE on another replica
// leaves behind is never served.
//
// # On disk
//
// Under [Config.Dir], distribution owns docker/registry/v2/. The referrers
// index lives in _hallmark/referrers/<name>/_subjects/<subject
// alg>-<hex>/<referrer alg>-<hex>.json, one JSON descriptor per file (no
// repository path component starts with "_", so _subjects never collides
// with a nested repository), so concurrent pushes of
// referrers never contend for a shared file. One process at a time may serve
// a directory.
//
// # Logging
//
// distribution logs through logrus. Each registry gives distribution its own
// logrus logger that prints nothing and forwards every record, at debug
// level, to [Config.Logger]; nothing is printed unless that logger is enabled
// for debug. This registry never touches the process-wide logrus logger.
// distribution's periodic purge of abandoned uploads, which logs through the
// process-wide logger, is disabled.
package registry

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	diststorage "github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	// The storage drivers a registry may run on: its directory, or an S3
	// bucket that replicas share.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"
	"github.com/sirupsen/logrus"
)

// MaxManifestSize is the largest manifest, in bytes, the registry accepts.
// It is distribution's own limit and the 4 MiB that the OCI distribution
// specification asks registries to accept at least.
const MaxManifestSize = 4 << 20

// Config configures a registry.
type Config struct {
	// Dir is the directory that holds the registry's blobs, manifests, tags
	// and the referrers index. It is created if missing. Unused when both
	// Storage and DB are set.
	Dir string

	// Storage, if set, is the distribution storage driver that keeps the
	// blobs, manifests and tags instead of Dir: for a replica set,
	// "s3aws" (distribution's S3 driver) with its parameters.
	Storage *StorageDriver
	// DB, if set, keeps the referrer records in its table
	// hallmark_referrers instead of Dir.
	DB *sql.DB
	// HTTPSecret signs the upload state in the upload URLs handed to
	// clients. Replicas behind one load balancer must share it, since a
	// client's upload requests may reach any of them; empty means a new
	// random one.
	HTTPSecret string

	// Logger receives the registry's logs; nil discards them.
	Logger *slog.Logger

	// ReferrersPageSize is the largest referrers response, in bytes; a
	// longer list is paged. A page holds one referrer at least. Default
	// DefaultReferrersPageSize.
	ReferrersPageSize int
}

// StorageDriver names a distribution storage driver and its parameters
// (https://distribution.github.io/distribution/about/configuration/#storage).
type StorageDriver struct {
	Name       string
	Parameters map[string]any
}

// DefaultReferrersPageSize is the default largest referrers response: a
// few hundred referrers as cosign and notation write them, at least three
// with annotations at MaxReferrerAnnotationsSize.
const DefaultReferrersPageSize = 256 << 10

// MaxReferrerAnnotationsSize is the largest annotations a referrer may
// carry, in bytes of their keys and values. The referrers API lists each
// referrer's annotations, so the registry refuses to record a referrer with
// more: a handful of pushes must not make every listing megabytes long.
const MaxReferrerAnnotationsSize = 64 << 10

// maxListings bounds the referrers pages built at once.
const maxListings = 4

// handler serves the referrers API and hands everything else to
// distribution.
type handler struct {
	dist      http.Handler
	manifests distribution.Namespace // existence checks when listing referrers
	index     referrerStore
	locks     keyedMutex
	pageSize  int
	listings  chan struct{} // a slot per page being built
	logger    *slog.Logger
	distLog   *logrus.Entry // distribution's logger, carried in request contexts
}

var _ http.Handler = (*handler)(nil)

// New returns the registry's handler, serving /v2/ (and only /v2/).
//
// ctx is the base of distribution's application context: cancelling it
// stops distribution's background work.
func New(ctx context.Context, cfg Config) (http.Handler, error) {
	storage := cfg.Storage
	var dir string
	if storage == nil || cfg.DB == nil {
		if cfg.Dir == "" {
			return nil, errors.New("registry: no directory configured")
		}
		var err error
		if dir, err = filepath.Abs(cfg.Dir); err != nil {
			return nil, fmt.Errorf("registry: directory %q: %w", cfg.Dir, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("registry: creating directory: %w", err)
		}
	}
	if storage == nil {
		storage = &StorageDriver{Name: "filesystem", Parameters: map[string]any{"rootdirectory": dir}}
	}
	pageSize := cfg.ReferrersPageSize
	switch {
	case pageSize == 0:
		pageSize = DefaultReferrersPageSize
	case pageSize < 0:
		return nil, fmt.Errorf("registry: negative referrers page size %d", pageSize)
	}
	var index referrerStore
	var err error
	if cfg.DB != nil {
		index, err = openSQLReferrers(ctx, cfg.DB)
	} else {
		index, err = openReferrerIndex(filepath.Join(dir, "_hallmark", "referrers"))
	}
	if err != nil {
		return nil, err
	}
	secret := cfg.HTTPSecret
	if secret == "" {
		secret = rand.Text()
	}

	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	distLog := newLogrusBridge(cfg.Logger)
	ctx = withDistributionLogger(ctx, distLog)

	app, err := newApp(ctx, distributionConfig(storage, secret))
	if err != nil {
		return nil, err
	}

	// A second view of the same storage, for manifest existence checks.
	// Without a descriptor cache it always reads the storage, so it sees
	// every deletion the app (or another replica) makes.
	driver, err := factory.Create(ctx, storage.Name, storage.Parameters)
	if err != nil {
		return nil, fmt.Errorf("registry: opening storage: %w", err)
	}
	ns, err := diststorage.NewRegistry(ctx, driver)
	if err != nil {
		return nil, fmt.Errorf("registry: opening storage: %w", err)
	}

	return &handler{
		dist:      app,
		manifests: ns,
		index:     index,
		pageSize:  pageSize,
		listings:  make(chan struct{}, maxListings),
		logger:    logger,
		distLog:   distLog,
	}, nil
}

// distributionConfig is distribution's configuration: the storage driver,
// deletes allowed, no redirects, no upload purging (it logs through the
// process-wide logrus logger), no notifications, health checks, metrics,
// auth or cache, and the HTTP secret. The secret signs the upload state in
// the upload URLs handed to clients; a random one, the default, makes a
// restart fail the uploads in progress, which clients retry.
func distributionConfig(storage *StorageDriver, secret string) *configuration.Configuration {
	return &configuration.Configuration{
		Version: configuration.CurrentVersion,
		Storage: configuration.Storage{
			storage.Name: configuration.Parameters(storage.Parameters),
			"delete":     configuration.Parameters{"enabled": true},
			"redirect":   configuration.Parameters{"disable": true},
			"maintenance": configuration.Parameters{
				"uploadpurging": map[any]any{"enabled": false},
			},
		},
		HTTP: configuration.HTTP{
			Secret:  secret,
			Headers: http.Header{"X-Content-Type-Options": {"nosniff"}},
		},
	}
}

// newApp builds distribution's handler, turning its configuration panics
// into errors.
func newApp(ctx context.Context, conf *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if r := recover(); r != nil {
			app, err = nil, fmt.Errorf("registry: configuring distribution: %v", r)
		}
	}()
	return handlers.NewApp(ctx, conf), nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path != "/v2" && !strings.HasPrefix(path, "/v2/") {
		http.NotFound(w, r)
		return
	}
	r = r.WithContext(withDistributionLogger(r.Context(), h.distLog))

	if name, digest, ok := splitRoute(path, "referrers"); ok {
		h.serveReferrers(w, r, name, digest)
		return
	}
	if name, ref, ok := splitRoute(path, "manifests"); ok {
		switch r.Method {
		case http.MethodPut:
			h.putManifest(w, r, name)
			return
		case http.MethodDelete:
			h.deleteManifest(w, r, name, ref)
			return
		}
	}
	h.dist.ServeHTTP(w, r)
}

// splitRoute splits /v2/<name>/<kind>/<ref> into name and ref. ref holds no
// slash; name is not validated.
func splitRoute(path, kind string) (name, ref string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/"+kind+"/")
	if i <= 0 {
		return "", "", false
	}
	name, ref = rest[:i], rest[i+len(kind)+2:]
	if ref == "" || strings.Contains(ref, "/") {
		return "", "", false
	}
	return name, ref, true
}
