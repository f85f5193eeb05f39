// Package store reads and writes signatures in OCI registries over the
// distribution API (https://github.com/opencontainers/distribution-spec),
// in the layouts described by [hallmark.dev/oci].
//
// Registries on loopback addresses are reached over plain HTTP; any other
// registry only over HTTPS unless [Options.AllowHTTP] is set. Every request
// is bounded by [Options.Timeout], and a registry that does not answer is
// reported by name.
package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"hallmark.dev/attest"
	"hallmark.dev/oci"
)

// MaxSignatures bounds how many referrers, and how many legacy signature
// layers, are read for one image: each may be a large bundle held in memory.
const MaxSignatures = 256

// DefaultTimeout bounds each registry request when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options configure a [Client].
type Options struct {
	// AllowHTTP permits plain HTTP to registries that are not on loopback.
	AllowHTTP bool
	// Timeout bounds connecting to a registry and waiting for its answer.
	Timeout time.Duration
	// Keychain supplies registry credentials; nil means the Docker config
	// (authn.DefaultKeychain).
	Keychain authn.Keychain
	// Transport is the base transport; nil means a new http.Transport.
	Transport http.RoundTripper
	// Now returns the time written in annotations; nil means time.Now.
	Now func() time.Time
}

// Client talks to registries.
type Client struct {
	opts      Options
	transport http.RoundTripper
}

// New returns a client.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	base := o.Transport
	if base == nil {
		base = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           idleTimeoutDialer(o.Timeout),
			TLSHandshakeTimeout:   o.Timeout,
			ResponseHeaderTimeout: o.Timeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
			ForceAttemptHTTP2:     true,
		}
	}
	return &Client{opts: o, transport: &schemeGuard{base: base, allowHTTP: o.AllowHTTP}}
}

// ParseReference parses an image reference ("registry/repo:tag" or
// "registry/repo@sha256:…").
func (c *Client) ParseReference(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s, c.nameOpts()...)
	if err != nil {
		return nil, fmt.Errorf("invalid image reference %q: %w", s, err)
	}
	return ref, nil
}

// ParseRepository parses a repository ("registry/repo").
func (c *Client) ParseRepository(s string) (name.Repository, error) {
	repo, err := name.NewRepository(s, c.nameOpts()...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("invalid repository %q: %w", s, err)
	}
	return repo, nil
}

func (c *Client) nameOpts() []name.Option {
	if c.opts.AllowHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

func (c *Client) remoteOpts(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(c.transport),
		remote.WithAuthFromKeychain(c.opts.Keychain),
		remote.WithUserAgent(userAgent),
		remote.WithRetryBackoff(retryBackoff),
	}
}

// userAgent and retryBackoff apply to every registry request.
const userAgent = "hallmark"

var retryBackoff = remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 2}

// Descriptor fetches the manifest a reference names, through the client's
// transport (plain HTTP refused off loopback unless allowed, the timeout)
// and credentials; the caller reads the image or index from it.
func (c *Client) Descriptor(ctx context.Context, ref name.Reference) (*remote.Descriptor, error) {
	desc, err := remote.Get(ref, c.remoteOpts(ctx)...)
	if err != nil {
		return nil, c.wrap(ref.Context().Registry, "fetch manifest", err)
	}
	return desc, nil
}

// Resolve returns the digest and descriptor a reference names now. A
// digest reference is checked to exist.
func (c *Client) Resolve(ctx context.Context, ref name.Reference) (name.Digest, v1.Descriptor, error) {
	desc, err := remote.Head(ref, c.remoteOpts(ctx)...)
	var terr *transport.Error
	if err != nil && !errors.As(err, &terr) {
		return name.Digest{}, v1.Descriptor{}, c.wrap(ref.Context().Registry, "resolve "+ref.String(), err)
	}
	if err != nil {
		// Some registries do not answer HEAD for manifests; fall back to GET.
		full, gerr := remote.Get(ref, c.remoteOpts(ctx)...)
		if gerr != nil {
			return name.Digest{}, v1.Descriptor{}, c.wrap(ref.Context().Registry, "resolve "+ref.String(), gerr)
		}
		desc = &full.Descriptor
	}
	return ref.Context().Digest(desc.Digest.String()), *desc, nil
}

