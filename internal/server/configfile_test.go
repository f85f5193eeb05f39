package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"hallmark.dev/internal/identity"
	"hallmark.dev/internal/policystore"
	"hallmark.dev/internal/server"
	"hallmark.dev/signpolicy"
)

func TestParseConfig(t *testing.T) {
	file := `addr: 0.0.0.0:5005
data: /var/lib/hallmark
publicURL: https://sigstore.example.com
database: mysql://hallmark:pw@db.internal:3306/hallmark
objectStore: s3://hallmark-prod?region=eu-west-3
issuers:
  - {type: github-workflow, url: https://token.actions.githubusercontent.com}
witnessPolicy: /etc/hallmark/witnesses.txt
signingPolicy:
  policyWriterKeys: [/etc/hallmark/writer.pub]
  policyWriters:
    - {issuer: https://token.actions.githubusercontent.com, subject: https://github.com/acme/policy/.github/workflows/p.yml@refs/heads/main}
readHeaderTimeout: 10s
maxConnections: 2048
`
	got, err := server.ParseConfig([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	want := server.Config{
		Addr: "0.0.0.0:5005", DataDir: "/var/lib/hallmark", PublicURL: "https://sigstore.example.com",
		Database: "mysql://hallmark:pw@db.internal:3306/hallmark", ObjectStore: "s3://hallmark-prod?region=eu-west-3",
		Issuers:       []identity.Issuer{{Type: "github-workflow", URL: "https://token.actions.githubusercontent.com"}},
		WitnessPolicy: "/etc/hallmark/witnesses.txt",
		SigningPolicy: policystore.Config{
			WriterKeys: []string{"/etc/hallmark/writer.pub"},
			Writers:    []signpolicy.Identity{{Issuer: "https://token.actions.githubusercontent.com", Subject: "https://github.com/acme/policy/.github/workflows/p.yml@refs/heads/main"}},
		},
		ReadHeaderTimeout: 10 * time.Second,
		MaxConnections:    2048,
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(server.Config{})); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

func TestParseConfigRefuses(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"unknown key", "addr: x\ndatabse: mysql://u:p@h/d\n", "line 2: field databse not found"},
		{"credentials", "objectStoreCredentials: {AccessKeyID: k}\n", "field objectStoreCredentials not found"},
		{"repeated key", "data: a\ndata: b\n", `line 2: the top level: key "data" repeats the one on line 1`},
		{"alias", "data: &d a\npublicURL: *d\n", "anchor"},
		{"two documents", "data: a\n---\ndata: b\n", "more than one YAML document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := server.ParseConfig([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestConfigPrecedence: flags over environment variables over the file.
func TestConfigPrecedence(t *testing.T) {
	file := server.Config{Addr: "file:1", DataDir: "/file", Database: "mysql://f:f@file/f", MaxConnections: 7}
	env := server.ConfigFromEnv(func(name string) (string, bool) {
		v, ok := map[string]string{
			server.EnvData: "/env", server.EnvObjectStore: "s3://env-bucket",
			server.EnvAccessKeyID: "AKID", server.EnvSecretAccessKey: "SECRET",
		}[name]
		return v, ok
	})
	flags := server.Config{Addr: "flag:1"}
	got := flags.Or(env).Or(file)
	want := server.Config{Addr: "flag:1", DataDir: "/env", Database: "mysql://f:f@file/f", ObjectStore: "s3://env-bucket", MaxConnections: 7,
		ObjectStoreCredentials: server.Credentials{AccessKeyID: "AKID", SecretAccessKey: "SECRET"}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(server.Config{})); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}
