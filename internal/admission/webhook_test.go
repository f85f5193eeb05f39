package admission_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"github.com/google/go-containerregistry/pkg/name"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"hallmark.dev/internal/admission"
	"hallmark.dev/internal/admission/admissiontest"
	"hallmark.dev/internal/admission/cip"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/signpolicy"
)

// counted wraps a registry to count the requests it gets and to delay
// them, when told.
type counted struct {
	n         atomic.Int64
	manifests atomic.Int64 // manifest requests
	delay     atomic.Int64 // nanoseconds
}

func (c *counted) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		if strings.Contains(r.URL.Path, "/manifests/") {
			c.manifests.Add(1)
		}
		if d := time.Duration(c.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

type env struct {
	t      *testing.T
	reg    *testkit.Registry
	count  *counted
	engine *admission.Engine
	srv    *httptest.Server
	signer *admissiontest.Signer
}

func newEnv(t *testing.T, cfg admission.EngineConfig) *env {
	t.Helper()
	c := &counted{}
	e := &env{t: t, count: c, signer: admissiontest.NewSigner(t)}
	e.reg = testkit.StartRegistryWrapped(t, c.wrap)
	if cfg.Namespace == "" {
		cfg.Namespace = "hallmark-system"
	}
	var err error
	if e.engine, err = admission.NewEngine(cfg); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.engine.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// policies compiles and installs ClusterImagePolicies written as YAML,
// with the signer's key for ${KEY} and the registry for ${REG}.
func (e *env) policies(docs ...string) {
	e.t.Helper()
	var in admission.CompileInput
	for i, d := range docs {
		d = strings.ReplaceAll(d, "${REG}", e.reg.Host)
		d = strings.ReplaceAll(d, "${KEY}", indent(e.signer.PublicKeyPEM, "        "))
		p := admissiontest.Policy(e.t, d)
		// As the API server, a changed object gets a new version.
		p.UID = types.UID(fmt.Sprint("uid-", i))
		p.ResourceVersion = fmt.Sprintf("%x", sha256.Sum256([]byte(d)))
		in.Policies = append(in.Policies, p)
	}
	e.engine.SetPolicies(admission.Compile(in))
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+prefix)
}

func (e *env) push(repo, text string) string {
	e.t.Helper()
	return e.reg.PushImage(e.t, repo, text).String()
}

// pod is a Pod object with the images as its containers.
func pod(ns string, images ...string) map[string]any {
	var cs []any
	for i, im := range images {
		cs = append(cs, map[string]any{"name": fmt.Sprintf("c%d", i), "image": im})
	}
	return map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "p", "namespace": ns},
		"spec":     map[string]any{"containers": cs},
	}
}

// review sends an AdmissionReview to a webhook path and returns the answer.
func (e *env) review(path, group, version, resource, kind, ns string, obj map[string]any, query string) *admissionv1.AdmissionResponse {
	e.t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.send(path, query, &admissionv1.AdmissionRequest{
		UID:       "req-1",
		Kind:      metav1.GroupVersionKind{Group: group, Version: version, Kind: kind},
		Resource:  metav1.GroupVersionResource{Group: group, Version: version, Resource: resource},
		Namespace: ns, Name: "obj", Operation: admissionv1.Create,
		Object: runtime.RawExtension{Raw: raw},
	})
}

// update sends an UPDATE of a Pod from old to obj to a webhook path.
func (e *env) update(path, ns string, old, obj map[string]any) *admissionv1.AdmissionResponse {
	e.t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		e.t.Fatal(err)
	}
	oldRaw, err := json.Marshal(old)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.send(path, "", &admissionv1.AdmissionRequest{
		UID:       "req-1",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: ns, Name: "obj", Operation: admissionv1.Update,
		Object: runtime.RawExtension{Raw: raw}, OldObject: runtime.RawExtension{Raw: oldRaw},
	})
}

// send posts an AdmissionReview of the request to a webhook path.
func (e *env) send(path, query string, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	e.t.Helper()
	rev := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	}
	body, err := json.Marshal(rev)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.Post(e.srv.URL+path+query, "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("webhook answered HTTP %d", resp.StatusCode)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatal(err)
	}
	if out.Response == nil || out.Response.UID != "req-1" {
		e.t.Fatalf("answer %+v does not answer the request", out.Response)
	}
	return out.Response
}

func (e *env) validatePod(ns string, images ...string) *admissionv1.AdmissionResponse {
	e.t.Helper()
	return e.review(admission.PathValidate, "", "v1", "pods", "Pod", ns, pod(ns, images...), "")
}

func message(r *admissionv1.AdmissionResponse) string {
	if r.Result == nil {
		return ""
	}
	return r.Result.Message
}

// wantDenied checks a denial and each part of its reason.
func wantDenied(t *testing.T, r *admissionv1.AdmissionResponse, parts ...string) {
	t.Helper()
	if r.Allowed {
		t.Fatalf("allowed, want denied with %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(message(r), p) {
			t.Fatalf("denied with %q, want it to contain %q", message(r), p)
		}
	}
}

func wantAllowed(t *testing.T, r *admissionv1.AdmissionResponse) {
	t.Helper()
	if !r.Allowed {
		t.Fatalf("denied: %s", message(r))
	}
}

const keyPolicy = `
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: signed
spec:
  images:
  - glob: "${REG}/demo/**"
  authorities:
  - name: release-key
    key:
      data: |
        ${KEY}
`

