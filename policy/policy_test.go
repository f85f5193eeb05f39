package policy

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// statement reads a JSON fixture from testdata as decoded JSON.
func statement(t testing.TB, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
	return v
}

// lookup walks a dotted path of object keys in decoded JSON.
func lookup(t testing.TB, v map[string]any, path ...string) map[string]any {
	t.Helper()
	for _, k := range path {
		next, ok := v[k].(map[string]any)
		if !ok {
			t.Fatalf("fixture has no object at %s", strings.Join(path, "."))
		}
		v = next
	}
	return v
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name   string
		policy string // a file in testdata, or the name for src
		src    string // inline source, if set
		input  string
		edit   func(t testing.TB, st map[string]any)
		passed bool
		// want are substrings of the messages, one per message, in order.
		want []string
	}{
		{name: "cosign example passes", policy: "cosign-slsa-v02.cue", input: "slsa-v02.json", passed: true},
		{name: "cosign example on v1 provenance", policy: "cosign-slsa-v02.cue", input: "slsa-v1.json",
			want: []string{`predicateType: conflicting values "https://slsa.dev/provenance/v1" and "https://slsa.dev/provenance/v0.2"`}},
		{name: "cosign example untrusted builder", policy: "cosign-slsa-v02.cue", input: "slsa-v02.json",
			edit: func(t testing.TB, st map[string]any) {
				lookup(t, st, "predicate", "builder")["id"] = "https://evil.example/builder"
			},
			want: []string{`predicate.builder.id: invalid value "https://evil.example/builder"`}},
		{name: "cosign example builder missing", policy: "cosign-slsa-v02.cue", input: "slsa-v02.json",
			edit: func(t testing.TB, st map[string]any) {
				delete(lookup(t, st, "predicate"), "builder")
			},
			want: []string{"predicate.builder.id: incomplete value"}},
		{name: "cue slsa v1 passes", policy: "slsa-v1.cue", input: "slsa-v1.json", passed: true},
		{name: "cue slsa v1 on sbom", policy: "slsa-v1.cue", input: "cyclonedx.json",
			want: []string{"predicateType: conflicting values"}},
		{name: "cue slsa v1 wrong repository", policy: "slsa-v1.cue", input: "slsa-v1.json",
			edit: func(t testing.TB, st map[string]any) {
				lookup(t, st, "predicate", "buildDefinition", "externalParameters", "workflow")["repository"] = "https://github.com/fork/app"
			},
			want: []string{`predicate.buildDefinition.externalParameters.workflow.repository: conflicting values "https://github.com/fork/app" and "https://github.com/acme/app"`}},
		{name: "cue slsa v1 branch build", policy: "slsa-v1.cue", input: "slsa-v1.json",
			edit: func(t testing.TB, st map[string]any) {
				lookup(t, st, "predicate", "buildDefinition", "externalParameters", "workflow")["ref"] = "refs/heads/main"
			},
			want: []string{"predicate.buildDefinition.externalParameters.workflow.ref: invalid value"}},
		{name: "cue slsa v1 no subject", policy: "slsa-v1.cue", input: "slsa-v1.json",
			edit: func(t testing.TB, st map[string]any) { st["subject"] = []any{} },
			want: []string{"subject: incompatible list lengths"}},
		{name: "cue sbom passes", policy: "sbom-permissive.cue", input: "cyclonedx.json", passed: true},
		{name: "cue sbom gpl", policy: "sbom-permissive.cue", input: "cyclonedx-gpl.json",
			want: []string{
				"predicate.components.3.licenses.0.license.id: 6 errors in empty disjunction",
				`predicate.components.3.licenses.0.license.id: conflicting values "Apache-2.0" and "GPL-3.0-or-later"`,
				`conflicting values "BSD-2-Clause" and "GPL-3.0-or-later"`,
				`conflicting values "BSD-3-Clause" and "GPL-3.0-or-later"`,
				`conflicting values "ISC" and "GPL-3.0-or-later"`,
				`conflicting values "MIT" and "GPL-3.0-or-later"`,
				`conflicting values "Zlib" and "GPL-3.0-or-later"`,
			}},
		{name: "cue json integers are ints", policy: "policy.cue", src: "predicate: version: int & >=1\n",
			input: "cyclonedx.json", passed: true},
		{name: "rego slsa v1 passes", policy: "slsa-v1.rego", input: "slsa-v1.json", passed: true},
		{name: "rego slsa v1 on v0.2", policy: "slsa-v1.rego", input: "slsa-v02.json",
			want: []string{
				"builder is not the SLSA GitHub generator",
				`predicate type "https://slsa.dev/provenance/v0.2" is not SLSA provenance v1`,
			}},
		{name: "rego slsa v1 deny object msg", policy: "slsa-v1.rego", input: "slsa-v1.json",
			edit: func(t testing.TB, st map[string]any) {
				lookup(t, st, "predicate", "buildDefinition", "externalParameters", "workflow")["repository"] = "https://github.com/fork/app"
			},
			want: []string{"built from https://github.com/fork/app, not github.com/acme/app"}},
		{name: "rego sbom passes", policy: "sbom-licenses.rego", input: "cyclonedx.json", passed: true},
		{name: "rego sbom gpl", policy: "sbom-licenses.rego", input: "cyclonedx-gpl.json",
			want: []string{"component libreadline8 8.2-1.3 is licensed GPL-3.0-or-later"}},
		{name: "rego sbom on provenance", policy: "sbom-licenses.rego", input: "slsa-v1.json",
			want: []string{"not a CycloneDX SBOM"}},
		{name: "rego allow", policy: "allow.rego", input: "slsa-v1.json", passed: true},
		{name: "rego allow false", policy: "allow.rego", input: "cyclonedx.json", want: []string{"allow is false"}},
		{name: "rego allow undefined", policy: "policy.rego", input: "cyclonedx.json",
			src:  "package p\n\nallow if input.predicateType == \"x\"\n",
			want: []string{"allow is undefined"}},
		{name: "rego boolean deny", policy: "policy.rego", input: "cyclonedx.json",
			src:  "package p\n\ndeny if input.predicateType == \"https://cyclonedx.org/bom\"\n",
			want: []string{"deny is true"}},
		{name: "rego boolean deny undefined", policy: "policy.rego", input: "slsa-v1.json", passed: true,
			src: "package p\n\ndeny if input.predicateType == \"https://cyclonedx.org/bom\"\n"},
		{name: "rego deny object without msg", policy: "policy.rego", input: "slsa-v1.json",
			src:  "package a.b\n\ndeny contains {\"code\": \"x\"} if true\n",
			want: []string{`{"code":"x"}`}},
		{name: "rego deny wins over allow", policy: "policy.rego", input: "slsa-v1.json",
			src:  "package p\n\nallow := true\n\ndeny contains \"no\" if true\n",
			want: []string{"no"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Policy
			var err error
			if tt.src != "" {
				p, err = Parse(tt.policy, []byte(tt.src))
			} else {
				p, err = load(t, "testdata/"+tt.policy)
			}
			if err != nil {
				t.Fatal(err)
			}
			st := statement(t, tt.input)
			if tt.edit != nil {
				tt.edit(t, st)
			}
			got, err := p.evaluate(context.Background(), st)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if got.Passed != tt.passed {
				t.Errorf("Passed = %v, want %v (messages %q)", got.Passed, tt.passed, got.Messages)
			}
			if len(got.Messages) != len(tt.want) {
				t.Fatalf("got messages %q, want %d matching %q", got.Messages, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got.Messages[i], w) {
					t.Errorf("message %d = %q, want it to contain %q", i, got.Messages[i], w)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, file, src string
		want            string // prefix of the error
	}{
		{"cue syntax", "policy.cue", "a: 1\nb: {\n    ]\n}\n", "policy.cue:3:5: "},
		{"cue unresolved reference", "policy.cue", "a: 1\nb: foo\n", `policy.cue:2:4: b: reference "foo" not found`},
		{"cue self-contradiction", "policy.cue", "a: 1\na: 2\n", "policy.cue:1:4: a: conflicting values 2 and 1"},
		{"cue tool import", "policy.cue", "import \"tool/http\"\n\na: http.Get\n", `policy.cue:1:8: import "tool/http" not allowed`},
		{"cue unknown import", "policy.cue", "import \"example.com/lib\"\n\na: lib.X\n", "policy.cue:1:8: "},
		{"rego syntax", "policy.rego", "package p\n\ndeny contains msg if {\n\tmsg := \"x\"\n}\n\nallow if { x := }\n", "policy.rego:7: "},
		{"rego v0 syntax", "policy.rego", "package p\n\ndeny[msg] {\n\tmsg := \"x\"\n}\n", "policy.rego:3: "},
		{"rego undefined function", "policy.rego", "package p\n\ndeny contains msg if {\n\tmsg := nosuch.fn(1)\n}\n", "policy.rego:4: undefined function nosuch.fn"},
		{"rego unsafe variable", "policy.rego", "package p\n\ndeny contains msg if {\n\tx == 1\n\tmsg := \"y\"\n}\n", "policy.rego:4: "},
		{"rego no package", "policy.rego", "deny contains \"x\" if true\n", "policy.rego:1: "},
		{"rego neither deny nor allow", "policy.rego", "package p\n\nviolation contains \"x\" if true\n", "policy.rego: policy has neither a deny nor an allow rule"},
		{"unknown extension", "policy.yaml", "deny: []\n", "policy policy.yaml: unknown policy language"},
		{"no extension", "policy", "a: 1\n", "policy policy: unknown policy language"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.file, []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded (%T), want error starting %q", p, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got error %q, want prefix %q", err, tt.want)
			}
		})
	}
}

