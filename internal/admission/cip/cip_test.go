package cip_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"hallmark.dev/internal/admission/cip"
)

// docs splits a YAML file into its documents, with the "# ERROR:" line
// that policy-controller's tests expect for each, if any.
func docs(t testing.TB, path string) []doc {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []doc
	for _, part := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		var d doc
		for _, line := range strings.Split(part, "\n") {
			if rest, ok := strings.CutPrefix(line, "# ERROR:"); ok {
				d.wantErr = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), "validation failed:"))
			}
		}
		j, err := yaml.YAMLToJSON([]byte(part))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if string(j) == "null" {
			continue
		}
		d.json = j
		out = append(out, d)
	}
	return out
}

type doc struct {
	json    []byte
	wantErr string
}

// check parses, validates and defaults a resource as the webhook does.
func check(data []byte) ([]string, error) {
	if bytes.Contains(data, []byte(`"kind":"TrustRoot"`)) {
		tr, err := cip.ParseTrustRoot(data)
		if err != nil {
			return nil, err
		}
		tr.SetDefaults()
		return nil, tr.Validate()
	}
	c, err := cip.ParseClusterImagePolicy(data)
	if err != nil {
		return nil, err
	}
	c.SetDefaults()
	return c.Validate(cip.Options{})
}

// TestPolicyControllerVectors runs policy-controller's own test policies:
// those it accepts (valid/, and every policy of its end-to-end tests) are
// accepted, those it refuses (invalid/) are refused with its reason.
func TestPolicyControllerVectors(t *testing.T) {
	for _, dir := range []string{"valid", "e2e", "invalid"} {
		files, err := filepath.Glob(filepath.Join("testdata", "policy-controller", dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no vectors in %s", dir)
		}
		for _, f := range files {
			t.Run(dir+"/"+filepath.Base(f), func(t *testing.T) {
				for _, d := range docs(t, f) {
					_, err := check(d.json)
					switch {
					case dir != "invalid" && err != nil:
						t.Errorf("refused: %v", err)
					case dir == "invalid" && err == nil:
						t.Errorf("accepted, want refused (%s)", d.wantErr)
					case dir == "invalid" && d.wantErr != "" && !strings.Contains(d.wantErr, ": Invalid value"):
						// (": Invalid value" errors come from the API
						// server's schema check, before any webhook.)
						if want := d.wantErr; !strings.Contains(err.Error(), want) {
							t.Errorf("got error %q, want it to contain %q", err, want)
						}
					}
				}
			})
		}
	}
}

func TestEmptyAuthorities(t *testing.T) {
	for _, tc := range []struct {
		file    string
		allow   bool
		wantErr string
	}{
		{"authorities-absent.yaml", false, "missing field(s): spec.authorities"},
		{"authorities-absent.yaml", true, ""},
		{"authorities-present.yaml", false, "missing field(s): spec.authorities"},
		{"authorities-present.yaml", true, ""},
	} {
		for _, d := range docs(t, filepath.Join("testdata", "policy-controller", "empty-authorities", tc.file)) {
			c, err := cip.ParseClusterImagePolicy(d.json)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Validate(cip.Options{AllowEmptyAuthorities: tc.allow})
			if got := errString(err); !strings.Contains(got, tc.wantErr) || (tc.wantErr == "") != (err == nil) {
				t.Errorf("%s (allow empty %v): got error %q, want %q", tc.file, tc.allow, got, tc.wantErr)
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

const goodKey = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEIcbqK2RAVZOfPzo+kbOhNYq8DK9f
B2BGbU7jAXEvYthJ3vRcYq8l7g9UAXXiz9P2awFuTa4COcZU2IdEDVU0uA==
-----END PUBLIC KEY-----`

// TestRefusals covers the refusals the issue names, each with its reason.
func TestRefusals(t *testing.T) {
	key := func(extra string) string {
		return `{"apiVersion":"policy.sigstore.dev/v1beta1","kind":"ClusterImagePolicy","metadata":{"name":"p"},"spec":{"images":[{"glob":"**"}],"authorities":[{"key":{"data":` + quote(goodKey) + `}}]` + extra + `}}`
	}
	for _, tc := range []struct {
		name, doc, wantErr string
	}{
		{"accepted", key(""), ""},
		{"unknown spec field", key(`,"imagez":[]`), `unknown field "spec.imagez"`},
		{"unknown authority field", strings.Replace(key(""), `"key":{`, `"keyz":{},"key":{`, 1), `unknown field "spec.authorities[0].keyz"`},
		{"repeated field", key(`,"mode":"warn","mode":"enforce"`), `duplicate field "spec.mode"`},
		{"unknown mode", key(`,"mode":"audit"`), "invalid value: audit: spec.mode"},
		{"wrong kind", strings.Replace(key(""), "ClusterImagePolicy", "ImagePolicy", 1), `kind "ImagePolicy", want ClusterImagePolicy`},
		{"wrong version", strings.Replace(key(""), "v1beta1", "v1", 1), `apiVersion "policy.sigstore.dev/v1"`},
		{"no authorities", strings.Replace(key(""), `"authorities":[{"key":{"data":`+quote(goodKey)+`}}]`, `"authorities":[]`, 1), "missing field(s): spec.authorities"},
		{"key does not parse", strings.Replace(key(""), quote(goodKey), `"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"`, 1), "spec.authorities[0].key.data: not a PEM public key"},
		{"keyless without identities", strings.Replace(key(""), `"key":{"data":`+quote(goodKey)+`}`, `"keyless":{"url":"https://fulcio.example"}`, 1), "missing field(s): spec.authorities[0].keyless.identities"},
		{"keyless identity regexp", strings.Replace(key(""), `"key":{"data":`+quote(goodKey)+`}`, `"keyless":{"url":"https://fulcio.example","identities":[{"issuer":"i","subjectRegExp":"("}]}`, 1), "spec.authorities[0].keyless.identities[0].subjectRegExp: regex is invalid"},
		{"pkcs11 kms", strings.Replace(key(""), `"data":`+quote(goodKey), `"kms":"pkcs11:token=t;object=o"`, 1), "malformed KMS format"},
		{"static with attestations", strings.Replace(key(""), `"key":{"data":`+quote(goodKey)+`}`, `"static":{"action":"pass"},"attestations":[{"name":"a","predicateType":"custom"}]`, 1), "expected exactly one, got both: spec.authorities[0].attestations, spec.authorities[0].static"},
		{"unknown static action", strings.Replace(key(""), `"key":{"data":`+quote(goodKey)+`}`, `"static":{"action":"maybe"}`, 1), "invalid value: maybe: spec.authorities[0].static.action"},
		{"attestation policy type", strings.Replace(key(""), `}}]`, `},"attestations":[{"name":"a","predicateType":"https://example.com/p","policy":{"type":"js","data":"x"}}]}]`, 1), "invalid value: js: spec.authorities[0].attestations[0].policy.type"},
		{"attestation policy includes spec", strings.Replace(key(""), `}}]`, `},"attestations":[{"name":"a","predicateType":"https://example.com/p","policy":{"type":"cue","data":"x","includeSpec":true}}]}]`, 1), "must not set the field(s): spec.authorities[0].attestations[0].policy.includeSpec"},
		{"bad glob", strings.Replace(key(""), `"**"`, `"ghcr.io/a b"`, 1), "invalid value: ghcr.io/a b: spec.images[0].glob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := check([]byte(tc.doc))
			got := errString(err)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.wantErr != "" && !strings.Contains(got, tc.wantErr) {
				t.Fatalf("got error %q, want it to contain %q", got, tc.wantErr)
			}
		})
	}
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"`
}