func TestSignedAdmittedUnsignedDenied(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	e.policies(keyPolicy)
	signed := e.push("demo/signed:v1", "signed")
	unsigned := e.push("demo/unsigned:v1", "unsigned")
	e.signer.Sign(t, signed)

	wantAllowed(t, e.validatePod("apps", signed))
	wantDenied(t, e.validatePod("apps", signed, unsigned),
		"image "+unsigned, "(spec.containers[1].image)", "failed policy signed", "authority release-key", "no signatures found")

	other := admissiontest.NewSigner(t)
	otherSigned := e.push("demo/other:v1", "other")
	other.Sign(t, otherSigned)
	wantDenied(t, e.validatePod("apps", otherSigned), "authority release-key: signature check failed", "signature check failed")
}

func TestUnpinnedRefused(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	e.policies(keyPolicy)
	wantDenied(t, e.validatePod("apps", e.reg.Host+"/demo/app:v1"), "is not pinned to a digest")
}

func TestMutatePinsTagsOnce(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	e.policies(keyPolicy)
	d := e.push("demo/app:v1", "app")
	tag := e.reg.Host + "/demo/app:v1"
	before := e.count.manifests.Load()
	r := e.review(admission.PathMutate, "", "v1", "pods", "Pod", "apps", pod("apps", tag, tag, d), "")
	wantAllowed(t, r)
	if got := e.count.manifests.Load() - before; got != 1 {
		t.Errorf("registry requests: got %d, want 1 (the tag resolved once)", got)
	}
	var patch []map[string]string
	if err := json.Unmarshal(r.Patch, &patch); err != nil {
		t.Fatalf("patch %s: %v", r.Patch, err)
	}
	want := []map[string]string{
		{"op": "replace", "path": "/spec/containers/0/image", "value": d},
		{"op": "replace", "path": "/spec/containers/1/image", "value": d},
	}
	if fmt.Sprint(patch) != fmt.Sprint(want) {
		t.Fatalf("patch: got %v, want %v", patch, want)
	}

	missing := e.review(admission.PathMutate, "", "v1", "pods", "Pod", "apps", pod("apps", e.reg.Host+"/demo/app:nope"), "")
	wantDenied(t, missing, "demo/app:nope (spec.containers[0].image) cannot be pinned to a digest", "not found")
}

