package admission

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// imageRef is one image of a workload: where it is written (a field path
// for messages, a JSON pointer for patches) and what.
type imageRef struct {
	field   string // spec.template.spec.containers[0].image
	pointer string // /spec/template/spec/containers/0/image
	image   string
}

// workload is an admitted object with a pod spec: a Pod, or a workload
// with a pod template.
type workload struct {
	res            resource
	images         []imageRef
	serviceAccount string
	pullSecrets    []string
	// unchanged: an UPDATE that leaves every image as it was (a scale, a
	// label, a finalizer, a deletion in progress).
	unchanged bool
}

// Resources the webhook checks, by group/version/resource, and where their
// pod spec is.
var podSpecPaths = map[string][]string{
	"/v1/pods":             {"spec"},
	"apps/v1/deployments":  {"spec", "template", "spec"},
	"apps/v1/replicasets":  {"spec", "template", "spec"},
	"apps/v1/statefulsets": {"spec", "template", "spec"},
	"apps/v1/daemonsets":   {"spec", "template", "spec"},
	"batch/v1/jobs":        {"spec", "template", "spec"},
	"batch/v1/cronjobs":    {"spec", "jobTemplate", "spec", "template", "spec"},
}

// Resources lists the resources the webhook checks, as group/version/resource.
func Resources() []metav1.GroupVersionResource {
	return []metav1.GroupVersionResource{
		{Group: "", Version: "v1", Resource: "pods"},
		{Group: "apps", Version: "v1", Resource: "deployments"},
		{Group: "apps", Version: "v1", Resource: "replicasets"},
		{Group: "apps", Version: "v1", Resource: "statefulsets"},
		{Group: "apps", Version: "v1", Resource: "daemonsets"},
		{Group: "batch", Version: "v1", Resource: "jobs"},
		{Group: "batch", Version: "v1", Resource: "cronjobs"},
	}
}

// readWorkload decodes the object of an admission request (CREATE or
// UPDATE) and lists its images. A resource the webhook does not check is
// an error, so that a webhook configuration that sends more than it should
// denies rather than admits unchecked. On UPDATE, unchanged reports whether
// the object's images are those of the old object.
func readWorkload(req *admissionv1.AdmissionRequest) (*workload, error) {
	gvr := req.Resource.Group + "/" + req.Resource.Version + "/" + req.Resource.Resource
	path, ok := podSpecPaths[gvr]
	if !ok || (req.SubResource != "" && req.SubResource != "ephemeralcontainers") {
		what := gvr
		if req.SubResource != "" {
			what += "/" + req.SubResource
		}
		return nil, fmt.Errorf("the webhook does not check %s: its webhook configuration should not send it (hallmark admission manifests prints the rules)", what)
	}
	w, err := decodeWorkload(req, req.Object.Raw, path)
	if err != nil {
		return nil, err
	}
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old, err := decodeWorkload(req, req.OldObject.Raw, path)
		if err != nil {
			return nil, fmt.Errorf("the old object: %w", err)
		}
		w.unchanged = slices.Equal(w.images, old.images)
	}
	return w, nil
}

// decodeWorkload decodes one object of the request's resource.
func decodeWorkload(req *admissionv1.AdmissionRequest, raw []byte, path []string) (*workload, error) {
	var top struct {
		metav1.TypeMeta
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     json.RawMessage   `json:"spec"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("decoding the %s: %w", req.Resource.Resource, err)
	}
	w := &workload{res: resource{
		group: req.Resource.Group, version: req.Resource.Version, resource: req.Resource.Resource,
		namespace: req.Namespace, labels: top.Metadata.Labels, spec: top.Spec,
	}}
	var err error
	if w.res.objectMeta, err = json.Marshal(top.Metadata); err != nil {
		return nil, err
	}
	if w.res.typeMeta, err = json.Marshal(top.TypeMeta); err != nil {
		return nil, err
	}
	// Walk down to the pod spec.
	cur := json.RawMessage(raw)
	for _, step := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cur, &m); err != nil {
			return nil, fmt.Errorf("decoding the %s: %w", req.Resource.Resource, err)
		}
		if cur = m[step]; cur == nil {
			return w, nil
		}
	}
	var spec corev1.PodSpec
	if err := json.Unmarshal(cur, &spec); err != nil {
		return nil, fmt.Errorf("decoding the pod spec of the %s: %w", req.Resource.Resource, err)
	}
	field, pointer := "", ""
	for i, step := range path {
		if i > 0 {
			field += "."
		}
		field += step
		pointer += "/" + step
	}
	add := func(list, name string, i int, image string) {
		w.images = append(w.images, imageRef{
			field:   fmt.Sprintf("%s.%s[%d].%s", field, list, i, name),
			pointer: pointer + "/" + list + "/" + strconv.Itoa(i) + "/" + name,
			image:   image,
		})
	}
	for i, c := range spec.InitContainers {
		add("initContainers", "image", i, c.Image)
	}
	for i, c := range spec.Containers {
		add("containers", "image", i, c.Image)
	}
	for i, c := range spec.EphemeralContainers {
		add("ephemeralContainers", "image", i, c.Image)
	}
	for i, v := range spec.Volumes {
		if v.Image != nil && v.Image.Reference != "" {
			w.images = append(w.images, imageRef{
				field:   fmt.Sprintf("%s.volumes[%d].image.reference", field, i),
				pointer: pointer + "/volumes/" + strconv.Itoa(i) + "/image/reference",
				image:   v.Image.Reference,
			})
		}
	}
	w.serviceAccount = spec.ServiceAccountName
	if w.serviceAccount == "" {
		w.serviceAccount = "default"
	}
	for _, s := range spec.ImagePullSecrets {
		if s.Name != "" {
			w.pullSecrets = append(w.pullSecrets, s.Name)
		}
	}
	return w, nil
}

// patchOp is one RFC 6902 JSON Patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}
