// Package kube feeds the admission engine from the cluster: it watches the
// ClusterImagePolicy and TrustRoot resources, and the Secrets and
// ConfigMaps of the webhook's namespace they refer to, and compiles the
// policies again whenever one changes, without a restart. It also reads
// registry credentials from image pull secrets and service accounts, as
// the kubelet uses them.
package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"hallmark.dev/internal/admission"
	"hallmark.dev/internal/admission/cip"
)

// The resources watched, at the version read (policy-controller's
// storage version; v1beta1 has the same schema).
var (
	ClusterImagePolicies = schema.GroupVersionResource{Group: cip.Group, Version: "v1alpha1", Resource: "clusterimagepolicies"}
	TrustRoots           = schema.GroupVersionResource{Group: cip.Group, Version: "v1alpha1", Resource: "trustroots"}
)

// Config configures a [Source].
type Config struct {
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Namespace is the webhook's: where the Secrets and ConfigMaps that
	// policies name live.
	Namespace string
	// DefaultTrust is the content of the trusted roots the webhook was
	// started with.
	DefaultTrust [][]byte
	// Engine receives the compiled policies.
	Engine *admission.Engine
	// Resync is how often informers list again; zero means never.
	Resync time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Source watches the cluster for an engine.
type Source struct {
	cfg       Config
	cips      cache.GenericLister
	roots     cache.GenericLister
	secrets   corelisters.SecretNamespaceLister
	configMap corelisters.ConfigMapNamespaceLister
	pull      []corelisters.SecretLister
	accounts  corelisters.ServiceAccountLister
	changed   chan struct{}
	ready     atomic.Bool
}

var _ admission.Credentials = (*Source)(nil)

// Start starts the informers, waits for them to list, compiles the
// policies once, and keeps compiling them on every change until ctx ends.
func Start(ctx context.Context, cfg Config) (*Source, error) {
	if cfg.Client == nil || cfg.Dynamic == nil || cfg.Engine == nil {
		return nil, errors.New("kube: a client, a dynamic client and an engine are required")
	}
	if cfg.Namespace == "" {
		return nil, errors.New("kube: no namespace for the webhook")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := waitForCRDs(ctx, cfg.Client, cfg.Logger); err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, changed: make(chan struct{}, 1)}
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.notify() },
		UpdateFunc: func(any, any) { s.notify() },
		DeleteFunc: func(any) { s.notify() },
	}
	dyn := dynamicinformer.NewDynamicSharedInformerFactory(cfg.Dynamic, cfg.Resync)
	cipInf, rootInf := dyn.ForResource(ClusterImagePolicies), dyn.ForResource(TrustRoots)
	s.cips, s.roots = cipInf.Lister(), rootInf.Lister()
	local := informers.NewSharedInformerFactoryWithOptions(cfg.Client, cfg.Resync, informers.WithNamespace(cfg.Namespace))
	secInf, cmInf := local.Core().V1().Secrets(), local.Core().V1().ConfigMaps()
	s.secrets, s.configMap = secInf.Lister().Secrets(cfg.Namespace), cmInf.Lister().ConfigMaps(cfg.Namespace)
	for _, inf := range []cache.SharedIndexInformer{cipInf.Informer(), rootInf.Informer(), secInf.Informer(), cmInf.Informer()} {
		if _, err := inf.AddEventHandler(notify); err != nil {
			return nil, fmt.Errorf("kube: %w", err)
		}
	}
	// Pull credentials: image pull secrets of every namespace (by their
	// two types) and service accounts.
	all := informers.NewSharedInformerFactory(cfg.Client, cfg.Resync)
	s.accounts = all.Core().V1().ServiceAccounts().Lister()
	var factories []informers.SharedInformerFactory
	for _, t := range []corev1.SecretType{corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg} {
		sel := fields.OneTermEqualSelector("type", string(t)).String()
		f := informers.NewSharedInformerFactoryWithOptions(cfg.Client, cfg.Resync,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = sel }))
		s.pull = append(s.pull, f.Core().V1().Secrets().Lister())
		factories = append(factories, f)
	}
	dyn.Start(ctx.Done())
	local.Start(ctx.Done())
	all.Start(ctx.Done())
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	for gvr, ok := range dyn.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("kube: %s did not list (are the CRDs installed, and may the webhook read them?)", gvr.Resource)
		}
	}
	for _, f := range append([]informers.SharedInformerFactory{local, all}, factories...) {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return nil, fmt.Errorf("kube: %v did not list (may the webhook read them?)", typ)
			}
		}
	}
	s.compile()
	s.ready.Store(true)
	go s.loop(ctx)
	return s, nil
}