// TestEveryWorkloadKind checks that the images of every kind are found,
// and pinned where they are.
func TestEveryWorkloadKind(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	e.policies(keyPolicy)
	tag := e.reg.Host + "/demo/app:v1"
	d := e.push("demo/app:v1", "app")
	podSpec := map[string]any{
		"initContainers":      []any{map[string]any{"name": "i", "image": tag}},
		"containers":          []any{map[string]any{"name": "c", "image": tag}},
		"ephemeralContainers": []any{map[string]any{"name": "e", "image": tag}},
		"volumes":             []any{map[string]any{"name": "v", "image": map[string]any{"reference": tag}}},
	}
	template := map[string]any{"metadata": map[string]any{}, "spec": podSpec}
	for _, tc := range []struct {
		group, resource, kind string
		spec                  map[string]any
		prefix                string
	}{
		{"", "pods", "Pod", podSpec, "/spec"},
		{"apps", "deployments", "Deployment", map[string]any{"template": template}, "/spec/template/spec"},
		{"apps", "replicasets", "ReplicaSet", map[string]any{"template": template}, "/spec/template/spec"},
		{"apps", "statefulsets", "StatefulSet", map[string]any{"template": template}, "/spec/template/spec"},
		{"apps", "daemonsets", "DaemonSet", map[string]any{"template": template}, "/spec/template/spec"},
		{"batch", "jobs", "Job", map[string]any{"template": template}, "/spec/template/spec"},
		{"batch", "cronjobs", "CronJob", map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": template}}}, "/spec/jobTemplate/spec/template/spec"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			obj := map[string]any{"metadata": map[string]any{"name": "w"}, "spec": tc.spec}
			r := e.review(admission.PathMutate, tc.group, "v1", tc.resource, tc.kind, "apps", obj, "")
			wantAllowed(t, r)
			var patch []map[string]string
			if err := json.Unmarshal(r.Patch, &patch); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, op := range patch {
				if op["value"] != d {
					t.Errorf("%s pinned to %s, want %s", op["path"], op["value"], d)
				}
				got = append(got, op["path"])
			}
			want := []string{tc.prefix + "/initContainers/0/image", tc.prefix + "/containers/0/image", tc.prefix + "/ephemeralContainers/0/image", tc.prefix + "/volumes/0/image/reference"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("patched %v, want %v", got, want)
			}
			// The unsigned image is denied, wherever it is.
			pinned := strings.ReplaceAll(mustJSON(t, obj), tag, d)
			var pinnedObj map[string]any
			if err := json.Unmarshal([]byte(pinned), &pinnedObj); err != nil {
				t.Fatal(err)
			}
			v := e.review(admission.PathValidate, tc.group, "v1", tc.resource, tc.kind, "apps", pinnedObj, "")
			wantDenied(t, v, strings.TrimPrefix(strings.ReplaceAll(tc.prefix, "/", "."), ".")+".initContainers[0].image", "containers[0].image", "ephemeralContainers[0].image", "volumes[0].image.reference")
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStaticNeverTouchesRegistry(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	e.policies(`
apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: allow-base}
spec:
  images: [{glob: "${REG}/base/**"}]
  authorities: [{static: {action: pass}}]
`, `
apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: block-legacy}
spec:
  images: [{glob: "${REG}/legacy/**"}]
  authorities: [{static: {action: fail, message: "legacy images are retired"}}]
`)
	// The registry is not even running images at these digests.
	digest := "@sha256:" + strings.Repeat("a", 64)
	before := e.count.n.Load()
	wantAllowed(t, e.validatePod("apps", e.reg.Host+"/base/os"+digest))
	wantDenied(t, e.validatePod("apps", e.reg.Host+"/legacy/app"+digest), "failed policy block-legacy", "disallowed by static policy: legacy images are retired")
	if got := e.count.n.Load() - before; got != 0 {
		t.Fatalf("registry requests: got %d, want 0", got)
	}
}

func TestNoMatchingPolicy(t *testing.T) {
	image := "example.com/other/app@sha256:" + strings.Repeat("b", 64)
	for _, tc := range []struct {
		noMatch  admission.NoMatch
		allowed  bool
		warnings int
	}{
		{admission.NoMatchDeny, false, 0},
		{admission.NoMatchWarn, true, 1},
		{admission.NoMatchAllow, true, 0},
	} {
		t.Run(string(tc.noMatch), func(t *testing.T) {
			e := newEnv(t, admission.EngineConfig{NoMatch: tc.noMatch})
			e.policies(keyPolicy)
			r := e.validatePod("apps", image)
			if r.Allowed != tc.allowed || len(r.Warnings) != tc.warnings {
				t.Fatalf("got allowed %v, warnings %q; want %v, %d", r.Allowed, r.Warnings, tc.allowed, tc.warnings)
			}
			if !tc.allowed {
				wantDenied(t, r, image, "no matching policies")
			}
		})
	}
}

// TestNoMatchingPolicyUnpinned: an image no policy matches, whose tag the
// mutating webhook cannot resolve (a registry the webhook cannot reach, a
// node credential provider), gets the same answer from both webhooks: the
// --no-match answer, not a denial for being unpinned.
func TestNoMatchingPolicyUnpinned(t *testing.T) {
	image := "127.0.0.1:1/other/app:v1"
	for _, tc := range []struct {
		noMatch  admission.NoMatch
		allowed  bool
		warnings int
	}{
		{admission.NoMatchDeny, false, 0},
		{admission.NoMatchWarn, true, 1},
		{admission.NoMatchAllow, true, 0},
	} {
		t.Run(string(tc.noMatch), func(t *testing.T) {
			e := newEnv(t, admission.EngineConfig{NoMatch: tc.noMatch})
			e.policies(keyPolicy)
			m := e.review(admission.PathMutate, "", "v1", "pods", "Pod", "apps", pod("apps", image), "")
			if m.Allowed != tc.allowed {
				t.Fatalf("mutate: got allowed %v (%s), want %v", m.Allowed, message(m), tc.allowed)
			}
			if !tc.allowed {
				wantDenied(t, m, image, "cannot be pinned to a digest")
				return
			}
			if len(m.Patch) != 0 {
				t.Fatalf("mutate patched %s, want no patch", m.Patch)
			}
			r := e.validatePod("apps", image)
			if r.Allowed != tc.allowed || len(r.Warnings) != tc.warnings {
				t.Fatalf("validate: got allowed %v (%s), warnings %q; want %v, %d", r.Allowed, message(r), r.Warnings, tc.allowed, tc.warnings)
			}
			if tc.warnings > 0 && !strings.Contains(r.Warnings[0], "no matching policies") {
				t.Fatalf("warning %q, want one about no matching policies", r.Warnings[0])
			}
		})
	}
	// An image a policy matches must be pinned, whatever --no-match says.
	e := newEnv(t, admission.EngineConfig{NoMatch: admission.NoMatchAllow})
	e.policies(keyPolicy)
	wantDenied(t, e.validatePod("apps", e.reg.Host+"/demo/app:v1"), "is not pinned to a digest")
}

// TestUpdates: an UPDATE that leaves every image as it was (a label, a
// finalizer, a deletion in progress; for workloads a scale) is not judged
// again, so an old object whose image no longer verifies can still be
// scaled down or deleted; an UPDATE that changes an image is checked, even
// of an object being deleted.
func TestUpdates(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	e.policies(keyPolicy)
	signed := e.push("demo/signed:v1", "signed")
	e.signer.Sign(t, signed)
	unsigned := e.push("demo/unsigned:v1", "unsigned")
	labelled := func(o map[string]any, k, v string) map[string]any {
		o["metadata"].(map[string]any)["labels"] = map[string]any{k: v}
		return o
	}
	for _, path := range []string{admission.PathValidate, admission.PathMutate} {
		wantAllowed(t, e.update(path, "apps", pod("apps", unsigned), labelled(pod("apps", unsigned), "k", "v")))
	}
	wantDenied(t, e.update(admission.PathValidate, "apps", pod("apps", signed), pod("apps", unsigned)), "image "+unsigned, "failed policy signed")
	deleting := pod("apps", unsigned)
	deleting["metadata"].(map[string]any)["deletionTimestamp"] = "2026-12-05T00:00:00Z"
	wantDenied(t, e.update(admission.PathValidate, "apps", pod("apps", signed), deleting), "image "+unsigned, "failed policy signed")
	// A policy that reads the object judges every UPDATE.
	e.policies(keyPolicy + `  policy:
    type: cue
    includeObjectMeta: true
    data: |
      metadata: labels: k: "v"
`)
	wantDenied(t, e.update(admission.PathValidate, "apps", pod("apps", unsigned), labelled(pod("apps", unsigned), "k", "v")), "image "+unsigned, "failed policy signed")
}

// TestUnknownResourceDenied: a resource the webhook does not check, sent by
// a webhook configuration wider than the printed one, is denied, not
// admitted unchecked.
func TestUnknownResourceDenied(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	e.policies(keyPolicy)
	rc := map[string]any{"apiVersion": "v1", "kind": "ReplicationController", "metadata": map[string]any{"name": "rc", "namespace": "apps"},
		"spec": map[string]any{"template": pod("apps", "example.com/app:v1")}}
	for _, path := range []string{admission.PathValidate, admission.PathMutate} {
		wantDenied(t, e.review(path, "", "v1", "replicationcontrollers", "ReplicationController", "apps", rc, ""), "the webhook does not check /v1/replicationcontrollers")
	}
}

func TestWarnMode(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	e.policies(strings.Replace(keyPolicy, "spec:\n", "spec:\n  mode: warn\n", 1))
	unsigned := e.push("demo/unsigned:v1", "unsigned")
	r := e.validatePod("apps", unsigned)
	wantAllowed(t, r)
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "failed policy signed") {
		t.Fatalf("warnings %q, want one naming the failed policy", r.Warnings)
	}
}

// TestPolicySemantics: every matching policy must pass; within a policy,
// one authority suffices.
func TestPolicySemantics(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	other := admissiontest.NewSigner(t)
	e.policies(keyPolicy, strings.NewReplacer("name: signed", "name: two-keys", "name: release-key", "name: other-key",
		"${KEY}", indent(other.PublicKeyPEM, "        ")).Replace(keyPolicy)+`
  - name: fallback
    key:
      data: |
        ${KEY}
`)
	img := e.push("demo/app:v1", "app")
	e.signer.Sign(t, img)
	// signed satisfies "signed" and, through its fallback authority,
	// "two-keys".
	wantAllowed(t, e.validatePod("apps", img))

	e.policies(keyPolicy, strings.NewReplacer("name: signed", "name: other-only", "${KEY}", indent(other.PublicKeyPEM, "        ")).Replace(keyPolicy))
	wantDenied(t, e.validatePod("apps", img), "failed policy other-only")
}

func TestAttestationPolicies(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	img := e.push("demo/app:v1", "app")
	e.signer.Attest(t, img, "https://cosign.sigstore.dev/attestation/v1", []byte("foobar e2e test"))
	policy := func(typ, data string) string {
		return keyPolicy + `    attestations:
    - name: custom
      predicateType: custom
      policy:
        type: ` + typ + `
        data: |
          ` + indent(data, "          ") + "\n"
	}
	for _, tc := range []struct {
		name, typ, data string
		wantErr         string
	}{
		{"cue passes", "cue", `predicate: Data: "foobar e2e test"`, ""},
		{"cue fails", "cue", `predicate: Data: "something else"`, `attestation custom: failed its policy`},
		{"rego passes", "rego", "package sigstore\nisCompliant { input.predicate.Data == \"foobar e2e test\" }", ""},
		{"rego fails", "rego", "package sigstore\ndefault isCompliant = false", "is not compliant"},
		{"cue error", "cue", `predicate: {`, "cue does not compile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.policies(policy(tc.typ, tc.data))
			r := e.validatePod("apps", img)
			if tc.wantErr == "" {
				wantAllowed(t, r)
				return
			}
			wantDenied(t, r, "failed policy signed", tc.wantErr)
		})
	}
	t.Run("missing predicate type", func(t *testing.T) {
		e.policies(strings.Replace(policy("cue", `predicate: {}`), "predicateType: custom", "predicateType: https://slsa.dev/provenance/v1", 1))
		wantDenied(t, e.validatePod("apps", img), "attestation custom (https://slsa.dev/provenance/v1) check failed")
	})
}

func TestClusterImagePolicyLevelPolicy(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	img := e.push("demo/app:v1", "app")
	e.signer.Sign(t, img)
	level := func(data string) string {
		return keyPolicy + `  - name: never
    static: {action: fail}
  policy:
    type: cue
    data: |
      ` + indent(data, "      ") + "\n"
	}
	e.policies(level(`import "list"
authorityMatches: "release-key": signatures: list.MinItems(1)`))
	wantAllowed(t, e.validatePod("apps", img))
	// As in cosign, fields the input lacks are not required (an
	// authority that failed is absent, so this passes)...
	e.policies(level(`authorityMatches: never: static: true`))
	wantAllowed(t, e.validatePod("apps", img))
	// ... but present ones must satisfy the policy.
	e.policies(level(`import "list"
authorityMatches: "release-key": signatures: list.MaxItems(0)`))
	wantDenied(t, e.validatePod("apps", img), "failed policy signed", "policy signed", "MaxItems")
}

// TestFetchConfigFile: a ClusterImagePolicy-level policy with
// fetchConfigFile reads the image's config, fetched with the workload's
// credentials under the same rules as every other registry request: plain
// HTTP to a registry off loopback is refused, so the credentials are not
// sent in clear.
func TestFetchConfigFile(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	img := e.push("demo/app:v1", "app")
	configPolicy := func(glob, cue string) string {
		return `
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: config}
spec:
  images: [{glob: "` + glob + `"}]
  authorities: [{name: any, static: {action: pass}}]
  policy:
    type: cue
    fetchConfigFile: true
    data: |
      ` + cue + "\n"
	}
	e.policies(configPolicy("${REG}/demo/**", `config: [string]: {os: "linux"}`))
	wantAllowed(t, e.validatePod("apps", img))
	e.policies(configPolicy("${REG}/demo/**", `config: [string]: {os: "windows"}`))
	wantDenied(t, e.validatePod("apps", img), "failed policy config", "windows")
	private := "10.255.255.1:5000/demo/app@sha256:" + strings.Repeat("e", 64)
	e.policies(configPolicy("10.255.255.1:5000/**", `config: _`))
	wantDenied(t, e.validatePod("apps", private), "failed policy config", "fetching the image config for the policy", "plain HTTP to a registry that is not on loopback is refused")
}

func TestVerdictCache(t *testing.T) {
	metrics := admission.NewMetrics()
	e := newEnv(t, admission.EngineConfig{Metrics: metrics})
	e.policies(keyPolicy)
	img := e.push("demo/app:v1", "app")
	e.signer.Sign(t, img)
	wantAllowed(t, e.validatePod("apps", img))
	before := e.count.n.Load()
	wantAllowed(t, e.validatePod("other", img))
	if got := e.count.n.Load() - before; got != 0 {
		t.Fatalf("registry requests on a cached verdict: got %d, want 0", got)
	}
	// A new policy generation is verified again.
	e.policies(keyPolicy, strings.Replace(keyPolicy, "name: signed", "name: signed-too", 1))
	wantAllowed(t, e.validatePod("apps", img))
	if got := e.count.n.Load() - before; got == 0 {
		t.Fatal("a changed policy set reused the old verdict for a new policy")
	}
	rec := httptest.NewRecorder()
	metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{`hallmark_admission_verdict_cache_total{result="hit"} 2`, `hallmark_admission_verdicts_total{verdict="allow",webhook="validate"} 3`, "hallmark_admission_request_duration_seconds_bucket"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, rec.Body.String())
		}
	}
}