// Children returns the manifests an index lists, as digests in the index's
// repository, with their descriptors. A manifest that is not an index has
// none.
func (c *Client) Children(ctx context.Context, d name.Digest) ([]v1.Descriptor, error) {
	desc, err := remote.Get(d, c.remoteOpts(ctx)...)
	if err != nil {
		return nil, c.wrap(d.Context().Registry, "fetch "+d.String(), err)
	}
	if !desc.MediaType.IsIndex() {
		return nil, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("read index %s: %w", d, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read index %s: %w", d, err)
	}
	return m.Manifests, nil
}

// AttachBundle stores a bundle as a referrer of subject in repo (the
// subject's own repository unless the signatures are kept elsewhere) and
// returns the referrer manifest's digest. On registries without the
// referrers API the referrers tag schema index is updated.
func (c *Client) AttachBundle(ctx context.Context, repo name.Repository, subject v1.Descriptor, bundle []byte, predicateType string) (name.Digest, error) {
	layer := static.NewLayer(bundle, types.MediaType(oci.BundleMediaType))
	ro := c.remoteOpts(ctx)
	if err := remote.WriteLayer(repo, layer, ro...); err != nil {
		return name.Digest{}, c.wrap(repo.Registry, "upload bundle to "+repo.String(), err)
	}
	cfg := static.NewLayer(oci.EmptyConfig, types.MediaType(oci.EmptyConfigMediaType))
	if err := remote.WriteLayer(repo, cfg, ro...); err != nil {
		return name.Digest{}, c.wrap(repo.Registry, "upload config to "+repo.String(), err)
	}
	ld, err := layer.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	manifest, err := oci.BundleReferrer(subject, v1.Descriptor{Digest: ld, Size: int64(len(bundle))}, predicateType, c.opts.Now())
	if err != nil {
		return name.Digest{}, fmt.Errorf("build referrer manifest: %w", err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(manifest))
	if err != nil {
		return name.Digest{}, err
	}
	dst := repo.Digest(h.String())
	if err := remote.Put(dst, rawManifest{manifest}, ro...); err != nil {
		return name.Digest{}, c.wrap(repo.Registry, "push referrer to "+repo.String(), err)
	}
	return dst, nil
}

type rawManifest struct{ b []byte }

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// Attestations returns every attestation found for subject in repo: the
// Sigstore bundles attached as referrers (whatever their predicate type:
// verification decides which count) and the DSSE envelopes of cosign's
// legacy "sha256-<hex>.att" tag.
func (c *Client) Attestations(ctx context.Context, repo name.Repository, subject v1.Hash) ([]oci.Signature, error) {
	out, err := c.bundles(ctx, repo, subject)
	if err != nil {
		return nil, err
	}
	legacy, err := c.legacyLayers(ctx, repo, subject, oci.LegacyAttestationTagSuffix, oci.LegacyAttestationMediaType)
	if err != nil {
		return nil, err
	}
	return append(out, legacy...), nil
}

// Signatures returns every signature found for subject in repo: bundles
// attached as referrers (through the referrers API or the referrers tag
// schema) and cosign's legacy "sha256-<hex>.sig" tag. A signature whose
// manifest or layer cannot be read is returned with the reason in Source and
// no content, so that the caller can say why it did not count.
//
// Referrers whose descriptor declares another predicate type than an image
// signature's (an SBOM attestation, say) are not read: they could not
// verify as a signature, and they may be large. The annotation is
// unsigned, so it only saves work: a referrer without it is read and
// verification decides.
func (c *Client) Signatures(ctx context.Context, repo name.Repository, subject v1.Hash) ([]oci.Signature, error) {
	out, _, err := c.bundlesStreamed(ctx, repo, subject, math.MaxInt64, func(d v1.Descriptor) bool {
		pt, ok := d.Annotations[oci.AnnotationBundlePredicateType]
		return !ok || pt == attest.CosignSignPredicateType
	})
	if err != nil {
		return nil, err
	}
	legacy, err := c.legacyLayers(ctx, repo, subject, oci.LegacySignatureTagSuffix, oci.SimpleSigningMediaType)
	if err != nil {
		return nil, err
	}
	return append(out, legacy...), nil
}

// bundles returns the bundles attached to subject as referrers.
func (c *Client) bundles(ctx context.Context, repo name.Repository, subject v1.Hash) ([]oci.Signature, error) {
	out, _, err := c.bundlesStreamed(ctx, repo, subject, math.MaxInt64, nil)
	return out, err
}

// StreamedBundle is a bundle layer to read as a stream, for an attestation
// too large to hold in memory more than once (an SBOM of tens of
// megabytes).
type StreamedBundle struct {
	// Source says where it was found, as oci.Signature's.
	Source string
	// Size is the layer's size from its descriptor.
	Size int64
	// Open fetches the layer. The reader fails at the end unless the
	// layer has the descriptor's size and digest: read it to the end
	// before trusting what it gave.
	Open func() (io.ReadCloser, error)
}

// AttestationsStreamed is Attestations, except that the bundle layers of
// at least streamFrom bytes are not read: they are returned to be read as
// streams, up to oci.MaxStreamedBundleSize (the verifier decides whether
// one over oci.MaxBundleSize can be verified without holding it).
func (c *Client) AttestationsStreamed(ctx context.Context, repo name.Repository, subject v1.Hash, streamFrom int64) ([]oci.Signature, []StreamedBundle, error) {
	out, streamed, err := c.bundlesStreamed(ctx, repo, subject, streamFrom, nil)
	if err != nil {
		return nil, nil, err
	}
	legacy, err := c.legacyLayers(ctx, repo, subject, oci.LegacyAttestationTagSuffix, oci.LegacyAttestationMediaType)
	if err != nil {
		return nil, nil, err
	}
	return append(out, legacy...), streamed, nil
}

// bundlesStreamed reads the bundle referrers of subject that want accepts
// (all when want is nil), returning those of at least streamFrom bytes as
// streams.
func (c *Client) bundlesStreamed(ctx context.Context, repo name.Repository, subject v1.Hash, streamFrom int64, want func(v1.Descriptor) bool) ([]oci.Signature, []StreamedBundle, error) {
	var (
		out      []oci.Signature
		streamed []StreamedBundle
	)
	refs, err := c.referrers(ctx, repo, subject)
	if err != nil {
		return nil, nil, err
	}
	if len(refs) > MaxSignatures {
		return nil, nil, fmt.Errorf("%s has %d referrers in %s, over the %d this client reads; the registry may be under attack", subject, len(refs), repo, MaxSignatures)
	}
	for _, r := range refs {
		// Some registries report config.mediaType as the artifact type even
		// when the manifest has its own artifactType; for an empty config,
		// look inside and keep the referrer only if it holds a bundle.
		declared := oci.IsBundleArtifact(r.ArtifactType)
		if !declared && r.ArtifactType != oci.EmptyConfigMediaType && r.ArtifactType != "" {
			continue
		}
		if want != nil && !want(r) {
			continue
		}
		src := "referrer " + r.Digest.String()
		layer, err := c.bundleLayer(ctx, repo, r.Digest, subject)
		if errors.Is(err, oci.ErrNotBundle) && !declared {
			continue
		}
		if err == nil && layer.Size >= streamFrom {
			streamed = append(streamed, StreamedBundle{Source: src, Size: layer.Size, Open: func() (io.ReadCloser, error) {
				return c.blobReader(ctx, repo, layer.Digest, layer.Size)
			}})
			continue
		}
		var b []byte
		if err == nil {
			b, err = c.blob(ctx, repo, layer.Digest, layer.Size)
		}
		if err != nil {
			out = append(out, oci.Signature{Source: src + " (unreadable: " + err.Error() + ")"})
			continue
		}
		out = append(out, oci.Signature{Source: src, Bundle: b})
	}
	return out, streamed, nil
}

// referrers lists the referrers of subject in repo: every page of the
// referrers API, which a registry may split, linking each page to the next
// (OCI distribution spec, "Listing Referrers"; go-containerregistry's
// remote.Referrers reads the first page only), or, on registries without
// the API, the index of the referrers tag schema. It stops once it has
// more than MaxSignatures.
func (c *Client) referrers(ctx context.Context, repo name.Repository, subject v1.Hash) ([]v1.Descriptor, error) {
	op := "list referrers of " + subject.String() + " in " + repo.String()
	auth, err := authn.Resolve(ctx, c.opts.Keychain, repo)
	if err != nil {
		return nil, c.wrap(repo.Registry, op, err)
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, transport.NewRetry(c.transport, transport.WithRetryBackoff(retryBackoff)), []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, c.wrap(repo.Registry, op, err)
	}
	client := &http.Client{Transport: transport.NewUserAgent(rt, userAgent)}
	next := &url.URL{Scheme: repo.Scheme(), Host: repo.RegistryStr(), Path: "/v2/" + repo.RepositoryStr() + "/referrers/" + subject.String()}
	var out []v1.Descriptor
	for page := 0; next != nil && len(out) <= MaxSignatures; page++ {
		if page > MaxSignatures {
			return nil, c.wrap(repo.Registry, op, fmt.Errorf("more than %d pages of referrers", MaxSignatures))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", string(types.OCIImageIndex))
		resp, err := client.Do(req)
		if err != nil {
			return nil, c.wrap(repo.Registry, op, err)
		}
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if page == 0 && (resp.StatusCode != http.StatusOK || mt != string(types.OCIImageIndex)) {
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK, http.StatusNotFound, http.StatusBadRequest, http.StatusNotAcceptable:
				return c.referrersTagSchema(ctx, repo, subject) // no referrers API
			}
		}
		m, err := readReferrersPage(resp)
		if err != nil {
			return nil, c.wrap(repo.Registry, op, err)
		}
		out = append(out, m.Manifests...)
		if next, err = nextPage(resp); err != nil {
			return nil, c.wrap(repo.Registry, op, err)
		}
	}
	return out, nil
}

// readReferrersPage reads and closes a page of the referrers API.
func readReferrersPage(resp *http.Response) (*v1.IndexManifest, error) {
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, oci.MaxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > oci.MaxManifestSize {
		return nil, fmt.Errorf("a page of referrers over %d bytes", oci.MaxManifestSize)
	}
	return v1.ParseIndexManifest(bytes.NewReader(b))
}

// nextPage returns the page a response links to with rel="next" (RFC
// 8288: Link: <URL>; rel="next"), nil if none. It must be on the same
// registry.
func nextPage(resp *http.Response) (*url.URL, error) {
	for _, header := range resp.Header.Values("Link") {
		for link := range strings.SplitSeq(header, ",") {
			target, params, _ := strings.Cut(link, ";")
			target = strings.TrimSpace(target)
			if len(target) < 2 || target[0] != '<' || target[len(target)-1] != '>' || !isNextRel(params) {
				continue
			}
			target = target[1 : len(target)-1]
			u, err := resp.Request.URL.Parse(target)
			if err != nil {
				return nil, fmt.Errorf("next page link %q: %v", target, err)
			}
			if u.Scheme != resp.Request.URL.Scheme || u.Host != resp.Request.URL.Host {
				return nil, fmt.Errorf("next page link %q leaves the registry", target)
			}
			return u, nil
		}
	}
	return nil, nil
}

// isNextRel reports whether a link's parameters say rel="next".
func isNextRel(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "rel") && slices.Contains(strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)), "next") {
			return true
		}
	}
	return false
}