// TestOutsideBuiltinsRefused: builtins that reach the network or the
// process are unknown to the compiler, so such a policy never runs.
func TestOutsideBuiltinsRefused(t *testing.T) {
	tests := []struct{ name, call string }{
		{"http.send", `http.send({"method": "GET", "url": "http://127.0.0.1:9/"}).body`},
		{"net.lookup_ip_addr", `net.lookup_ip_addr("localhost")`},
		{"opa.runtime", `opa.runtime().env`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "package p\n\ndeny contains msg if {\n\tmsg := " + tt.call + "\n}\n"
			_, err := Parse("policy.rego", []byte(src))
			want := "policy.rego:4: undefined function " + tt.name
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("got error %v, want prefix %q", err, want)
			}
		})
	}
}

// load reads and parses a policy file from testdata.
func load(t testing.TB, path string) (Policy, error) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(path, src)
}

func TestContextEnds(t *testing.T) {
	// Rego evaluation is interrupted by the context.
	slow, err := Parse("slow.rego", []byte(`package p

deny contains "never" if {
	n := count([x | some a in numbers.range(1, 3000); some b in numbers.range(1, 3000); x := a * b])
	n < 0
}
`))
	if err != nil {
		t.Fatal(err)
	}
	cue, err := load(t, "testdata/slsa-v1.cue")
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	tests := []struct {
		name   string
		policy Policy
		ctx    context.Context
		want   error
	}{
		{"rego deadline", slow, short, context.DeadlineExceeded},
		{"rego cancelled", slow, cancelled, context.Canceled},
		{"cue cancelled", cue, cancelled, context.Canceled},
	}
	st := statement(t, "slsa-v1.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res, err := tt.policy.evaluate(tt.ctx, st)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %+v, %v; want error %v", res, err, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v after the context ended", d)
			}
		})
	}
}