// TestVerdictCacheByRepository: verdicts are kept per repository, so a
// user who names a signed image's digest in a repository of their own,
// where no signature is, cannot have the failure cached for the real one.
func TestVerdictCacheByRepository(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	e.policies(keyPolicy)
	img := e.push("demo/app:v1", "app")
	e.signer.Sign(t, img)
	copied := e.push("demo/copy:v1", "app")
	if digestOf(t, copied) != digestOf(t, img) {
		t.Fatalf("the copy has digest %s, want %s", digestOf(t, copied), digestOf(t, img))
	}
	wantDenied(t, e.validatePod("evil", copied), "image "+copied, "failed policy signed")
	wantAllowed(t, e.validatePod("apps", img))
	// and a pass is not carried to the copy either: its signatures are
	// looked up where the workload pulls from.
	wantDenied(t, e.validatePod("evil", copied), "failed policy signed")
}

// TestSlowRegistryFailsClosed: a registry slower than the webhook's
// timeout is denied with the reason, before the API server gives up.
func TestSlowRegistryFailsClosed(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	e.policies(keyPolicy)
	img := e.push("demo/app:v1", "app")
	e.signer.Sign(t, img)
	e.count.delay.Store(int64(5 * time.Second))
	start := time.Now()
	r := e.review(admission.PathValidate, "", "v1", "pods", "Pod", "apps", pod("apps", img), "?timeout=2s")
	took := time.Since(start)
	wantDenied(t, r, img)
	if !strings.Contains(message(r), "did not answer in time") && !strings.Contains(message(r), "(is registry "+e.reg.Host+" slow or unreachable?)") {
		t.Fatalf("denied with %q, want a reason about time", message(r))
	}
	if took > 2*time.Second {
		t.Fatalf("answered after %s, past the API server's 2s timeout", took)
	}
}

