package policystore

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"hallmark.dev/signpolicy"
)

// PathPrefix is where the store's HTTP surface is mounted.
const PathPrefix = "/api/v1/signing-policy/"

// The store's paths.
const (
	PathVersions  = PathPrefix + "versions"
	PathApprovals = PathPrefix + "approvals"
)

// versionsResponse is the body of GET versions.
type versionsResponse struct {
	Repository string             `json:"repository"`
	Versions   []signpolicy.Entry `json:"versions"`
}

// published is the body of a 201 answer to POST versions.
type published struct {
	Repository string `json:"repository"`
	Version    int    `json:"version"`
	Digest     string `json:"digest"`
}

// problem is the body of an error answer.
type problem struct {
	Error  string `json:"error"`
	Reason string `json:"reason,omitempty"`
}

// approvalsResponse is the body of GET approvals.
type approvalsResponse struct {
	Approvals []json.RawMessage `json:"approvals"`
}

// maxRequest bounds a request body: a version with MaxApprovals
// approvals.
const maxRequest = MaxBundle * (MaxApprovals + 1)

// Handler serves the store's HTTP surface.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathVersions, s.getVersions)
	mux.HandleFunc("POST "+PathVersions, s.postVersion)
	mux.HandleFunc("GET "+PathApprovals, s.getApprovals)
	mux.HandleFunc("POST "+PathApprovals, s.postApproval)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

func fail(w http.ResponseWriter, status int, err error) {
	p := problem{Error: err.Error()}
	var ce *signpolicy.ChainError
	if errors.As(err, &ce) {
		p.Reason = string(ce.Reason)
	}
	writeJSON(w, status, p)
}

func (s *Store) getVersions(w http.ResponseWriter, r *http.Request) {
	repo := r.URL.Query().Get("repository")
	entries, err := s.Versions(r.Context(), repo)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if entries == nil {
		entries = []signpolicy.Entry{}
	}
	writeJSON(w, http.StatusOK, versionsResponse{Repository: repo, Versions: entries})
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			fail(w, http.StatusRequestEntityTooLarge, err)
		} else {
			fail(w, http.StatusBadRequest, err)
		}
		return nil, false
	}
	return data, true
}

func (s *Store) postVersion(w http.ResponseWriter, r *http.Request) {
	data, ok := readBody(w, r, maxRequest)
	if !ok {
		return
	}
	var e signpolicy.Entry
	if err := json.Unmarshal(data, &e); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	v, err := s.Publish(r.Context(), e)
	if err != nil {
		fail(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusCreated, published{Repository: v.Repository, Version: v.Number, Digest: v.Digest})
}

// statusOf is the HTTP status of a refused version.
func statusOf(err error) int {
	if errors.Is(err, ErrNoWriter) {
		return http.StatusForbidden
	}
	var ce *signpolicy.ChainError
	if !errors.As(err, &ce) {
		return http.StatusBadRequest
	}
	switch ce.Reason {
	case signpolicy.ReasonWrongSigner, signpolicy.ReasonUnderApproved:
		return http.StatusForbidden
	case signpolicy.ReasonRollback, signpolicy.ReasonFork, signpolicy.ReasonSkippedVersion:
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

func (s *Store) getApprovals(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bundles, err := s.Approvals(r.Context(), q.Get("repository"), q.Get("commit"), q.Get("policy"))
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	out := approvalsResponse{Approvals: []json.RawMessage{}}
	for _, b := range bundles {
		out.Approvals = append(out.Approvals, b)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Store) postApproval(w http.ResponseWriter, r *http.Request) {
	data, ok := readBody(w, r, MaxBundle)
	if !ok {
		return
	}
	a, err := s.AddApproval(r.Context(), data)
	switch {
	case errors.Is(err, ErrTooMany):
		fail(w, http.StatusTooManyRequests, err)
		return
	case errors.Is(err, ErrNoPolicy):
		fail(w, http.StatusConflict, err)
		return
	case err != nil:
		fail(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusCreated, a)
}