func TestRegoDenyNotMessages(t *testing.T) {
	p, err := Parse("policy.rego", []byte("package p\n\ndeny := 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.evaluate(context.Background(), statement(t, "slsa-v1.json"))
	if err == nil || !strings.Contains(err.Error(), "policy policy.rego: data.p.deny is json.Number, want a set of messages") {
		t.Errorf("got %+v, %v; want an error about the type of deny", res, err)
	}
}

// TestInputForms: decoded JSON and raw JSON give the same results.
func TestInputForms(t *testing.T) {
	raw, err := os.ReadFile("testdata/cyclonedx-gpl.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"sbom-permissive.cue", "sbom-licenses.rego"} {
		t.Run(file, func(t *testing.T) {
			p, err := load(t, "testdata/"+file)
			if err != nil {
				t.Fatal(err)
			}
			want, err := p.evaluate(context.Background(), statement(t, "cyclonedx-gpl.json"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.evaluate(context.Background(), json.RawMessage(raw))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("raw input result differs (-decoded +raw):\n%s", diff)
			}
		})
	}
}

// TestConcurrent: one parsed policy serves several evaluations at once.
func TestConcurrent(t *testing.T) {
	for _, file := range []string{"slsa-v1.cue", "slsa-v1.rego"} {
		t.Run(file, func(t *testing.T) {
			p, err := load(t, "testdata/"+file)
			if err != nil {
				t.Fatal(err)
			}
			inputs := []map[string]any{statement(t, "slsa-v1.json"), statement(t, "cyclonedx.json")}
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					res, err := p.evaluate(context.Background(), inputs[i%2])
					if err != nil {
						t.Error(err)
						return
					}
					if want := i%2 == 0; res.Passed != want {
						t.Errorf("evaluation %d: Passed = %v, want %v", i, res.Passed, want)
					}
				})
			}
			wg.Wait()
		})
	}
}