// referrersTagSchema reads the referrers of subject from a registry without
// the referrers API.
func (c *Client) referrersTagSchema(ctx context.Context, repo name.Repository, subject v1.Hash) ([]v1.Descriptor, error) {
	idx, err := remote.Referrers(repo.Digest(subject.String()), c.remoteOpts(ctx)...)
	if err != nil {
		return nil, c.wrap(repo.Registry, "list referrers of "+subject.String()+" in "+repo.String(), err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read referrers of %s: %w", subject, err)
	}
	return m.Manifests, nil
}

// bundleLayer returns the descriptor of the bundle layer of a referrer.
func (c *Client) bundleLayer(ctx context.Context, repo name.Repository, manifestDigest, subject v1.Hash) (v1.Descriptor, error) {
	raw, err := c.manifest(ctx, repo.Digest(manifestDigest.String()))
	if err != nil {
		return v1.Descriptor{}, err
	}
	return oci.BundleLayer(raw, subject)
}

func (c *Client) manifest(ctx context.Context, ref name.Reference) ([]byte, error) {
	desc, err := remote.Get(ref, c.remoteOpts(ctx)...)
	if err != nil {
		return nil, c.wrap(ref.Context().Registry, "fetch "+ref.String(), err)
	}
	if len(desc.Manifest) > oci.MaxManifestSize {
		return nil, fmt.Errorf("manifest %s is %d bytes, over the %d byte limit", ref, len(desc.Manifest), oci.MaxManifestSize)
	}
	return desc.Manifest, nil
}

// blob fetches a blob and checks its digest and size.
func (c *Client) blob(ctx context.Context, repo name.Repository, d v1.Hash, size int64) ([]byte, error) {
	if size < 0 || size > oci.MaxBundleSize {
		return nil, fmt.Errorf("blob %s has size %d, outside 0..%d", d, size, oci.MaxBundleSize)
	}
	rc, err := c.openBlob(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// The reader verifies the digest at EOF.
	b, err := io.ReadAll(io.LimitReader(rc, size+1))
	if err != nil {
		return nil, c.wrap(repo.Registry, "read blob "+d.String(), err)
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("blob %s is %d bytes, descriptor says %d", d, len(b), size)
	}
	got, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if got != d {
		return nil, fmt.Errorf("blob %s has digest %s", d, got)
	}
	return b, nil
}

// openBlob opens a blob's content as the registry sends it.
func (c *Client) openBlob(ctx context.Context, repo name.Repository, d v1.Hash) (io.ReadCloser, error) {
	l, err := remote.Layer(repo.Digest(d.String()), c.remoteOpts(ctx)...)
	if err != nil {
		return nil, c.wrap(repo.Registry, "fetch blob "+d.String(), err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, c.wrap(repo.Registry, "fetch blob "+d.String(), err)
	}
	return rc, nil
}

// blobReader fetches a blob as a stream whose end checks its size and
// digest.
func (c *Client) blobReader(ctx context.Context, repo name.Repository, d v1.Hash, size int64) (io.ReadCloser, error) {
	if size < 0 || size > oci.MaxStreamedBundleSize {
		return nil, fmt.Errorf("blob %s has size %d, outside 0..%d", d, size, oci.MaxStreamedBundleSize)
	}
	if d.Algorithm != "sha256" {
		return nil, fmt.Errorf("blob %s: unsupported digest algorithm", d)
	}
	rc, err := c.openBlob(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	return &checkedBlob{rc: rc, r: io.LimitReader(rc, size+1), d: d, size: size, h: sha256.New()}, nil
}

// checkedBlob reads a blob and, at its end, fails unless it had the
// expected size and digest.
type checkedBlob struct {
	rc   io.ReadCloser
	r    io.Reader
	d    v1.Hash
	size int64
	n    int64
	h    hash.Hash
}

func (b *checkedBlob) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	b.h.Write(p[:n])
	if b.n > b.size {
		return n, fmt.Errorf("blob %s is over the %d bytes its descriptor says", b.d, b.size)
	}
	if err == io.EOF {
		if b.n != b.size {
			return n, fmt.Errorf("blob %s is %d bytes, descriptor says %d", b.d, b.n, b.size)
		}
		if got := hex.EncodeToString(b.h.Sum(nil)); got != b.d.Hex {
			return n, fmt.Errorf("blob %s has digest sha256:%s", b.d, got)
		}
	}
	return n, err
}

func (b *checkedBlob) Close() error { return b.rc.Close() }

// legacyLayers reads the layers of cosign's legacy tag (suffix ".sig" or
// ".att") for subject that have the given media type.
func (c *Client) legacyLayers(ctx context.Context, repo name.Repository, subject v1.Hash, suffix string, mediaType types.MediaType) ([]oci.Signature, error) {
	tag := repo.Tag(oci.LegacyTag(subject, suffix))
	desc, err := remote.Get(tag, c.remoteOpts(ctx)...)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return nil, nil
		}
		return nil, c.wrap(repo.Registry, "fetch "+tag.String(), err)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", tag, err)
	}
	if len(m.Layers) > MaxSignatures {
		return nil, fmt.Errorf("%s has %d layers, over the %d this client reads", tag, len(m.Layers), MaxSignatures)
	}
	var out []oci.Signature
	for i, l := range m.Layers {
		src := fmt.Sprintf("tag %s layer %d", tag.TagStr(), i)
		if l.MediaType != mediaType {
			continue
		}
		payload, err := c.blob(ctx, repo, l.Digest, l.Size)
		if err != nil {
			out = append(out, oci.Signature{Source: src + " (unreadable: " + err.Error() + ")"})
			continue
		}
		a := l.Annotations
		out = append(out, oci.Signature{Source: src, Legacy: &oci.Legacy{
			DSSE:             mediaType == oci.LegacyAttestationMediaType,
			Payload:          payload,
			Signature:        a[oci.AnnotationLegacySignature],
			Certificate:      []byte(a[oci.AnnotationLegacyCertificate]),
			Chain:            []byte(a[oci.AnnotationLegacyChain]),
			RekorBundle:      []byte(a[oci.AnnotationLegacyBundle]),
			RFC3161Timestamp: []byte(a[oci.AnnotationLegacyRFC3161]),
		}})
	}
	return out, nil
}

// idleTimeoutDialer dials with a timeout and returns connections on which
// every read must make progress within timeout, so that a registry that
// sends headers and then stalls the body is cut off too.
func idleTimeoutDialer(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: c, timeout: timeout}, nil
	}
}

