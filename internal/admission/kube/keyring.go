package kube

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
)

// keyring is the registry credentials of a set of image pull secrets,
// matched to images as the kubelet matches them
// (https://kubernetes.io/docs/concepts/containers/images/#config-json):
// a key names a registry host, optionally with a port and a path prefix;
// each label of its host may be a glob ("*.example.com"); the most
// specific key that matches is used.
type keyring struct {
	entries []keyringEntry
}

type keyringEntry struct {
	key      string
	host     string
	port     string
	path     string
	username string
	password string
	order    int
}

var _ authn.Keychain = (*keyring)(nil)

// dockerConfigEntry is one registry of a docker config.
type dockerConfigEntry struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Auth     string `json:"auth,omitempty"`
}

// add adds the credentials of a kubernetes.io/dockerconfigjson or
// kubernetes.io/dockercfg Secret; other Secrets are ignored.
func (k *keyring) add(s *corev1.Secret) error {
	var auths map[string]dockerConfigEntry
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		var cfg struct {
			Auths map[string]dockerConfigEntry `json:"auths"`
		}
		if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
			return fmt.Errorf("secret %s/%s: %s: %w", s.Namespace, s.Name, corev1.DockerConfigJsonKey, err)
		}
		auths = cfg.Auths
	case corev1.SecretTypeDockercfg:
		if err := json.Unmarshal(s.Data[corev1.DockerConfigKey], &auths); err != nil {
			return fmt.Errorf("secret %s/%s: %s: %w", s.Namespace, s.Name, corev1.DockerConfigKey, err)
		}
	default:
		return nil
	}
	keys := make([]string, 0, len(auths))
	for key := range auths {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		e := auths[key]
		user, pass := e.Username, e.Password
		if e.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return fmt.Errorf("secret %s/%s: registry %s: auth is not base64", s.Namespace, s.Name, key)
			}
			u, p, ok := strings.Cut(string(dec), ":")
			if !ok {
				return fmt.Errorf("secret %s/%s: registry %s: auth is not user:password", s.Namespace, s.Name, key)
			}
			user, pass = u, p
		}
		host, port, p, err := parseKey(key)
		if err != nil {
			return fmt.Errorf("secret %s/%s: registry %s: %w", s.Namespace, s.Name, key, err)
		}
		k.entries = append(k.entries, keyringEntry{key: key, host: host, port: port, path: p, username: user, password: pass, order: len(k.entries)})
	}
	return nil
}

// dockerHub are the names of Docker Hub's registry.
var dockerHub = map[string]bool{"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true}

// parseKey splits a key ("host[:port][/path]", with or without a scheme).
func parseKey(key string) (host, port, p string, err error) {
	s := key
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", "", "", err
	}
	host, port = u.Hostname(), u.Port()
	if host == "" {
		return "", "", "", fmt.Errorf("no host")
	}
	p = strings.TrimSuffix(u.Path, "/")
	if dockerHub[host] {
		// Docker Hub's keys carry the API path ("/v1/"), not a
		// repository prefix.
		host, p = "index.docker.io", ""
	}
	return host, port, p, nil
}

// matches reports whether the entry applies to the repository
// ("host[:port]/path").
func (e keyringEntry) matches(host, port, repoPath string) bool {
	if e.port != port {
		return false
	}
	kl, hl := strings.Split(e.host, "."), strings.Split(host, ".")
	if len(kl) != len(hl) {
		return false
	}
	for i := range kl {
		if ok, err := path.Match(kl[i], hl[i]); err != nil || !ok {
			return false
		}
	}
	return e.path == "" || repoPath == e.path || strings.HasPrefix(repoPath, e.path+"/")
}

// Resolve returns the credentials of the most specific key matching the
// repository or registry, and anonymous access when none does.
func (k *keyring) Resolve(res authn.Resource) (authn.Authenticator, error) {
	target := res.String()
	hostport, repoPath, _ := strings.Cut(target, "/")
	if repoPath != "" {
		repoPath = "/" + repoPath
	}
	u, err := url.Parse("https://" + hostport)
	if err != nil {
		return authn.Anonymous, nil
	}
	host, port := u.Hostname(), u.Port()
	if dockerHub[host] {
		host = "index.docker.io"
	}
	var best *keyringEntry
	for i := range k.entries {
		e := &k.entries[i]
		if !e.matches(host, port, repoPath) {
			continue
		}
		if best == nil || len(e.host)+len(e.path) > len(best.host)+len(best.path) ||
			(len(e.host)+len(e.path) == len(best.host)+len(best.path) && e.order < best.order) {
			best = e
		}
	}
	if best == nil {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: best.username, Password: best.password}), nil
}