func TestUnreachableRegistryFailsClosed(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	e.policies(strings.ReplaceAll(keyPolicy, "${REG}", "127.0.0.1:1"))
	r := e.validatePod("apps", "127.0.0.1:1/demo/app@sha256:"+strings.Repeat("c", 64))
	wantDenied(t, r, "failed policy signed", "registry 127.0.0.1:1")
}

func TestBrokenPolicyDenies(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	var in admission.CompileInput
	in.Broken = append(in.Broken, admission.BrokenPolicy{Name: "typo", Globs: []string{"example.com/**"}, Err: fmt.Errorf(`unknown field "spec.authoritiez"`)})
	e.engine.SetPolicies(admission.Compile(in))
	wantDenied(t, e.validatePod("apps", "example.com/app@sha256:"+strings.Repeat("d", 64)), "failed policy typo", "does not parse", "spec.authoritiez")
}

func TestOwnNamespaceExempt(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{Namespace: "hallmark-system"})
	e.policies(keyPolicy)
	wantAllowed(t, e.validatePod("hallmark-system", e.reg.Host+"/demo/unsigned:v1"))
}

func TestPolicyWebhook(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	cipObj := func(spec string) map[string]any {
		var m map[string]any
		doc := `{"apiVersion":"policy.sigstore.dev/v1beta1","kind":"ClusterImagePolicy","metadata":{"name":"p","annotations":{}},"spec":` + spec + `}`
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	send := func(obj map[string]any) *admissionv1.AdmissionResponse {
		return e.review(admission.PathPolicies, cip.Group, "v1beta1", "clusterimagepolicies", cip.KindClusterImagePolicy, "", obj, "")
	}
	wantAllowed(t, send(cipObj(`{"images":[{"glob":"**"}],"authorities":[{"static":{"action":"pass"}}]}`)))
	wantDenied(t, send(cipObj(`{"images":[{"glob":"**"}],"authorities":[{"keyless":{"url":"https://fulcio.example"}}]}`)), "missing field(s): spec.authorities[0].keyless.identities")
	wantDenied(t, send(cipObj(`{"images":[{"glob":"**"}],"authorities":[{"static":{"action":"pass"}}],"extra":1}`)), `unknown field "spec.extra"`)
	r := send(cipObj(`{"images":[{"glob":"**"}],"authorities":[{"static":{"action":"pass"}}],"policy":{"type":"cue","data":"x: {"}}`))
	wantAllowed(t, r)
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "will be denied") {
		t.Fatalf("warnings %q, want one saying images will be denied", r.Warnings)
	}
	gate := cipObj(`{"images":[{"glob":"**"}],"authorities":[{"static":{"action":"pass"}}]}`)
	gate["metadata"].(map[string]any)["annotations"] = map[string]any{admission.AnnotationGateMaxAge: "7d"}
	wantDenied(t, send(gate), "checks gate attestations, but no authority lists an attestation")
	gate["metadata"].(map[string]any)["annotations"] = map[string]any{admission.AnnotationPrefix + "gate-max-agee": "7d"}
	wantDenied(t, send(gate), "gate-max-agee: unknown")
}

