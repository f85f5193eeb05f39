package admission

import (
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// FuzzReadWorkload: any object the API server could send decodes or is
// refused, never panics, and every image found has a patch path under the
// pod spec it was read from.
func FuzzReadWorkload(f *testing.F) {
	f.Add("", "pods", []byte(`{"spec":{"containers":[{"name":"c","image":"a:v1"}],"initContainers":[{"image":"b"}],"volumes":[{"image":{"reference":"c"}}]}}`))
	f.Add("apps", "deployments", []byte(`{"spec":{"template":{"spec":{"containers":[{"image":"a"}]}}}}`))
	f.Add("batch", "cronjobs", []byte(`{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"ephemeralContainers":[{"image":"a"}]}}}}}}`))
	f.Add("batch", "jobs", []byte(`{"metadata":{"labels":{"a":"b"},"deletionTimestamp":"2020-01-01T00:00:00Z"},"spec":null}`))
	f.Add("", "pods", []byte(`[]`))
	f.Fuzz(func(t *testing.T, group, res string, obj []byte) {
		req := &admissionv1.AdmissionRequest{
			Resource: metav1.GroupVersionResource{Group: group, Version: "v1", Resource: res},
			Object:   runtime.RawExtension{Raw: obj},
		}
		w, err := readWorkload(req)
		if err != nil || w == nil {
			return
		}
		prefix := "/" + joinPath(podSpecPaths[group+"/v1/"+res])
		for _, im := range w.images {
			if len(im.pointer) <= len(prefix) || im.pointer[:len(prefix)] != prefix {
				t.Fatalf("image %q at %s, outside the pod spec %s", im.image, im.pointer, prefix)
			}
		}
		if _, err := json.Marshal(w.res.labels); err != nil {
			t.Fatal(err)
		}
	})
}

func joinPath(steps []string) string {
	out := ""
	for i, s := range steps {
		if i > 0 {
			out += "/"
		}
		out += s
	}
	return out
}