func TestShortPredicateTypeWarns(t *testing.T) {
	doc := `{"apiVersion":"policy.sigstore.dev/v1alpha1","kind":"ClusterImagePolicy","metadata":{"name":"p"},"spec":{"images":[{"glob":"**"}],"authorities":[{"key":{"data":` + quote(goodKey) + `},"attestations":[{"name":"a","predicateType":"vuln"}]}]}}`
	warnings, err := check([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "deprecated value") {
		t.Fatalf("got warnings %q, want one about the deprecated short name", warnings)
	}
}

func TestDefaults(t *testing.T) {
	c, err := cip.ParseClusterImagePolicy([]byte(`{"apiVersion":"policy.sigstore.dev/v1alpha1","kind":"ClusterImagePolicy","metadata":{"name":"p"},"spec":{"images":[{"glob":"**"}],"authorities":[{"keyless":{"identities":[{"issuer":"i","subject":"s"}]}},{"name":"mine","static":{"action":"pass"}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if got := c.Spec.Mode; got != "enforce" {
		t.Errorf("mode: got %q, want enforce", got)
	}
	if got := c.Spec.Authorities[0].Name; got != "authority-0" {
		t.Errorf("name: got %q, want authority-0", got)
	}
	if got := c.Spec.Authorities[1].Name; got != "mine" {
		t.Errorf("name: got %q, want mine", got)
	}
	if got := c.Spec.Authorities[0].Keyless.URL.String(); got != "https://fulcio.sigstore.dev" {
		t.Errorf("keyless url: got %q, want https://fulcio.sigstore.dev", got)
	}
}

// TestGlob checks policy-controller's glob rules.
func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		glob, image string
		want        bool
	}{
		{"*", "ubuntu", true},
		{"*", "index.docker.io/library/ubuntu:22.04", true},
		{"*", "myuser/app", false},
		{"*/*", "myuser/app", true},
		{"index.docker.io/library/ubuntu", "ubuntu", false},
		{"index.docker.io/library/ubuntu:**", "ubuntu", true},
		{"ghcr.io/org/*", "ghcr.io/org/app:v1", true},
		{"ghcr.io/org/*", "ghcr.io/org/app@sha256:" + strings.Repeat("a", 64), true},
		{"ghcr.io/org/*", "ghcr.io/org/team/app:v1", false},
		{"ghcr.io/org/**", "ghcr.io/org/team/app:v1", true},
		{"ghcr.io/org/app", "ghcr.io/org/app:v1", false},
		{"ghcr.io/org/app*", "ghcr.io/org/app:v1", true},
		{"ghcr.io/org/app:v1", "ghcr.io/org/app:v1", true},
		{"**demo**", "registry.local:5000/demo/hello@sha256:" + strings.Repeat("b", 64), true},
		{"ghcr.io/org/ap?", "ghcr.io/org/app", false},
		{"registry.local:5000/app", "registry.local:5000/app:latest", false},
		// As written, without the implied tag, it matches too.
		{"registry.local:5000/app", "registry.local:5000/app", true},
		{"registry.local:5000/app*", "registry.local:5000/app", true},
		// A registry written otherwise than the glob, that a node pulls
		// from all the same, is matched too.
		{"ghcr.io/org/**", "GHCR.IO/org/app:v1", true},
		{"ghcr.io/org/**", "Ghcr.io:443/org/app@sha256:" + strings.Repeat("a", 64), true},
		{"index.docker.io/org/*", "registry-1.docker.io/org/app:v1", true},
		{"index.docker.io/org/*", "docker.io/org/app:v1", true},
		{"ghcr.io/org/**", "ghcr.io:5000/org/app:v1", false},
	} {
		g, err := cip.CompileGlob(tc.glob)
		if err != nil {
			if tc.want {
				t.Errorf("%s: %v", tc.glob, err)
			}
			continue
		}
		if got := g.Match(tc.image); got != tc.want {
			t.Errorf("glob %q, image %q: got %v, want %v", tc.glob, tc.image, got, tc.want)
		}
	}
}

// TestGlobRefused: a glob with characters other than letters, digits and
// "-_:/*.@" is refused, as policy-controller refuses it (its character
// class takes "-" literally, not as a range from "9" to "_").
func TestGlobRefused(t *testing.T) {
	for _, g := range []string{"ghcr.io/org/app-[0-9]*", "ghcr.io/org/app?", `ghcr.io/org/app\d`, "ghcr.io/org/app$", "ghcr.io/(org)/app", "ghcr.io/org/^app"} {
		_, err := cip.CompileGlob(g)
		if err == nil || !strings.Contains(err.Error(), "invalid glob "+strconv.Quote(g)) {
			t.Errorf("glob %q: got %v, want invalid glob", g, err)
		}
	}
}

// TestPolicyEvaluation checks cosign's cue and rego semantics.
func TestPolicyEvaluation(t *testing.T) {
	input := []byte(`{"predicateType":"https://cosign.sigstore.dev/attestation/v1","predicate":{"Data":"foobar e2e test","Timestamp":"2023-01-01T00:00:00Z"}}`)
	for _, tc := range []struct {
		name, typ, src string
		wantPass       bool
		wantReason     string
		wantWarning    string
	}{
		{"cue passes", "cue", `predicate: Data: "foobar e2e test"`, true, "", ""},
		{"cue fails", "cue", `predicate: Data: "other"`, false, `conflicting values "foobar e2e test" and "other"`, ""},
		{"cue does not require absent fields concrete", "cue", `predicate: Missing?: string` + "\n" + `predicate: Other: string`, true, "", ""},
		{"cue imports", "cue", "import \"time\"\nbefore: time.Parse(time.RFC3339, \"2049-10-09T17:10:27Z\")\npredicate: Timestamp: <before", true, "", ""},
		{"rego boolean", "rego", "package sigstore\nisCompliant { input.predicate.Data == \"foobar e2e test\" }", true, "", ""},
		{"rego boolean false", "rego", "package sigstore\ndefault isCompliant = false\nisCompliant { input.predicate.Data == \"other\" }", false, "is not compliant", ""},
		{"rego undefined", "rego", "package sigstore\nisCompliant { input.predicate.Data == \"other\" }", false, "is not compliant", ""},
		{"rego result set passes with warning", "rego", "package sigstore\nisCompliant[response] {\n  response := {\"result\": true, \"warning\": \"old\", \"error\": \"\"}\n}", true, "", "old"},
		{"rego result set fails with error", "rego", "package sigstore\nisCompliant[response] {\n  response := {\"result\": false, \"warning\": \"\", \"error\": \"too old\"}\n}", false, "with errors: too old", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := cip.CompilePolicy("p", tc.typ, tc.src)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.Evaluate(context.Background(), input)
			if err != nil {
				t.Fatal(err)
			}
			if out.Passed != tc.wantPass || !strings.Contains(out.Reason, tc.wantReason) || out.Warning != tc.wantWarning {
				t.Fatalf("got %+v, want passed %v, reason containing %q, warning %q", out, tc.wantPass, tc.wantReason, tc.wantWarning)
			}
		})
	}
}

func TestPolicyCompileErrors(t *testing.T) {
	for _, tc := range []struct{ typ, src, want string }{
		{"cue", "predicate: {", "cue does not compile"},
		{"rego", "package sigstore\nisCompliant {", "rego does not compile"},
		{"rego", "package sigstore\nisCompliant { http.send({\"method\": \"get\", \"url\": \"https://example.com\"}) }", "rego does not compile"},
	} {
		_, err := cip.CompilePolicy("p", tc.typ, tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: got error %v, want %q", tc.typ, tc.src, err, tc.want)
		}
	}
}