// keylessEnv is an engine with hallmark's own stack given as a TrustRoot.
func keylessEnv(t *testing.T) (*env, *admissiontest.Stack, *cip.TrustRoot) {
	t.Helper()
	return keylessEnvConfig(t, admission.EngineConfig{})
}

// keylessEnvConfig is keylessEnv with the engine's configuration.
func keylessEnvConfig(t *testing.T, cfg admission.EngineConfig) (*env, *admissiontest.Stack, *cip.TrustRoot) {
	t.Helper()
	e := newEnv(t, cfg)
	st := admissiontest.StartStack(t)
	k, err := cip.SigstoreKeysFromTrustedRoot(st.TrustedRoot)
	if err != nil {
		t.Fatal(err)
	}
	tr := &cip.TrustRoot{Spec: cip.TrustRootSpec{SigstoreKeys: k}}
	tr.Name, tr.UID, tr.ResourceVersion = "hallmark", "tr-uid", "1"
	if err := tr.Validate(); err != nil {
		t.Fatal(err)
	}
	return e, st, tr
}

func (e *env) keylessPolicies(st *admissiontest.Stack, tr *cip.TrustRoot, docs ...string) {
	e.t.Helper()
	in := admission.CompileInput{TrustRoots: []*cip.TrustRoot{tr}}
	for i, d := range docs {
		d = strings.NewReplacer("${STACK}", st.Host, "${ISSUER}", st.Issuer()).Replace(d)
		p := admissiontest.Policy(e.t, d)
		p.UID, p.ResourceVersion = types.UID(fmt.Sprint("uid-", i)), fmt.Sprintf("%x", sha256.Sum256([]byte(d)))
		in.Policies = append(in.Policies, p)
	}
	e.engine.SetPolicies(admission.Compile(in))
}

const keylessPolicy = `
apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: keyless
spec:
  images: [{glob: "${STACK}/**"}]
  authorities:
  - name: ci
    keyless:
      url: http://${STACK}
      trustRootRef: hallmark
      identities:
      - issuer: ${ISSUER}
        subjectRegExp: ".*@example\\.com"
    ctlog:
      trustRootRef: hallmark
`

// TestKeylessWithTrustRoot verifies keyless signatures from hallmark's
// own stack, its trust given as a TrustRoot (sigstoreKeys); identity
// regular expressions match whole values.
func TestKeylessWithTrustRoot(t *testing.T) {
	e, st, tr := keylessEnv(t)
	reg := &testkit.Registry{Host: st.Host}
	img := reg.PushImage(t, "demo/app:v1", "app").String()
	st.SignKeyless(t, img, "release@example.com")

	e.keylessPolicies(st, tr, keylessPolicy)
	wantAllowed(t, e.validatePod("apps", img))

	// cosign and policy-controller would let "release@" match any subject
	// containing it; hallmark anchors it.
	e.keylessPolicies(st, tr, strings.Replace(keylessPolicy, `".*@example\\.com"`, `"release@"`, 1))
	wantDenied(t, e.validatePod("apps", img), "failed policy keyless", "authority ci: signature check failed", "identity check failed")

	e.keylessPolicies(st, tr, strings.Replace(keylessPolicy, "trustRootRef: hallmark\n      identities", "trustRootRef: missing\n      identities", 1))
	wantDenied(t, e.validatePod("apps", img), `keyless.trustRootRef: TrustRoot "missing" not found`)
}

// TestGateRequirement: hallmark's own check, set by annotations of an
// unchanged ClusterImagePolicy: a passing gate attestation, recent, under
// the gate policy named.
func TestGateRequirement(t *testing.T) {
	e, st, tr := keylessEnv(t)
	reg := &testkit.Registry{Host: st.Host}
	d := reg.PushImage(t, "demo/app:v1", "app")
	img := d.String()
	pred, policyDigest := admissiontest.GatePredicate(t, d.DigestStr(), time.Now())
	st.AttestKeyless(t, img, "release@example.com", admission.GatePredicateType, pred)
	gated := func(maxAge, digest string) string {
		return strings.Replace(keylessPolicy, "  name: keyless\n", "  name: keyless\n  annotations:\n    admission.hallmark.dev/gate-max-age: "+maxAge+"\n    admission.hallmark.dev/gate-policy-digest: "+digest+"\n", 1) +
			"    attestations:\n    - name: gate\n      predicateType: vuln\n"
	}
	e.keylessPolicies(st, tr, gated("7d", policyDigest))
	wantAllowed(t, e.validatePod("apps", img))

	other := "sha256:" + strings.Repeat("0", 64)
	e.keylessPolicies(st, tr, gated("7d", other))
	wantDenied(t, e.validatePod("apps", img), "attestation gate", "no passing gate attestation", "the gate ran under policy "+policyDigest+", want "+other)
}

// TestGateRequirementNotCachedPastItsAge: a verdict that depends on a gate
// attestation's age is not reused for the cache's TTL, so an image whose
// gate result grew too old is denied within seconds, not minutes.
func TestGateRequirementNotCachedPastItsAge(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e, st, tr := keylessEnvConfig(t, admission.EngineConfig{Now: clock, CacheTTL: 10 * time.Minute})
	reg := &testkit.Registry{Host: st.Host}
	d := reg.PushImage(t, "demo/app:v1", "app")
	img := d.String()
	pred, _ := admissiontest.GatePredicate(t, d.DigestStr(), now.Add(-58*time.Minute))
	st.AttestKeyless(t, img, "release@example.com", admission.GatePredicateType, pred)
	e.keylessPolicies(st, tr, strings.Replace(keylessPolicy, "  name: keyless\n", "  name: keyless\n  annotations:\n    admission.hallmark.dev/gate-max-age: 1h\n", 1)+
		"    attestations:\n    - name: gate\n      predicateType: vuln\n")
	wantAllowed(t, e.validatePod("apps", img))
	mu.Lock()
	now = now.Add(3 * time.Minute)
	mu.Unlock()
	wantDenied(t, e.validatePod("apps", img), "attestation gate", "no passing gate attestation newer than 1h", "older than 1h")
}

