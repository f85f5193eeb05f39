package kube

import (
	"encoding/base64"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func secret(t *testing.T, typ corev1.SecretType, key string, data string) *corev1.Secret {
	t.Helper()
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Type: typ, Data: map[string][]byte{key: []byte(data)}}
}

func auth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// TestKeyringMatchesAsKubelet checks the kubelet's matching rules: host
// globs per label, ports, path prefixes, the most specific entry first,
// Docker Hub's names.
func TestKeyringMatchesAsKubelet(t *testing.T) {
	k := &keyring{}
	for _, s := range []*corev1.Secret{
		secret(t, corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":{
			"registry.example":{"auth":"`+auth("host", "p1")+`"},
			"registry.example/team":{"username":"team","password":"p2"},
			"https://*.mirror.example":{"auth":"`+auth("glob", "p3")+`"},
			"registry.example:5000":{"auth":"`+auth("port", "p4")+`"},
			"https://index.docker.io/v1/":{"auth":"`+auth("hub", "p5")+`"}}}`),
		secret(t, corev1.SecretTypeDockercfg, corev1.DockerConfigKey, `{"legacy.example":{"auth":"`+auth("legacy", "p6")+`"}}`),
		secret(t, corev1.SecretTypeOpaque, "x", `not a docker config`),
	} {
		if err := k.add(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ repo, wantUser string }{
		{"registry.example/app", "host"},
		{"registry.example/team/app", "team"},
		{"registry.example/teams/app", "host"},
		{"eu.mirror.example/app", "glob"},
		{"a.eu.mirror.example/app", ""},
		{"registry.example:5000/app", "port"},
		{"registry.example:5001/app", ""},
		{"index.docker.io/library/ubuntu", "hub"},
		{"legacy.example/app", "legacy"},
		{"other.example/app", ""},
	} {
		repo, err := name.NewRepository(tc.repo)
		if err != nil {
			t.Fatal(err)
		}
		a, err := k.Resolve(repo)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Username; got != tc.wantUser {
			t.Errorf("%s: got user %q, want %q", tc.repo, got, tc.wantUser)
		}
		if tc.wantUser == "" && a != authn.Anonymous {
			t.Errorf("%s: got %v, want anonymous", tc.repo, a)
		}
	}
}

func TestKeyringRefusesMalformed(t *testing.T) {
	for _, data := range []string{`{"auths":`, `{"auths":{"r.example":{"auth":"%%%"}}}`, `{"auths":{"r.example":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("nocolon")) + `"}}}`} {
		k := &keyring{}
		if err := k.add(secret(t, corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, data)); err == nil {
			t.Errorf("%s: accepted", data)
		}
	}
}
