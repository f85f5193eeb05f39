package ops

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProvenanceEntries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    string
		want    []string // "source: data"
		wantErr string
	}{
		{name: "one bundle", data: `{"mediaType":"b"}` + "\n", want: []string{`p: {"mediaType":"b"}`}},
		{name: "an indented bundle", data: "{\n  \"mediaType\": \"b\"\n}\n", want: []string{"p: {\n  \"mediaType\": \"b\"\n}"}},
		{name: "JSON lines", data: `{"payloadType":"1"}` + "\n\n" + `{"mediaType":"2"}` + "\r\n", want: []string{`p line 1: {"payloadType":"1"}`, `p line 3: {"mediaType":"2"}`}},
		{name: "npm attestations", data: `{"attestations":[{"predicateType":"https://github.com/npm/attestation/tree/main/specs/publish/v0.1","bundle":{"n":1}},` +
			`{"predicateType":"https://slsa.dev/provenance/v1","bundle":{"n":2}}]}`, want: []string{`p attestation 2 (https://slsa.dev/provenance/v1): {"n":2}`}},
		{name: "npm attestations without provenance", data: `{"attestations":[{"predicateType":"x","bundle":{}}]}`, wantErr: "lists no SLSA provenance"},
		{name: "npm attestation without bundle", data: `{"attestations":[{"predicateType":"https://slsa.dev/provenance/v0.2"}]}`, wantErr: "attestation 1 has no bundle"},
		{name: "a bad line", data: `{"mediaType":"1"}` + "\nnot json\n", wantErr: "line 2 is not JSON"},
		{name: "empty", data: " \n", wantErr: "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := provenanceEntries("p", []byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.source+": "+string(e.data))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}
