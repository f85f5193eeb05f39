package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hallmark.dev/internal/admission/cip"
)

// The webhooks' paths.
const (
	PathValidate = "/validate"          // validating: images must verify
	PathMutate   = "/mutate"            // mutating: tags are pinned to digests
	PathPolicies = "/validate-policies" // validating: ClusterImagePolicy and TrustRoot
)

// MaxReviewSize bounds an AdmissionReview read: the API server stores
// objects of at most 1.5 MiB, and a review carries the old object too.
const MaxReviewSize = 8 << 20

// DefaultTimeout is the webhook's time budget when the API server does not
// say its own (the timeout query parameter it adds to webhook calls).
const DefaultTimeout = 10 * time.Second

// Handler serves the three webhooks.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+PathValidate, e.review("validate", e.validate))
	mux.Handle("POST "+PathMutate, e.review("mutate", e.mutate))
	mux.Handle("POST "+PathPolicies, e.review("policy", e.validatePolicy))
	return mux
}

type reviewFunc func(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse

// review decodes an AdmissionReview, answers it within the API server's
// timeout, and encodes the answer. When the decision is not made in time,
// the answer is a denial that says so: the API server never waits past
// its timeout, and a failure to verify is never an admission.
func (e *Engine) review(webhook string, decide reviewFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		review, err := decodeReview(io.LimitReader(r.Body, MaxReviewSize+1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := review.Request
		e.cfg.Metrics.request(webhook, req.Resource.Resource)
		// The decision has most of the budget, so that it can say which
		// image was not verified in time; the rest is a hard stop for
		// work that does not heed its context.
		budget := timeBudget(r.URL.Query().Get("timeout"))
		hard, cancel := context.WithTimeout(r.Context(), budget)
		defer cancel()
		ctx, cancelDecide := context.WithTimeout(hard, budget-budget/8)
		defer cancelDecide()
		done := make(chan *admissionv1.AdmissionResponse, 1)
		go func() { done <- decide(ctx, req) }()
		var resp *admissionv1.AdmissionResponse
		select {
		case resp = <-done:
		case <-hard.Done():
			resp = deny(fmt.Sprintf("hallmark admission did not decide on %s %s/%s within %s (is a registry slow or unreachable?); denied",
				req.Resource.Resource, req.Namespace, req.Name, budget.Round(time.Millisecond)))
		}
		resp.UID = req.UID
		verdict := "allow"
		switch {
		case !resp.Allowed:
			verdict = "deny"
		case len(resp.Warnings) > 0:
			verdict = "warn"
		}
		took := time.Since(start)
		e.cfg.Metrics.answered(webhook, verdict, took)
		e.cfg.Logger.Info("admission", "webhook", webhook, "resource", req.Resource.Resource, "namespace", req.Namespace,
			"name", req.Name, "operation", req.Operation, "verdict", verdict, "took", took, "reason", message(resp))
		out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&out)
	})
}

func message(resp *admissionv1.AdmissionResponse) string {
	if resp.Result != nil {
		return resp.Result.Message
	}
	return ""
}

func decodeReview(r io.Reader) (*admissionv1.AdmissionReview, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading the admission review: %w", err)
	}
	if len(data) > MaxReviewSize {
		return nil, fmt.Errorf("admission review over %d bytes", MaxReviewSize)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &review); err != nil {
		return nil, fmt.Errorf("decoding the admission review: %w", err)
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("admission review of apiVersion %q and kind %q, want admission.k8s.io/v1 AdmissionReview", review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return nil, errors.New("admission review without a request")
	}
	return &review, nil
}

// timeBudget is the time to decide in: the API server's timeout less a
// margin for the answer to travel back.
func timeBudget(q string) time.Duration {
	t := DefaultTimeout
	if d, err := time.ParseDuration(q); err == nil && d > 0 {
		t = d
	}
	margin := t / 10
	if margin < 300*time.Millisecond {
		margin = 300 * time.Millisecond
	}
	if t-margin < 100*time.Millisecond {
		return 100 * time.Millisecond
	}
	return t - margin
}

func allow() *admissionv1.AdmissionResponse { return &admissionv1.AdmissionResponse{Allowed: true} }

func deny(msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Message: msg, Reason: metav1.StatusReasonForbidden, Code: http.StatusForbidden,
	}}
}