// provenancePolicy is keyPolicy with hallmark's annotations and an SLSA v1
// provenance attestation.
func provenancePolicy(annotations map[string]string) string {
	var b strings.Builder
	b.WriteString("  name: signed\n  annotations:\n")
	for _, k := range []string{"provenance-source", "provenance-tag", "signing-policy-digest"} {
		if v, ok := annotations[k]; ok {
			fmt.Fprintf(&b, "    %s%s: %q\n", admission.AnnotationPrefix, k, v)
		}
	}
	return strings.Replace(keyPolicy, "  name: signed\n", b.String(), 1) +
		"    attestations:\n    - name: provenance\n      predicateType: https://slsa.dev/provenance/v1\n"
}

// TestProvenanceRequirement: hallmark's SLSA requirements (slsa.NewCheck),
// set by annotations, hold every verified provenance statement to the
// source repository and tag.
func TestProvenanceRequirement(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	img := e.push("demo/app:v1", "app")
	e.signer.Attest(t, img, "https://slsa.dev/provenance/v1", admissiontest.ProvenancePredicate(t, "https://github.com/org/app", "v1.0.0", nil))
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		want        []string // nil: admitted
	}{
		{"source and tag", map[string]string{"provenance-source": "github.com/org/app", "provenance-tag": "v1.0.0"}, nil},
		{"source only", map[string]string{"provenance-source": "github.com/org/app"}, nil},
		{"another tag", map[string]string{"provenance-source": "github.com/org/app", "provenance-tag": "v2.0.0"},
			[]string{"failed policy signed", "attestation provenance:", "tag: provenance says v1.0.0, want v2.0.0"}},
		{"another source", map[string]string{"provenance-source": "github.com/org/other", "provenance-tag": "v1.0.0"},
			[]string{"failed policy signed", "attestation provenance:", "source uri", "github.com/org/other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.policies(provenancePolicy(tc.annotations))
			r := e.validatePod("apps", img)
			if tc.want == nil {
				wantAllowed(t, r)
				return
			}
			wantDenied(t, r, tc.want...)
		})
	}
	t.Run("no provenance attestation listed", func(t *testing.T) {
		e.policies(strings.Replace(provenancePolicy(map[string]string{"provenance-source": "github.com/org/app"}), "https://slsa.dev/provenance/v1", "https://cyclonedx.org/bom", 1))
		wantDenied(t, e.validatePod("apps", img), "failed policy signed", "policy cannot be used", "annotation admission.hallmark.dev/provenance-source checks slsa attestations, but no authority lists")
	})
}

// TestSigningPolicyRequirement: the signing policy's digest as a
// requirement (signpolicy.NewProvenanceCheck): one verified provenance must
// record a release allowed by that policy.
func TestSigningPolicyRequirement(t *testing.T) {
	e := newEnv(t, admission.EngineConfig{})
	digest := "sha256:" + strings.Repeat("5", 64)
	record := &signpolicy.ReleaseRecord{Repository: "github.com/org/app", Version: 2, Digest: digest, Tag: "v1.0.0", Commit: "0123456789abcdef0123456789abcdef01234567"}
	recorded := e.push("demo/app:v1", "recorded")
	e.signer.Attest(t, recorded, "https://slsa.dev/provenance/v1", admissiontest.ProvenancePredicate(t, "https://github.com/org/app", "v1.0.0", record))
	unrecorded := e.push("demo/app:v2", "unrecorded")
	e.signer.Attest(t, unrecorded, "https://slsa.dev/provenance/v1", admissiontest.ProvenancePredicate(t, "https://github.com/org/app", "v1.0.0", nil))
	other := "sha256:" + strings.Repeat("6", 64)
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		image       string
		want        []string // nil: admitted
	}{
		{"recorded", map[string]string{"signing-policy-digest": digest}, recorded, nil},
		{"recorded, with source and tag", map[string]string{"signing-policy-digest": digest, "provenance-source": "github.com/org/app", "provenance-tag": "v1.0.0"}, recorded, nil},
		{"another policy", map[string]string{"signing-policy-digest": other}, recorded,
			[]string{"failed policy signed", "attestation provenance:", "no verified provenance records a release allowed by signing policy " + other, "records signing policy " + digest}},
		{"no record", map[string]string{"signing-policy-digest": digest}, unrecorded,
			[]string{"failed policy signed", "attestation provenance:", "records no signing policy"}},
		{"not a digest", map[string]string{"signing-policy-digest": "v2"}, recorded,
			[]string{"failed policy signed", "policy cannot be used", "annotation admission.hallmark.dev/signing-policy-digest: signpolicy: policy digest \"v2\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.policies(provenancePolicy(tc.annotations))
			r := e.validatePod("apps", tc.image)
			if tc.want == nil {
				wantAllowed(t, r)
				return
			}
			wantDenied(t, r, tc.want...)
		})
	}
}

