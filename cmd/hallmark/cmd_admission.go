package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"hallmark.dev/internal/admission"
	"hallmark.dev/internal/admission/cip"
	"hallmark.dev/internal/admission/manifests"
	"hallmark.dev/internal/admission/server"
)

func admissionCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admission",
		Short: "Kubernetes admission webhook: admit only images that verify under ClusterImagePolicies",
	}
	cmd.AddCommand(admissionServeCmd(e), admissionManifestsCmd(e), admissionTrustRootCmd(e))
	return cmd
}

// serviceAccountNamespace is where a Pod reads its namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func admissionServeCmd(e *env) *cobra.Command {
	var (
		cfg          server.Config
		kubeconfig   string
		trustedRoots []string
		noMatch      string
		verbose      bool
	)
	cmd := &cobra.Command{
		Use:   "serve --addr HOST:PORT --tls-cert FILE --tls-key FILE [--kubeconfig FILE] [--trusted-root FILE]...",
		Short: "Serve the validating and mutating admission webhooks, reading policies from the cluster",
		Long: `Serve the admission webhooks (admission.k8s.io/v1) over HTTPS: /validate (every image
of a Pod or pod template must be pinned to a digest and pass every ClusterImagePolicy
that matches it), /mutate (tags are pinned to the digest they name), /validate-policies
(ClusterImagePolicy and TrustRoot are checked as policy-controller checks them), and
/healthz, /readyz, /metrics. Policies are read from the cluster and followed as they
change. In the cluster the Pod's service account is used; elsewhere pass --kubeconfig.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.NoMatch, err = admission.ParseNoMatch(noMatch); err != nil {
				return err
			}
			for _, f := range trustedRoots {
				data, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("read trusted root: %w", err)
				}
				cfg.TrustedRoots = append(cfg.TrustedRoots, data)
			}
			if kubeconfig != "" {
				cfg.Kube, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
				if err != nil {
					return fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
				}
			} else if cfg.Kube, err = rest.InClusterConfig(); err != nil {
				return withHint(fmt.Errorf("not in a cluster: %w", err), "pass --kubeconfig FILE to reach the API server from outside")
			}
			if cfg.Namespace == "" {
				cfg.Namespace = "hallmark-system"
				if ns, err := os.ReadFile(serviceAccountNamespace); err == nil && strings.TrimSpace(string(ns)) != "" {
					cfg.Namespace = strings.TrimSpace(string(ns))
				}
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			cfg.Logger = slog.New(slog.NewTextHandler(e.err, &slog.HandlerOptions{Level: level}))
			cfg.Ready = func(addr string) {
				e.info("admission webhooks serving at https://%s (namespace %s, images matching no policy: %s)", addr, cfg.Namespace, cfg.NoMatch)
			}
			return server.Run(cmd.Context(), cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Addr, "addr", ":8443", "listen address")
	fl.StringVar(&cfg.TLSCert, "tls-cert", "", "serving certificate (PEM), read again when it changes")
	fl.StringVar(&cfg.TLSKey, "tls-key", "", "serving certificate's private key (PEM)")
	fl.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig to reach the API server (default: the Pod's service account)")
	fl.StringArrayVar(&trustedRoots, "trusted-root", nil, "trusted_root.json for keyless authorities and logs that name no TrustRoot (repeatable)")
	fl.StringVar(&cfg.Namespace, "namespace", "", "the webhook's namespace: never checked, home of the Secrets and ConfigMaps policies name (default: the Pod's, else hallmark-system)")
	fl.StringVar(&noMatch, "no-match", string(admission.NoMatchDeny), "answer for images no policy matches: deny, warn or allow")
	fl.DurationVar(&cfg.RegistryTimeout, "registry-timeout", admission.DefaultRegistryTimeout, "how long to wait for a registry to answer each request")
	fl.BoolVar(&cfg.AllowHTTP, "allow-http-registry", false, "allow plain HTTP to registries that are not on loopback")
	fl.IntVar(&cfg.CacheSize, "cache-size", admission.DefaultCacheSize, "verdicts kept")
	fl.DurationVar(&cfg.CacheTTL, "cache-ttl", admission.DefaultCacheTTL, "how long a passing verdict is reused (a failing one: 10s at most)")
	fl.DurationVar(&cfg.TagCacheTTL, "tag-cache-ttl", admission.DefaultTagCacheTTL, "how long the digest a tag was resolved to is reused, per credentials and reference (a moved tag is seen within it); negative: resolve at every admission")
	fl.BoolVarP(&verbose, "verbose", "v", false, "log every decision")
	return cmd
}

func admissionManifestsCmd(e *env) *cobra.Command {
	var (
		o        manifests.Options
		caBundle string
		timeout  int
	)
	cmd := &cobra.Command{
		Use:   "manifests [--url URL --ca-bundle FILE | --image IMAGE] [--namespace NS]",
		Short: "Print the CRDs, webhook configurations and (with --image) the in-cluster deployment, for kubectl apply",
		Long: `Print the manifests that install the admission webhook, for kubectl apply -f -:
the ClusterImagePolicy and TrustRoot CRDs (policy.sigstore.dev v1alpha1 and v1beta1),
and the validating and mutating webhook configurations (failurePolicy Fail, namespaces
opting in with the label policy.sigstore.dev/include=true, the webhook's own namespace
excluded).

With --url and --ca-bundle the webhook runs where the URL points (outside the cluster,
say), served with a certificate under the CA bundle. With --image it runs in the
cluster: the namespace, service account, RBAC, a TLS Secret (a CA and serving
certificate made now, valid for a year: print again to renew), Deployment and Service
are printed too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if caBundle != "" {
				b, err := os.ReadFile(caBundle)
				if err != nil {
					return fmt.Errorf("read CA bundle: %w", err)
				}
				o.CABundle = b
			}
			switch {
			case o.Image != "" && (o.URL != "" || caBundle != ""):
				return withHint(errors.New("--image and --url/--ca-bundle are mutually exclusive"), "--image runs the webhook in the cluster; --url points at one running elsewhere")
			case o.Image == "" && (o.URL == "" || caBundle == ""):
				return withHint(errors.New("no --image, nor --url with --ca-bundle"), "pass --image IMAGE to run the webhook in the cluster, or --url https://HOST:PORT --ca-bundle ca.pem")
			}
			o.TimeoutSeconds = int32(timeout)
			out, err := manifests.Write(o)
			if err != nil {
				return err
			}
			return e.raw(out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.URL, "url", "", "the webhook's base URL (https://HOST:PORT), when it runs outside the cluster")
	fl.StringVar(&caBundle, "ca-bundle", "", "PEM file of the CA that issued the webhook's serving certificate (with --url)")
	fl.StringVar(&o.Image, "image", "", "hallmark image to run the webhook in the cluster (pin it: REPO@sha256:…)")
	fl.StringVar(&o.Namespace, "namespace", "hallmark-system", "the webhook's namespace")
	fl.IntVar(&timeout, "timeout-seconds", manifests.DefaultTimeout, "the webhooks' timeout (1-30)")
	return cmd
}

func admissionTrustRootCmd(e *env) *cobra.Command {
	var (
		trustedRoot string
		nameFlag    string
	)
	cmd := &cobra.Command{
		Use:   "trustroot --trusted-root FILE --name NAME",
		Short: "Print a TrustRoot (sigstoreKeys) for a trusted_root.json, for a private Sigstore stack such as hallmark serve's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if trustedRoot == "" || nameFlag == "" {
				return withHint(errors.New("--trusted-root and --name are required"), "hallmark trust export writes the trusted_root.json of a hallmark server")
			}
			data, err := os.ReadFile(trustedRoot)
			if err != nil {
				return fmt.Errorf("read trusted root: %w", err)
			}
			out, err := cip.TrustRootYAML(nameFlag, data)
			if err != nil {
				return fmt.Errorf("%s: %w", trustedRoot, err)
			}
			return e.raw(out)
		},
	}
	cmd.Flags().StringVar(&trustedRoot, "trusted-root", "", "trusted_root.json")
	cmd.Flags().StringVar(&nameFlag, "name", "", "the TrustRoot's name, which policies name in trustRootRef")
	return cmd
}