// exempt reports whether a request is not checked: anything but CREATE
// and UPDATE, and requests in the webhook's own namespace.
func (e *Engine) exempt(req *admissionv1.AdmissionRequest) bool {
	return (e.cfg.Namespace != "" && req.Namespace == e.cfg.Namespace) ||
		(req.Operation != admissionv1.Create && req.Operation != admissionv1.Update)
}

// unchanged reports whether an UPDATE leaves the workload's images as they
// were and no policy reads the object itself: a scale, a label or a
// finalizer is not judged again, so a rollout or a deletion does not stall
// on an old ReplicaSet whose image no longer verifies. The Pods a workload
// creates are checked when they are created.
func (e *Engine) unchanged(w *workload) bool {
	if !w.unchanged {
		return false
	}
	for _, p := range e.policies.Load().list {
		if p.include.spec || p.include.objectMeta || p.include.typeMeta {
			return false
		}
	}
	return true
}

// newRequest prepares the verification of a workload: its credentials.
func (e *Engine) newRequest(ctx context.Context, w *workload) (*request, error) {
	r := &request{res: w.res}
	if e.cfg.Credentials == nil {
		r.keychain = authn.NewMultiKeychain()
		return r, nil
	}
	kc, err := e.cfg.Credentials.Keychain(ctx, w.res.namespace, w.serviceAccount, w.pullSecrets)
	if err != nil {
		return nil, fmt.Errorf("reading the pull credentials: %w", err)
	}
	r.keychain = kc
	return r, nil
}

// validate is the validating webhook: every image must be pinned to a
// digest and pass every policy that matches it.
func (e *Engine) validate(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if e.exempt(req) {
		return allow()
	}
	w, err := readWorkload(req)
	if err != nil {
		return deny(err.Error())
	}
	if e.unchanged(w) {
		return allow()
	}
	r, err := e.newRequest(ctx, w)
	if err != nil {
		return deny(err.Error())
	}
	results := make([]imageResult, len(w.images))
	var wg sync.WaitGroup
	for i, im := range w.images {
		if _, err := name.NewDigest(im.image); err != nil {
			if e.cfg.NoMatch != NoMatchDeny && !e.anyPolicyMatches(im.image, w.res) {
				// As the mutating webhook: no policy applies, so the
				// --no-match answer, pinned or not.
				results[i] = e.checkImage(ctx, r, im.field, im.image)
				continue
			}
			results[i].denials = []string{fmt.Sprintf("image %s (%s) is not pinned to a digest: the mutating webhook pins tags it can resolve; write repository@sha256:… or check that the registry answers", im.image, im.field)}
			continue
		}
		wg.Go(func() { results[i] = e.checkImage(ctx, r, im.field, im.image) })
	}
	wg.Wait()
	var denials, warnings []string
	for _, res := range results {
		denials = append(denials, res.denials...)
		warnings = append(warnings, res.warnings...)
	}
	var resp *admissionv1.AdmissionResponse
	if len(denials) > 0 {
		resp = deny(strings.Join(denials, "; "))
	} else {
		resp = allow()
	}
	resp.Warnings = sortedUnique(warnings)
	return resp
}

// mutate is the mutating webhook: it pins every tag to the digest it
// names now, resolving each once. A tag that cannot be resolved is denied,
// unless no policy could apply to it and unmatched images are allowed or
// warned about (the validating webhook then gives that answer).
func (e *Engine) mutate(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if e.exempt(req) {
		return allow()
	}
	w, err := readWorkload(req)
	if err != nil {
		return deny(err.Error())
	}
	if e.unchanged(w) {
		return allow()
	}
	var pending []int
	for i, im := range w.images {
		if _, err := name.NewDigest(im.image); err != nil {
			pending = append(pending, i)
		}
	}
	if len(pending) == 0 {
		return allow()
	}
	r, err := e.newRequest(ctx, w)
	if err != nil {
		return deny(err.Error())
	}
	s := e.reg.session(r.keychain)
	ops := make([]*patchOp, len(w.images))
	denials := make([]string, len(w.images))
	resolved := sync.Map{} // image -> digest reference, so that a tag is resolved once
	var wg sync.WaitGroup
	for _, i := range pending {
		im := w.images[i]
		wg.Go(func() {
			v, _ := resolved.LoadOrStore(im.image, &resolveOnce{})
			o := v.(*resolveOnce)
			o.Do(func() { o.ref, o.err = e.resolveTag(ctx, s, im.image) })
			if o.err != nil {
				if e.cfg.NoMatch != NoMatchDeny && !e.anyPolicyMatches(im.image, w.res) {
					return
				}
				denials[i] = fmt.Sprintf("image %s (%s) cannot be pinned to a digest: %s", im.image, im.field, explain(o.err))
				return
			}
			ops[i] = &patchOp{Op: "replace", Path: im.pointer, Value: o.ref}
		})
	}
	wg.Wait()
	var msgs []string
	for _, d := range denials {
		if d != "" {
			msgs = append(msgs, d)
		}
	}
	if len(msgs) > 0 {
		return deny(strings.Join(msgs, "; "))
	}
	var patch []*patchOp
	for _, op := range ops {
		if op != nil {
			patch = append(patch, op)
		}
	}
	resp := allow()
	if len(patch) > 0 {
		b, err := json.Marshal(patch)
		if err != nil {
			return deny(err.Error())
		}
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = b, &pt
	}
	return resp
}