// TestKeylessTrustRootCTLog: the TrustRoot written from hallmark's trusted
// root carries its CT log, so a keyless certificate needs an SCT from it:
// under a TrustRoot naming another CT log key the SCT check fails, unless
// the authority sets insecureIgnoreSCT.
func TestKeylessTrustRootCTLog(t *testing.T) {
	e, st, tr := keylessEnv(t)
	if got := len(tr.Spec.SigstoreKeys.CTLogs); got != 1 {
		t.Fatalf("TrustRoot ctLogs: got %d, want 1", got)
	}
	reg := &testkit.Registry{Host: st.Host}
	img := reg.PushImage(t, "demo/app:v1", "app").String()
	st.SignKeyless(t, img, "release@example.com")
	e.keylessPolicies(st, tr, keylessPolicy)
	wantAllowed(t, e.validatePod("apps", img))

	otherKey := admissiontest.NewSigner(t)
	wrong := *tr
	keys := *tr.Spec.SigstoreKeys
	keys.CTLogs = []cip.TransparencyLogInstance{keys.CTLogs[0]}
	keys.CTLogs[0].PublicKey = []byte(otherKey.PublicKeyPEM)
	wrong.Spec.SigstoreKeys = &keys
	wrong.ResourceVersion = "2"
	e.keylessPolicies(st, &wrong, keylessPolicy)
	wantDenied(t, e.validatePod("apps", img), "failed policy keyless", "authority ci: signature check failed", "SCT")

	e.keylessPolicies(st, &wrong, strings.Replace(keylessPolicy, "    keyless:\n", "    keyless:\n      insecureIgnoreSCT: true\n", 1))
	wantAllowed(t, e.validatePod("apps", img))
}

// fakeCredentials gives the namespace "private" a user of its own and
// every other namespace none.
type fakeCredentials struct{}

func (fakeCredentials) Keychain(_ context.Context, namespace, _ string, _ []string) (authn.Keychain, error) {
	if namespace != "private" {
		return authn.NewMultiKeychain(), nil
	}
	return staticKeychain{authn.FromConfig(authn.AuthConfig{Username: "dev", Password: "secret"})}, nil
}

type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

// TestTagCache: the mutating webhook reuses the digest a tag was resolved
// to, per (credentials, reference), for the tag cache's time to live: a
// re-admitted Pod asks the registry nothing, another namespace's
// credentials resolve again, and a moved tag is pinned to its new digest
// once the entry expired. A negative TTL resolves at every admission.
func TestTagCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	metrics := admission.NewMetrics()
	e := newEnv(t, admission.EngineConfig{Now: clock, TagCacheTTL: 30 * time.Second, Credentials: fakeCredentials{}, Metrics: metrics})
	e.policies(keyPolicy)
	first := e.push("demo/app:v1", "first")
	tag := e.reg.Host + "/demo/app:v1"
	pinned := func(ns string) (string, int64) {
		t.Helper()
		before := e.count.manifests.Load()
		r := e.review(admission.PathMutate, "", "v1", "pods", "Pod", ns, pod(ns, tag), "")
		wantAllowed(t, r)
		var patch []map[string]string
		if err := json.Unmarshal(r.Patch, &patch); err != nil || len(patch) != 1 {
			t.Fatalf("patch %s: %v", r.Patch, err)
		}
		return patch[0]["value"], e.count.manifests.Load() - before
	}
	var moved string
	for _, step := range []struct {
		name     string
		ns       string
		advance  time.Duration
		move     string // push new content to the tag first
		want     string // "first" or "moved"
		requests int64
	}{
		{"resolved", "apps", 0, "", "first", 1},
		{"again, from the cache", "apps", 10 * time.Second, "", "first", 0},
		{"other credentials resolve", "private", 0, "", "first", 1},
		{"other credentials, cached", "private", 0, "", "first", 0},
		{"moved, within the TTL", "apps", 0, "moved", "first", 0},
		{"moved, after the TTL", "apps", 21 * time.Second, "", "moved", 1},
	} {
		mu.Lock()
		now = now.Add(step.advance)
		mu.Unlock()
		if step.move != "" {
			moved = e.push("demo/app:v1", step.move)
		}
		want := first
		if step.want == "moved" {
			want = moved
		}
		got, n := pinned(step.ns)
		if got != want || n != step.requests {
			t.Fatalf("%s: pinned to %s with %d manifest requests; want %s with %d", step.name, got, n, want, step.requests)
		}
	}
	rec := httptest.NewRecorder()
	metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{`hallmark_admission_tag_cache_total{result="hit"} 3`, `hallmark_admission_tag_cache_total{result="miss"} 3`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	off := newEnv(t, admission.EngineConfig{TagCacheTTL: -1})
	off.policies(keyPolicy)
	off.push("demo/app:v1", "app")
	for i := range 2 {
		before := off.count.manifests.Load()
		wantAllowed(t, off.review(admission.PathMutate, "", "v1", "pods", "Pod", "apps", pod("apps", off.reg.Host+"/demo/app:v1"), ""))
		if got := off.count.manifests.Load() - before; got != 1 {
			t.Fatalf("no tag cache, admission %d: got %d manifest requests, want 1", i+1, got)
		}
	}
}

// TestReadmePolicy: the README's ClusterImagePolicy is accepted as it is
// written (its elided digest filled in), without warnings, hallmark's
// annotations included.
func TestReadmePolicy(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, doc, ok := strings.Cut(string(readme), "```yaml\napiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\n")
	if !ok {
		t.Fatal("README.md has no ClusterImagePolicy example")
	}
	doc, _, _ = strings.Cut(doc, "```")
	doc = "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\n" + strings.ReplaceAll(doc, "sha256:9c4e…", "sha256:"+strings.Repeat("9", 64))
	p := admissiontest.Policy(t, doc)
	warnings, err := p.Validate(cip.Options{})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("validate: %v, warnings %v", err, warnings)
	}
	if err := admission.ValidateRequirements(p); err != nil {
		t.Fatalf("hallmark's annotations: %v", err)
	}
}

// digestOf is the digest of an image reference.
func digestOf(t *testing.T, ref string) string {
	t.Helper()
	d, err := name.NewDigest(ref)
	if err != nil {
		t.Fatal(err)
	}
	return d.DigestStr()
}
