package store

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestNextPage(t *testing.T) {
	const base = "http://127.0.0.1:5005/v2/demo/referrers/sha256:aa"
	tests := []struct {
		name    string
		links   []string
		want    string // "" means no next page
		wantErr string
	}{
		{"none", nil, "", ""},
		{"relative", []string{`</v2/demo/referrers/sha256:aa?last=sha256:bb>; rel="next"`}, "http://127.0.0.1:5005/v2/demo/referrers/sha256:aa?last=sha256:bb", ""},
		{"absolute, same registry", []string{`<http://127.0.0.1:5005/v2/demo/referrers/sha256:aa?n=2>; rel=next`}, "http://127.0.0.1:5005/v2/demo/referrers/sha256:aa?n=2", ""},
		{"among other relations", []string{`</first>; rel="first", </p2>; rel="prev next"`}, "http://127.0.0.1:5005/p2", ""},
		{"second header", []string{`</first>; rel="first"`, `</p2>; rel="next"`}, "http://127.0.0.1:5005/p2", ""},
		{"other relation only", []string{`</first>; rel="first"`}, "", ""},
		{"not a link", []string{`rel="next"`}, "", ""},
		{"another host", []string{`<http://evil.example/v2/demo/referrers/sha256:aa>; rel="next"`}, "", "leaves the registry"},
		{"another scheme", []string{`<https://127.0.0.1:5005/v2/x>; rel="next"`}, "", "leaves the registry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, base, nil)
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			resp := &http.Response{Header: http.Header{"Link": tt.links}, Request: req}
			got, err := nextPage(resp)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("nextPage: %v", err)
			}
			var gotS string
			if got != nil {
				gotS = got.String()
			}
			if gotS != tt.want {
				t.Errorf("got %q, want %q", gotS, tt.want)
			}
		})
	}
}

// TestReferrersPageLoop: a registry whose pages link to themselves without
// end is given up on.
func TestReferrersPageLoop(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/referrers/") {
			w.WriteHeader(http.StatusOK)
			return
		}
		requests.Add(1)
		w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
		w.Header().Set("Link", "<"+r.URL.Path+"?"+url.Values{"last": {"x"}}.Encode()+`>; rel="next"`)
		w.Write([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	}))
	t.Cleanup(srv.Close)
	c := New(Options{})
	repo, err := c.ParseRepository(strings.TrimPrefix(srv.URL, "http://") + "/demo")
	if err != nil {
		t.Fatalf("ParseRepository: %v", err)
	}
	subject, err := v1.NewHash("sha256:" + strings.Repeat("a", 64))
	if err != nil {
		t.Fatalf("NewHash: %v", err)
	}
	_, err = c.referrers(t.Context(), repo, subject)
	if err == nil || !strings.Contains(err.Error(), "more than 256 pages") {
		t.Fatalf("got %v, want an error about more than %d pages", err, MaxSignatures)
	}
	if n := requests.Load(); n > MaxSignatures+1 {
		t.Errorf("got %d requests, want at most %d", n, MaxSignatures+1)
	}
}