// resolveTag returns the digest reference a tag names, from the tag cache
// when a resolution with the same credentials is fresh there.
func (e *Engine) resolveTag(ctx context.Context, s *session, image string) (string, error) {
	ref, creds, err := s.tagKey(ctx, image)
	if err != nil {
		return "", err
	}
	if d, ok := e.tags.get(creds, ref); ok {
		e.cfg.Metrics.tagLookup("hit")
		return d, nil
	}
	if e.tags != nil {
		e.cfg.Metrics.tagLookup("miss")
	}
	d, err := s.resolve(ctx, image)
	if err != nil {
		return "", err
	}
	e.tags.put(creds, ref, d)
	return d, nil
}

type resolveOnce struct {
	sync.Once
	ref string
	err error
}

func (e *Engine) anyPolicyMatches(image string, res resource) bool {
	for _, p := range e.policies.Load().list {
		if p.matches(image, res) {
			return true
		}
	}
	return false
}

// validatePolicy is the validating webhook of ClusterImagePolicy and
// TrustRoot: it refuses what policy-controller's webhook refuses, with the
// reason, and accepts the rest (with warnings where a policy would not
// compile).
func (e *Engine) validatePolicy(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return allow()
	}
	switch req.Kind.Kind {
	case cip.KindClusterImagePolicy:
		c, err := cip.ParseClusterImagePolicy(req.Object.Raw)
		if err != nil {
			return deny(err.Error())
		}
		c.SetDefaults()
		warnings, err := c.Validate(cip.Options{})
		if err == nil {
			err = ValidateRequirements(c)
		}
		if err != nil {
			return deny(err.Error())
		}
		resp := allow()
		resp.Warnings = append(warnings, compileWarnings(c)...)
		return resp
	case cip.KindTrustRoot:
		tr, err := cip.ParseTrustRoot(req.Object.Raw)
		if err != nil {
			return deny(err.Error())
		}
		tr.SetDefaults()
		if err := tr.Validate(); err != nil {
			return deny(err.Error())
		}
		resp := allow()
		if j, err := tr.TrustedRootJSON(); err != nil {
			resp.Warnings = append(resp.Warnings, err.Error())
		} else if _, err := parseTrust(j); err != nil {
			resp.Warnings = append(resp.Warnings, fmt.Sprintf("TrustRoot %s cannot be used: %v", tr.Name, err))
		}
		return resp
	}
	return deny(fmt.Sprintf("unexpected kind %q", req.Kind.Kind))
}

// compileWarnings reports the inline policies of a ClusterImagePolicy
// that do not compile: policy-controller accepts them, and so does this
// webhook, but every image they apply to will be denied.
func compileWarnings(c *cip.ClusterImagePolicy) []string {
	var out []string
	try := func(field string, p *cip.Policy) {
		if p == nil || p.Data == "" {
			return
		}
		if _, err := cip.CompilePolicy(field, p.Type, p.Data); err != nil {
			out = append(out, fmt.Sprintf("%s: every image this policy applies to will be denied: %v", field, err))
		}
	}
	try("spec.policy", c.Spec.Policy)
	for i, a := range c.Spec.Authorities {
		for j, w := range a.Attestations {
			try(fmt.Sprintf("spec.authorities[%d].attestations[%d].policy", i, j), w.Policy)
		}
	}
	return out
}
