package sharedstore_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/internal/sharedstore"
)

func TestParseDatabase(t *testing.T) {
	for _, tc := range []struct {
		url     string
		want    sharedstore.Database
		wantErr string
	}{
		{url: "mysql://hm:s3cret@db.example:3307/hallmark", want: sharedstore.Database{User: "hm", Password: "s3cret", Addr: "db.example:3307", Name: "hallmark"}},
		{url: "mysql://hm:s3cret@db.example/hallmark?tls=true", want: sharedstore.Database{User: "hm", Password: "s3cret", Addr: "db.example:3306", Name: "hallmark", TLS: "true"}},
		{url: "mysql://hm@[::1]:3306/h_1", want: sharedstore.Database{User: "hm", Addr: "[::1]:3306", Name: "h_1"}},
		{url: "postgres://hm:s3cret@db/hallmark", wantErr: `scheme "postgres"`},
		{url: "mysql://db.example/hallmark", wantErr: "no user"},
		{url: "mysql://hm:s3cret@db.example/", wantErr: `database name ""`},
		{url: "mysql://hm:s3cret@db.example/hall-mark", wantErr: `database name "hall-mark"`},
		{url: "mysql://hm:s3cret@db.example/" + strings.Repeat("a", 59), wantErr: "1 to 58"},
		{url: "mysql://hm:s3cret@db.example:99999/hallmark", wantErr: `port "99999"`},
		{url: "mysql://hm:s3cret@db.example/hallmark?parseTime=true", wantErr: `parameter "parseTime"`},
	} {
		t.Run(tc.url, func(t *testing.T) {
			got, err := sharedstore.ParseDatabase(tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestParseObjectStore(t *testing.T) {
	for _, tc := range []struct {
		url     string
		want    sharedstore.ObjectStore
		wantErr string
	}{
		{url: "s3://hallmark-prod", want: sharedstore.ObjectStore{Bucket: "hallmark-prod", Region: "us-east-1"}},
		{url: "s3://hmk?endpoint=http://127.0.0.1:9000&path-style=true&region=eu-west-3", want: sharedstore.ObjectStore{Bucket: "hmk", Endpoint: "http://127.0.0.1:9000", PathStyle: true, Region: "eu-west-3"}},
		{url: "gs://hm", wantErr: `scheme "gs"`},
		{url: "s3://Hallmark", wantErr: "not a valid S3 bucket name"},
		{url: "s3://key:secret@hm", wantErr: "no user"},
		{url: "s3://hm/prefix", wantErr: "no user, path"},
		{url: "s3://hmk?endpoint=127.0.0.1:9000", wantErr: "want http(s)://HOST[:PORT]"},
		{url: "s3://hmk?path-style=yes", wantErr: `path-style "yes"`},
		{url: "s3://hmk?acl=public", wantErr: `unknown parameter "acl"`},
	} {
		t.Run(tc.url, func(t *testing.T) {
			got, err := sharedstore.ParseObjectStore(tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	if got, want := sharedstore.Redact("mysql://hm:s3cret@db:3306/h"), "mysql://hm:xxxxx@db:3306/h"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestErrorsWithholdSecrets: no error of a malformed URL repeats a
// password or a key, wherever the user put it: in the query, in a password
// url.Parse does not see as one, in an object store's user part or in its
// endpoint.
func TestErrorsWithholdSecrets(t *testing.T) {
	for _, tc := range []struct {
		url, wantErr string
		parse        func(string) error
	}{
		{"mysql://hallmark@db:3306/hallmark?password=S3CRET", `parameter "password"`, parseDatabase},
		{"mysql://hallmark:8812/Xy9S3CRET@db/hm", "no user", parseDatabase},
		{"mysql://hm:S3CRET@db/hallmark#S3CRET", "unexpected fragment", parseDatabase},
		{"postgres://hm:S3CRET@db/hallmark?x=S3CRET", `scheme "postgres"`, parseDatabase},
		{"s3://AKIAX:S3CRET@bucket", "no user", parseObjectStore},
		{"s3://bucket?secret_key=S3CRET", `unknown parameter "secret_key"`, parseObjectStore},
		{"s3://bucket?endpoint=http://u:S3CRET@minio:9000", "want http(s)://HOST[:PORT]", parseObjectStore},
		{"s3://bucket?region=&k=S3CRET", "", parseObjectStore},
		{"gs://AKIAX:S3CRET@bucket", `scheme "gs"`, parseObjectStore},
	} {
		t.Run(tc.url, func(t *testing.T) {
			err := tc.parse(tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "S3CRET") {
				t.Fatalf("the error repeats the secret: %v", err)
			}
		})
	}
	for _, raw := range []string{"mysql://hallmark:8812/Xy9S3CRET@db/hm", "mysql://hm:S3CRET@db/h?password=S3CRET", "s3://AKIAX:S3CRET@bucket"} {
		if got := sharedstore.Redact(raw); strings.Contains(got, "S3CRET") {
			t.Errorf("Redact(%q) = %q, repeats the secret", raw, got)
		}
	}
}

func parseDatabase(raw string) error {
	_, err := sharedstore.ParseDatabase(raw)
	return err
}

func parseObjectStore(raw string) error {
	_, err := sharedstore.ParseObjectStore(raw)
	return err
}

func TestOpenRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     sharedstore.Config
		wantErr string
	}{
		{"database alone", sharedstore.Config{Database: "mysql://u:p@h/d"}, "both a database and an object store"},
		{"no credentials", sharedstore.Config{Database: "mysql://u:p@h/d", ObjectStore: "s3://hmk"}, "no object store credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sharedstore.Open(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
