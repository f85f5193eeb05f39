package registry

import (
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/opencontainers/go-digest"
)

// TestCheckBlob: a blob whose content does not hash to the digest its
// path names is reported.
func TestCheckBlob(t *testing.T) {
	d := inmemory.New()
	good := []byte("manifest")
	dg := digest.FromBytes(good)
	p := distRoot + "/blobs/sha256/" + dg.Encoded()[:2] + "/" + dg.Encoded() + "/data"
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"intact", good, ""},
		{"changed", []byte("tampered"), "does not match its digest in the destination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := d.PutContent(t.Context(), p, tc.content); err != nil {
				t.Fatal(err)
			}
			err := checkBlob(t.Context(), d, p)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