// waitForCRDs waits until the API server serves the policy resources:
// a webhook started with its CRDs (kubectl apply of all the manifests at
// once) finds them a moment later.
func waitForCRDs(ctx context.Context, client kubernetes.Interface, logger *slog.Logger) error {
	gv := ClusterImagePolicies.GroupVersion().String()
	for delay, waited := 200*time.Millisecond, time.Duration(0); ; waited += delay {
		list, err := client.Discovery().ServerResourcesForGroupVersion(gv)
		if err == nil && slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == ClusterImagePolicies.Resource }) &&
			slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == TrustRoots.Resource }) {
			return nil
		}
		if waited >= crdWait {
			return fmt.Errorf("kube: the API server does not serve %s clusterimagepolicies and trustroots (are the CRDs installed? hallmark admission manifests prints them): %v", gv, err)
		}
		if waited == 0 {
			logger.Warn("waiting for the policy CRDs", "groupVersion", gv)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// crdWait bounds how long Start waits for the CRDs.
const crdWait = 30 * time.Second

// Ready reports whether the policies were read and compiled once.
func (s *Source) Ready() bool { return s.ready.Load() }

func (s *Source) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// debounce lets a burst of changes (kubectl apply of many objects) settle
// into one compilation.
const debounce = 50 * time.Millisecond

func (s *Source) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.changed:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(debounce):
		}
		// Drain a change that came during the pause: it is compiled now.
		select {
		case <-s.changed:
		default:
		}
		s.compile()
	}
}

// compile reads every policy and trust root and gives the engine the
// result.
func (s *Source) compile() {
	in := admission.CompileInput{Resolver: resolver{s}, Namespace: s.cfg.Namespace, DefaultTrust: s.cfg.DefaultTrust}
	objs, err := s.cips.List(labels.Everything())
	if err != nil {
		s.cfg.Logger.Error("listing ClusterImagePolicies", "error", err)
		return
	}
	for _, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		data, err := json.Marshal(u.Object)
		if err != nil {
			in.Broken = append(in.Broken, admission.BrokenPolicy{Name: u.GetName(), Err: err})
			continue
		}
		c, err := cip.ParseClusterImagePolicy(data)
		if err != nil {
			in.Broken = append(in.Broken, admission.BrokenPolicy{Name: u.GetName(), Err: err, Globs: looseGlobs(data)})
			continue
		}
		in.Policies = append(in.Policies, c)
	}
	roots, err := s.roots.List(labels.Everything())
	if err != nil {
		s.cfg.Logger.Error("listing TrustRoots", "error", err)
		return
	}
	for _, o := range roots {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		data, err := json.Marshal(u.Object)
		if err != nil {
			continue
		}
		tr, err := cip.ParseTrustRoot(data)
		if err != nil {
			// A TrustRoot that does not parse is left out: the policies
			// that name it report it missing.
			s.cfg.Logger.Error("TrustRoot does not parse", "name", u.GetName(), "error", err)
			continue
		}
		tr.SetDefaults()
		in.TrustRoots = append(in.TrustRoots, tr)
	}
	p := admission.Compile(in)
	s.cfg.Engine.SetPolicies(p)
	s.cfg.Logger.Info("policies compiled", "policies", p.Len())
}

// looseGlobs reads the image globs of a policy that does not parse
// strictly, so that it still applies (and denies) where it was meant to.
func looseGlobs(data []byte) []string {
	var loose struct {
		Spec struct {
			Images []struct {
				Glob string `json:"glob"`
			} `json:"images"`
		} `json:"spec"`
	}
	if json.Unmarshal(data, &loose) != nil {
		return nil
	}
	var out []string
	for _, im := range loose.Spec.Images {
		out = append(out, im.Glob)
	}
	return out
}

// resolver reads the webhook namespace's Secrets and ConfigMaps.
type resolver struct{ s *Source }

func (r resolver) Secret(name string) (map[string][]byte, string, error) {
	sec, err := r.s.secrets.Get(name)
	if apierrors.IsNotFound(err) {
		return nil, "missing", fmt.Errorf("not found in namespace %s", r.s.cfg.Namespace)
	}
	if err != nil {
		return nil, "", err
	}
	return sec.Data, string(sec.UID) + "/" + sec.ResourceVersion, nil
}

func (r resolver) ConfigMap(name string) (map[string]string, string, error) {
	cm, err := r.s.configMap.Get(name)
	if apierrors.IsNotFound(err) {
		return nil, "missing", fmt.Errorf("not found in namespace %s", r.s.cfg.Namespace)
	}
	if err != nil {
		return nil, "", err
	}
	return cm.Data, string(cm.UID) + "/" + cm.ResourceVersion, nil
}

// Keychain returns the credentials of the named pull secrets and of the
// service account's image pull secrets in namespace, as the kubelet would
// use them. A secret that is missing is skipped, as the kubelet skips it.
func (s *Source) Keychain(_ context.Context, namespace, serviceAccount string, pullSecrets []string) (authn.Keychain, error) {
	names := append([]string(nil), pullSecrets...)
	if serviceAccount != "" {
		sa, err := s.accounts.ServiceAccounts(namespace).Get(serviceAccount)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		if sa != nil {
			for _, ref := range sa.ImagePullSecrets {
				names = append(names, ref.Name)
			}
		}
	}
	k := &keyring{}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		for _, l := range s.pull {
			sec, err := l.Secrets(namespace).Get(n)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if err := k.add(sec); err != nil {
				return nil, err
			}
		}
	}
	return k, nil
}
