package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	// Digest algorithms the registry accepts in URLs and subjects.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Media types and headers of the OCI image and distribution specifications.
const (
	mediaTypeImageManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeImageIndex    = "application/vnd.oci.image.index.v1+json"

	headerSubject        = "OCI-Subject"
	headerFiltersApplied = "OCI-Filters-Applied"
)

// referrer is what a pushed manifest says about itself as a referrer.
type referrer struct {
	subject digest.Digest
	desc    descriptor
}

// Errors of parseReferrer: a manifest the registry cannot record as a
// referrer.
var (
	errInvalidSubject      = errors.New("invalid subject")
	errAnnotationsTooLarge = errors.New("annotations too large")
)

// parseReferrer inspects a manifest pushed with the given Content-Type. It
// returns nil if the manifest is not an OCI image manifest or index with a
// subject (including when it is not JSON: distribution rejects those), an
// error wrapping errInvalidSubject if the subject has no valid digest, and
// one wrapping errAnnotationsTooLarge if its annotations are over
// MaxReferrerAnnotationsSize.
func parseReferrer(contentType string, body []byte) (*referrer, error) {
	var m struct {
		MediaType    string `json:"mediaType"`
		ArtifactType string `json:"artifactType"`
		Config       *struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
		Subject *struct {
			Digest string `json:"digest"`
		} `json:"subject"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Subject == nil {
		return nil, nil
	}
	// distribution decides the manifest's type by Content-Type, falling back
	// to the body only when there is none.
	mediaType := m.MediaType
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, nil
		}
		mediaType = mt
	}
	if mediaType != mediaTypeImageManifest && mediaType != mediaTypeImageIndex {
		return nil, nil
	}
	subject, err := digest.Parse(m.Subject.Digest)
	if err != nil {
		return nil, fmt.Errorf("%w: digest %q: %v", errInvalidSubject, m.Subject.Digest, err)
	}
	if len(m.Annotations) == 0 {
		m.Annotations = nil // "annotations":{} is recorded as none
	}
	if n := annotationsSize(m.Annotations); n > MaxReferrerAnnotationsSize {
		return nil, fmt.Errorf("%w: a referrer with annotations of %d bytes, over the %d this registry records and lists (keys and values)", errAnnotationsTooLarge, n, MaxReferrerAnnotationsSize)
	}
	artifactType := m.ArtifactType
	if artifactType == "" && mediaType == mediaTypeImageManifest && m.Config != nil {
		artifactType = m.Config.MediaType
	}
	return &referrer{
		subject: subject,
		desc: descriptor{
			MediaType:    mediaType,
			Digest:       digest.FromBytes(body),
			Size:         int64(len(body)),
			ArtifactType: artifactType,
			Annotations:  m.Annotations,
		},
	}, nil
}

// putManifest hands a manifest PUT to distribution and, if the manifest is
// a referrer and distribution stored it, records it before answering.
func (h *handler) putManifest(w http.ResponseWriter, r *http.Request, name string) {
	if r.ContentLength > MaxManifestSize {
		writeError(w, http.StatusRequestEntityTooLarge, codeManifestInvalid, "manifest too large", fmt.Sprintf("manifests are limited to %d bytes", MaxManifestSize))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxManifestSize+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, codeManifestInvalid, "manifest invalid", "reading the request body failed")
		return
	}
	if len(body) > MaxManifestSize {
		writeError(w, http.StatusRequestEntityTooLarge, codeManifestInvalid, "manifest too large", fmt.Sprintf("manifests are limited to %d bytes", MaxManifestSize))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))

	ref, err := parseReferrer(r.Header.Get("Content-Type"), body)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeManifestInvalid, "manifest invalid", err.Error())
		return
	}
	if ref == nil {
		h.dist.ServeHTTP(w, r)
		return
	}

	// A DELETE of the same manifest must not interleave with storing it and
	// recording it, or the record could go missing for a stored manifest.
	unlock := h.locks.lock(name + "@" + ref.desc.Digest.String())
	defer unlock()
	rec := newBufferedResponse()
	h.dist.ServeHTTP(rec, r)
	if rec.status == http.StatusCreated {
		if err := h.index.put(r.Context(), name, ref.subject, ref.desc); err != nil {
			h.logger.ErrorContext(r.Context(), "recording referrer failed", "repository", name, "referrer", ref.desc.Digest, "subject", ref.subject, "err", err)
			writeError(w, http.StatusInternalServerError, codeUnknown, "unknown error", "recording the referrer failed")
			return
		}
		h.logger.DebugContext(r.Context(), "recorded referrer", "repository", name, "referrer", ref.desc.Digest, "subject", ref.subject, "artifact_type", ref.desc.ArtifactType)
		rec.header.Set(headerSubject, ref.subject.String())
	}
	rec.sendTo(w)
}

// deleteManifest hands a manifest DELETE to distribution and, if it deleted
// a manifest by digest, removes that manifest's referrer record.
func (h *handler) deleteManifest(w http.ResponseWriter, r *http.Request, name, ref string) {
	dgst, err := digest.Parse(ref)
	if err != nil {
		// A tag: deleting it leaves the manifest, and its record, in place.
		h.dist.ServeHTTP(w, r)
		return
	}
	unlock := h.locks.lock(name + "@" + dgst.String())
	defer unlock()
	rec := newBufferedResponse()
	h.dist.ServeHTTP(rec, r)
	if rec.status == http.StatusAccepted {
		// Listing skips referrers that no longer exist, so a record left
		// behind here is never served: log, and answer as distribution did.
		if err := h.index.remove(r.Context(), name, dgst); err != nil {
			h.logger.WarnContext(r.Context(), "removing referrer record failed", "repository", name, "referrer", dgst, "err", err)
		}
	}
	rec.sendTo(w)
}

// annotationsSize is the size of annotations as MaxReferrerAnnotationsSize
// counts it: the bytes of its keys and values.
func annotationsSize(annotations map[string]string) int {
	n := 0
	for k, v := range annotations {
		n += len(k) + len(v)
	}
	return n
}

// serveReferrers answers GET /v2/<name>/referrers/<digest>[?artifactType=…][&last=…]
// with one page of the referrers, at most pageSize bytes, sorted by digest
// and starting after the digest last; a page that is not the last links to
// the next one (Link: <…>; rel="next").
//
// At most maxListings pages are built at once; each holds the referrers'
// digests, the page and one record, so a listing's memory does not grow
// with the records' size, and all listings' memory not with the clients'
// number.
func (h *handler) serveReferrers(w http.ResponseWriter, r *http.Request, name, ref string) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, codeUnsupported, "the operation is unsupported", r.Method+" is not supported on referrers")
		return
	}
	named, err := reference.WithName(name)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeNameInvalid, "invalid repository name", err.Error())
		return
	}
	subject, err := digest.Parse(ref)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeDigestInvalid, "provided digest did not match uploaded content", fmt.Sprintf("invalid digest %q: %v", ref, err))
		return
	}
	query := r.URL.Query()
	artifactType := query.Get("artifactType")
	var last digest.Digest
	if s := query.Get("last"); s != "" {
		if last, err = digest.Parse(s); err != nil {
			writeError(w, http.StatusBadRequest, codeDigestInvalid, "provided digest did not match uploaded content", fmt.Sprintf("invalid digest %q in last: %v", s, err))
			return
		}
	}

	ctx := r.Context()
	select {
	case h.listings <- struct{}{}:
	case <-ctx.Done():
		return // the client went away
	}
	body, next, err := h.referrersPage(ctx, name, named, subject, artifactType, last)
	<-h.listings
	if err != nil {
		h.logger.ErrorContext(ctx, "listing referrers failed", "repository", name, "subject", subject, "err", err)
		writeError(w, http.StatusInternalServerError, codeUnknown, "unknown error", "listing the referrers failed")
		return
	}
	if artifactType != "" {
		w.Header().Set(headerFiltersApplied, "artifactType")
	}
	if next != "" {
		q := url.Values{"last": {next.String()}}
		if artifactType != "" {
			q.Set("artifactType", artifactType)
		}
		w.Header().Set("Link", "</v2/"+name+"/referrers/"+subject.String()+"?"+q.Encode()+`>; rel="next"`)
	}
	w.Header().Set("Content-Type", mediaTypeImageIndex)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body) // An error means the client went away; nothing to do.
	}
}

// referrersPage builds the page of referrers of subject after last; next
// is the cursor of the following page, empty if this one is the last.
func (h *handler) referrersPage(ctx context.Context, name string, named reference.Named, subject digest.Digest, artifactType string, last digest.Digest) (page []byte, next digest.Digest, err error) {
	recorded, err := h.index.referrers(ctx, name, subject)
	if err != nil {
		return nil, "", err
	}
	if last != "" {
		i, found := slices.BinarySearchFunc(recorded, last, func(a, b digest.Digest) int { return strings.Compare(string(a), string(b)) })
		if found {
			i++
		}
		recorded = recorded[i:]
	}
	var manifests distribution.ManifestService
	if len(recorded) > 0 {
		repo, err := h.manifests.Repository(ctx, named)
		if err != nil {
			return nil, "", fmt.Errorf("opening repository: %w", err)
		}
		if manifests, err = repo.Manifests(ctx); err != nil {
			return nil, "", fmt.Errorf("opening manifests: %w", err)
		}
	}

	const head, tail = `{"schemaVersion":2,"mediaType":"` + mediaTypeImageIndex + `","manifests":[`, `]}`
	var buf bytes.Buffer
	buf.WriteString(head)
	listed := 0
	for i, dgst := range recorded {
		d, ok, err := h.index.get(ctx, name, subject, dgst)
		if err != nil {
			return nil, "", err
		}
		if !ok || artifactType != "" && d.ArtifactType != artifactType {
			continue
		}
		if n := annotationsSize(d.Annotations); n > MaxReferrerAnnotationsSize {
			// Recorded before the cap: listed without them, as a
			// descriptor that still leads to the manifest.
			h.logger.WarnContext(ctx, "referrer record with annotations over the cap: listed without them", "repository", name, "referrer", d.Digest, "subject", subject, "annotations_bytes", n)
			d.Annotations = nil
		}
		exists, err := manifests.Exists(ctx, d.Digest)
		if err != nil {
			return nil, "", fmt.Errorf("checking referrer %s: %w", d.Digest, err)
		}
		if !exists {
			continue
		}
		b, err := json.Marshal(d)
		if err != nil {
			return nil, "", fmt.Errorf("encoding referrer %s: %w", d.Digest, err)
		}
		if listed > 0 && buf.Len()+1+len(b)+len(tail) > h.pageSize {
			// Every record before this one has been looked at.
			return append(buf.Bytes(), tail...), recorded[i-1], nil
		}
		if listed > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
		listed++
	}
	return append(buf.Bytes(), tail...), "", nil
}

// bufferedResponse holds distribution's answer so that the referrers index
// can be updated, and headers added, before the client sees it. Manifest PUT
// and DELETE answers are small.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferedResponse() *bufferedResponse {
	return &bufferedResponse{header: make(http.Header)}
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedResponse) sendTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(b.body.Bytes()) // An error means the client went away; nothing to do.
}
