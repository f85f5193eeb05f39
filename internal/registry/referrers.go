package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

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

// errInvalidSubject reports a manifest whose subject cannot be indexed.
var errInvalidSubject = errors.New("invalid subject")

// parseReferrer inspects a manifest pushed with the given Content-Type. It
// returns nil if the manifest is not an OCI image manifest or index with a
// subject (including when it is not JSON: distribution rejects those), and
// an error wrapping errInvalidSubject if the subject has no valid digest.
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
		if err := h.index.put(name, ref.subject, ref.desc); err != nil {
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
		if err := h.index.remove(name, dgst); err != nil {
			h.logger.WarnContext(r.Context(), "removing referrer record failed", "repository", name, "referrer", dgst, "err", err)
		}
	}
	rec.sendTo(w)
}

// serveReferrers answers GET /v2/<name>/referrers/<digest>.
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

	ctx := r.Context()
	recorded, err := h.index.list(name, subject)
	if err != nil {
		h.logger.ErrorContext(ctx, "listing referrers failed", "repository", name, "subject", subject, "err", err)
		writeError(w, http.StatusInternalServerError, codeUnknown, "unknown error", "listing the referrers failed")
		return
	}
	repo, err := h.manifests.Repository(ctx, named)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeNameInvalid, "invalid repository name", err.Error())
		return
	}
	manifests, err := repo.Manifests(ctx)
	if err != nil {
		h.logger.ErrorContext(ctx, "opening manifests failed", "repository", name, "err", err)
		writeError(w, http.StatusInternalServerError, codeUnknown, "unknown error", "listing the referrers failed")
		return
	}

	artifactType := r.URL.Query().Get("artifactType")
	list := make([]descriptor, 0, len(recorded))
	for _, d := range recorded {
		if artifactType != "" && d.ArtifactType != artifactType {
			continue
		}
		ok, err := manifests.Exists(ctx, d.Digest)
		if err != nil {
			h.logger.ErrorContext(ctx, "checking referrer failed", "repository", name, "referrer", d.Digest, "err", err)
			writeError(w, http.StatusInternalServerError, codeUnknown, "unknown error", "listing the referrers failed")
			return
		}
		if ok {
			list = append(list, d)
		}
	}

	b, err := json.Marshal(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{2, mediaTypeImageIndex, list})
	if err != nil {
		h.logger.ErrorContext(ctx, "encoding referrers failed", "repository", name, "subject", subject, "err", err)
		writeError(w, http.StatusInternalServerError, codeUnknown, "unknown error", "listing the referrers failed")
		return
	}
	if artifactType != "" {
		w.Header().Set(headerFiltersApplied, "artifactType")
	}
	w.Header().Set("Content-Type", mediaTypeImageIndex)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b) // An error means the client went away; nothing to do.
	}
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
