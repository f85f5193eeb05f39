package identity

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
)

func mustClaims(t testing.TB, s string) claims {
	t.Helper()
	c, err := decodeClaims([]byte(s))
	if err != nil {
		t.Fatalf("decodeClaims(%s): %v", s, err)
	}
	return c
}

// TestDecodeClaimsStrict: a claim set means one thing to every JSON
// reader (RFC 7519 lets a parser reject repeated claim names), or is
// refused.
func TestDecodeClaimsStrict(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"repeated claim", `{"sub":"1","email":"a@b.example","email":"c@d.example"}`, `duplicate JSON key "email"`},
		{"repeated nested claim", `{"sub":"1","act":{"sub":"x","sub":"y"}}`, `duplicate JSON key "sub" in act`},
		{"trailing data", `{"sub":"1"} {}`, "after top-level value"},
		{"null", `null`, "claims: not an object"},
		{"an array", `[1]`, "claims: json: cannot unmarshal array"},
		{"not JSON", `{"sub":`, "claims: invalid JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeClaims([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decodeClaims(%s) = %v, want %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestPrincipalFromClaims(t *testing.T) {
	const iss = "https://issuer.example"
	tests := []struct {
		name   string
		issuer Issuer
		claims string
		want   *Principal
		errHas string
	}{
		{
			name:   "email, verified as string",
			issuer: Issuer{URL: iss, Type: TypeEmail},
			claims: `{"sub":"123","email":"a@b.example","email_verified":"true"}`,
			want:   &Principal{Issuer: iss, Subject: "a@b.example", SANType: SANEmail, Challenge: "a@b.example", Extensions: certificate.Extensions{Issuer: iss}},
		},
		{name: "email unverified", issuer: Issuer{URL: iss, Type: TypeEmail}, claims: `{"sub":"1","email":"a@b.example"}`, errHas: "not verified"},
		{name: "email_verified not boolean", issuer: Issuer{URL: iss, Type: TypeEmail}, claims: `{"sub":"1","email":"a@b.example","email_verified":1}`, errHas: "not a boolean"},
		{name: "email with display name", issuer: Issuer{URL: iss, Type: TypeEmail}, claims: `{"sub":"1","email":"A <a@b.example>","email_verified":true}`, errHas: "not a plain email"},
		{name: "no sub", issuer: Issuer{URL: iss, Type: TypeEmail}, claims: `{"email":"a@b.example","email_verified":true}`, errHas: "no sub"},
		{name: "sub not a string", issuer: Issuer{URL: iss, Type: TypeEmail}, claims: `{"sub":{},"email":"a@b.example","email_verified":true}`, errHas: "want a string"},
		{
			name:   "gitlab",
			issuer: Issuer{URL: "https://gitlab.example", Type: TypeGitLabPipeline},
			claims: `{"sub":"project_path:grp/proj:ref_type:branch:ref:main","ci_config_ref_uri":"gitlab.example/grp/proj//.gitlab-ci.yml@refs/heads/main",
				"ci_config_sha":"aaa","project_path":"grp/proj","ref":"main","ref_type":"branch","sha":"bbb","pipeline_source":"push",
				"runner_environment":"gitlab-hosted","namespace_path":"grp","namespace_id":"7","project_id":22,"job_id":"302","project_visibility":"private"}`,
			want: &Principal{
				Issuer: "https://gitlab.example", Subject: "https://gitlab.example/grp/proj//.gitlab-ci.yml@refs/heads/main", SANType: SANURI,
				Challenge: "project_path:grp/proj:ref_type:branch:ref:main",
				Extensions: certificate.Extensions{
					Issuer:                              "https://gitlab.example",
					BuildSignerURI:                      "https://gitlab.example/grp/proj//.gitlab-ci.yml@refs/heads/main",
					BuildSignerDigest:                   "aaa",
					RunnerEnvironment:                   "gitlab-hosted",
					SourceRepositoryURI:                 "https://gitlab.example/grp/proj",
					SourceRepositoryDigest:              "bbb",
					SourceRepositoryRef:                 "refs/heads/main",
					SourceRepositoryIdentifier:          "22",
					SourceRepositoryOwnerURI:            "https://gitlab.example/grp",
					SourceRepositoryOwnerIdentifier:     "7",
					BuildConfigURI:                      "https://gitlab.example/grp/proj//.gitlab-ci.yml@refs/heads/main",
					BuildConfigDigest:                   "aaa",
					BuildTrigger:                        "push",
					RunInvocationURI:                    "https://gitlab.example/grp/proj/-/jobs/302",
					SourceRepositoryVisibilityAtSigning: "private",
				},
			},
		},
		{name: "gitlab bad ref_type", issuer: Issuer{URL: iss, Type: TypeGitLabPipeline},
			claims: `{"sub":"x","ci_config_ref_uri":"h/p//c.yml@refs/heads/m","project_path":"g/p","ref":"m","ref_type":"commit","sha":"b"}`, errHas: "ref_type"},
		{name: "gitlab config ref with scheme", issuer: Issuer{URL: iss, Type: TypeGitLabPipeline},
			claims: `{"sub":"x","ci_config_ref_uri":"https://evil/p//c.yml@m","project_path":"g/p","ref":"m","ref_type":"branch","sha":"b"}`, errHas: "ci_config_ref_uri"},
		{
			name:   "github enterprise server URL, minimal claims",
			issuer: Issuer{URL: iss, Type: TypeGitHubWorkflow, ServerURL: "https://ghe.example/"},
			claims: `{"sub":"repo:o/r:ref:refs/heads/main","job_workflow_ref":"o/r/.github/workflows/w.yml@refs/heads/main","repository":"o/r","ref":"refs/heads/main","sha":"c","event_name":"push"}`,
			want: &Principal{
				Issuer: iss, Subject: "https://ghe.example/o/r/.github/workflows/w.yml@refs/heads/main", SANType: SANURI, Challenge: "repo:o/r:ref:refs/heads/main",
				Extensions: certificate.Extensions{
					Issuer: iss, GithubWorkflowTrigger: "push", GithubWorkflowSHA: "c", GithubWorkflowRepository: "o/r", GithubWorkflowRef: "refs/heads/main",
					BuildSignerURI: "https://ghe.example/o/r/.github/workflows/w.yml@refs/heads/main", SourceRepositoryURI: "https://ghe.example/o/r",
					SourceRepositoryDigest: "c", SourceRepositoryRef: "refs/heads/main", BuildTrigger: "push",
				},
			},
		},
		{name: "github missing job_workflow_ref", issuer: Issuer{URL: iss, Type: TypeGitHubWorkflow},
			claims: `{"sub":"x","repository":"o/r","ref":"r","sha":"c","event_name":"push"}`, errHas: "no job_workflow_ref"},
		{name: "github workflow ref with host", issuer: Issuer{URL: iss, Type: TypeGitHubWorkflow},
			claims: `{"sub":"x","job_workflow_ref":"evil.example/o/r/w.yml?x@y","repository":"o/r","ref":"r","sha":"c","event_name":"push"}`, errHas: "job_workflow_ref"},
		{name: "github repository traversal", issuer: Issuer{URL: iss, Type: TypeGitHubWorkflow},
			claims: `{"sub":"x","job_workflow_ref":"o/r/w.yml@r","repository":"o/r/../../x","ref":"r","sha":"c","event_name":"push"}`, errHas: "repository"},
		{name: "github non-numeric run_id", issuer: Issuer{URL: iss, Type: TypeGitHubWorkflow},
			claims: `{"sub":"x","job_workflow_ref":"o/r/w.yml@r","repository":"o/r","ref":"r","sha":"c","event_name":"push","run_id":"1/../2"}`, errHas: "run_id"},
		{
			name:   "kubernetes",
			issuer: Issuer{URL: iss, Type: TypeKubernetes},
			claims: `{"sub":"system:serviceaccount:prod:builder","kubernetes.io":{"namespace":"prod","serviceaccount":{"name":"builder","uid":"u"}}}`,
			want: &Principal{Issuer: iss, Subject: "https://kubernetes.io/namespaces/prod/serviceaccounts/builder", SANType: SANURI,
				Challenge: "system:serviceaccount:prod:builder", Extensions: certificate.Extensions{Issuer: iss}},
		},
		{name: "kubernetes sub mismatch", issuer: Issuer{URL: iss, Type: TypeKubernetes},
			claims: `{"sub":"system:serviceaccount:dev:builder","kubernetes.io":{"namespace":"prod","serviceaccount":{"name":"builder"}}}`, errHas: "does not match"},
		{name: "kubernetes bad namespace", issuer: Issuer{URL: iss, Type: TypeKubernetes},
			claims: `{"sub":"system:serviceaccount:a/b:c","kubernetes.io":{"namespace":"a/b","serviceaccount":{"name":"c"}}}`, errHas: "namespace"},
		{name: "kubernetes no claim", issuer: Issuer{URL: iss, Type: TypeKubernetes}, claims: `{"sub":"x"}`, errHas: "kubernetes.io"},
		{
			name:   "uri in domain, email claim is the challenge",
			issuer: Issuer{URL: iss, Type: TypeURI, SubjectDomain: "https://ci.example"},
			claims: `{"sub":"https://ci.example/pipelines/7","email":"svc@ci.example"}`,
			want: &Principal{Issuer: iss, Subject: "https://ci.example/pipelines/7", SANType: SANURI, Challenge: "svc@ci.example",
				Extensions: certificate.Extensions{Issuer: iss}},
		},
		{name: "uri outside domain", issuer: Issuer{URL: iss, Type: TypeURI, SubjectDomain: "https://ci.example"}, claims: `{"sub":"https://evil.example/x"}`, errHas: "outside subject domain"},
		{name: "uri not a URI", issuer: Issuer{URL: iss, Type: TypeURI}, claims: `{"sub":"alice"}`, errHas: "not an http(s) URI"},
		{name: "long claim", issuer: Issuer{URL: iss, Type: TypeURI}, claims: `{"sub":"https://x.example/` + strings.Repeat("a", 3000) + `"}`, errHas: "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := principalFromClaims(tt.issuer, mustClaims(t, tt.claims))
			if tt.errHas != "" {
				if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("got error %v, want ErrInvalidToken mentioning %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("principalFromClaims: %v", err)
			}
			if diff := cmp.Diff(tt.want, p); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckClaims(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	v := &Verifier{now: func() time.Time { return now }, skew: time.Minute}
	iss := Issuer{URL: "https://i.example", Type: TypeEmail}
	tests := []struct {
		name    string
		claims  string
		wantErr error
	}{
		{"ok", `{"aud":"sigstore","exp":1700000600,"iat":1700000000,"nbf":1700000000}`, nil},
		{"aud array", `{"aud":["x","sigstore"],"exp":1700000600}`, nil},
		{"fractional exp", `{"aud":"sigstore","exp":1700000600.5}`, nil},
		{"aud array without client", `{"aud":["x","y"],"exp":1700000600}`, ErrAudience},
		{"aud wrong type", `{"aud":7,"exp":1700000600}`, ErrInvalidToken},
		{"aud element wrong type", `{"aud":["sigstore",7],"exp":1700000600}`, ErrInvalidToken},
		{"no aud", `{"exp":1700000600}`, ErrInvalidToken},
		{"no exp", `{"aud":"sigstore"}`, ErrInvalidToken},
		{"exp string", `{"aud":"sigstore","exp":"1700000600"}`, ErrInvalidToken},
		{"exp negative", `{"aud":"sigstore","exp":-1}`, ErrInvalidToken},
		{"exp huge", `{"aud":"sigstore","exp":1e300}`, ErrInvalidToken},
		{"expired beyond skew", `{"aud":"sigstore","exp":1699999939}`, ErrExpired},
		{"expired within skew", `{"aud":"sigstore","exp":1699999941}`, nil},
		{"iat in future", `{"aud":"sigstore","exp":1700000600,"iat":1700000100}`, ErrInvalidToken},
		{"nbf in future", `{"aud":"sigstore","exp":1700000600,"nbf":1700000100}`, ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.checkClaims(iss, mustClaims(t, tt.claims))
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestUnverifiedIssuer(t *testing.T) {
	tests := []struct {
		token, want string
		ok          bool
	}{
		{"e30.eyJpc3MiOiJodHRwczovL2kuZXhhbXBsZSJ9.c2ln", "https://i.example", true},
		{"e30.e30.c2ln", "", false},          // no iss
		{"e30.eyJpc3MiOjF9.c2ln", "", false}, // iss not a string
		{"e30.!!!.c2ln", "", false},          // not base64url
		{"e30.eyJpc3MiOiJ4In0", "", false},   // two parts
		{"a.b.c.d.e", "", false},             // JWE shape
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			got, err := unverifiedIssuer(tt.token)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("got %q, %v; want %q, ok=%v", got, err, tt.want, tt.ok)
			}
		})
	}
}

// FuzzPrincipalFromClaims checks that any claim set either is refused with
// ErrInvalidToken or yields a Principal a certificate can state: a
// printable ASCII SAN of a known type (an absolute http(s) URI for URIs)
// and well-formed URIs in the URI extensions.
func FuzzPrincipalFromClaims(f *testing.F) {
	seeds := []string{
		`{"sub":"1","email":"a@b.example","email_verified":true}`,
		`{"sub":"x","job_workflow_ref":"o/r/.github/workflows/w.yml@refs/heads/main","repository":"o/r","ref":"refs/heads/main","sha":"c","event_name":"push","run_id":"1","run_attempt":"1","repository_owner":"o","workflow_ref":"o/r/w.yml@r"}`,
		`{"sub":"x","ci_config_ref_uri":"gitlab.example/g/p//.gitlab-ci.yml@refs/heads/main","project_path":"g/p","ref":"main","ref_type":"branch","sha":"b","namespace_path":"g","job_id":"3"}`,
		`{"sub":"system:serviceaccount:a:b","kubernetes.io":{"namespace":"a","serviceaccount":{"name":"b"}}}`,
		`{"sub":"https://ci.example/x"}`,
	}
	types := []string{TypeEmail, TypeGitHubWorkflow, TypeGitLabPipeline, TypeKubernetes, TypeURI}
	for _, s := range seeds {
		for i := range types {
			f.Add([]byte(s), uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, typ uint8) {
		c, err := decodeClaims(data)
		if err != nil {
			return
		}
		iss := Issuer{URL: "https://issuer.example", Type: types[int(typ)%len(types)]}
		p, err := principalFromClaims(iss, c)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			return
		}
		if p.Issuer != iss.URL || p.Extensions.Issuer != iss.URL || p.Challenge == "" {
			t.Fatalf("principal %+v lacks issuer or challenge", p)
		}
		for i := 0; i < len(p.Subject); i++ {
			if p.Subject[i] < 0x21 || p.Subject[i] > 0x7e {
				t.Fatalf("subject %q is not printable ASCII", p.Subject)
			}
		}
		uris := []string{p.Extensions.BuildSignerURI, p.Extensions.SourceRepositoryURI, p.Extensions.SourceRepositoryOwnerURI, p.Extensions.BuildConfigURI, p.Extensions.RunInvocationURI}
		switch p.SANType {
		case SANEmail:
		case SANURI:
			uris = append(uris, p.Subject)
		default:
			t.Fatalf("SAN type %q", p.SANType)
		}
		for _, s := range uris {
			if s == "" {
				continue
			}
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.String() != s {
				t.Fatalf("URI %q does not parse back to itself as an http(s) URL", s)
			}
		}
	})
}