type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// RegistryError says which registry failed and how.
type RegistryError struct {
	Registry string
	Op       string
	Err      error
}

func (e *RegistryError) Error() string {
	return fmt.Sprintf("%s: registry %s: %s", e.Op, e.Registry, describe(e.Err))
}

func (e *RegistryError) Unwrap() error { return e.Err }

func (c *Client) wrap(reg name.Registry, op string, err error) error {
	if err == nil {
		return nil
	}
	return &RegistryError{Registry: reg.RegistryStr(), Op: op, Err: err}
}

func describe(err error) string {
	var nerr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "did not answer in time"
	case errors.As(err, &nerr) && nerr.Timeout():
		return "did not answer in time"
	case errors.Is(err, errPlainHTTP):
		return err.Error()
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		if terr.StatusCode == http.StatusNotFound {
			return "not found"
		}
		if terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden {
			return fmt.Sprintf("access denied (HTTP %d); log in with docker login or check the Docker config", terr.StatusCode)
		}
		return strings.TrimSpace(terr.Error())
	}
	var oerr *net.OpError
	if errors.As(err, &oerr) {
		return oerr.Err.Error()
	}
	return err.Error()
}

var errPlainHTTP = errors.New("plain HTTP to a registry that is not on loopback is refused; pass --allow-http-registry to permit it")

// schemeGuard refuses plain HTTP to registries that are not on loopback,
// unless allowed: go-containerregistry falls back to HTTP for private
// addresses, which a network attacker could force.
type schemeGuard struct {
	base      http.RoundTripper
	allowHTTP bool
}

func (g *schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.allowHTTP && !IsLoopback(req.URL.Hostname()) {
		return nil, errPlainHTTP
	}
	return g.base.RoundTrip(req)
}

// IsLoopback reports whether host names the local machine: "localhost" or
// a loopback address. Other names ending in .localhost are not trusted to
// be local: Go resolves them through DNS.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ConfigDigest returns the config digest of the image manifest d names.
func (c *Client) ConfigDigest(ctx context.Context, d name.Digest) (v1.Hash, error) {
	raw, err := c.manifest(ctx, d)
	if err != nil {
		return v1.Hash{}, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, fmt.Errorf("read manifest %s: %w", d, err)
	}
	if m.Config.Digest.Algorithm == "" {
		return v1.Hash{}, fmt.Errorf("manifest %s has no config", d)
	}
	return m.Config.Digest, nil
}
