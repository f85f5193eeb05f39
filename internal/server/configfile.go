package server

import (
	"bytes"
	"fmt"
	"reflect"

	"go.yaml.in/yaml/v3"

	"hallmark.dev/internal/jsonstrict"
	"hallmark.dev/internal/jsonstrict/yamlstrict"
)

// MaxConfigFile bounds a configuration file.
const MaxConfigFile = 1 << 20

// ParseConfig reads a configuration file (`hallmark serve --config FILE`):
// one YAML document whose keys are the yaml names of Config's fields, for
// example
//
//	addr: 0.0.0.0:5005
//	data: /var/lib/hallmark
//	publicURL: https://sigstore.example.com
//	database: mysql://hallmark:PASSWORD@db.internal:3306/hallmark
//	objectStore: s3://hallmark-prod?region=eu-west-3
//	issuers:
//	  - {type: github-workflow, url: https://token.actions.githubusercontent.com}
//	readHeaderTimeout: 30s
//
// An unknown or repeated key, an anchor or an alias is refused with its
// line. The object store's credentials are never read from the file.
func ParseConfig(data []byte) (Config, error) {
	if len(data) > MaxConfigFile {
		return Config{}, fmt.Errorf("configuration: %d bytes, over the %d byte limit", len(data), MaxConfigFile)
	}
	// yamlstrict refuses repeated keys, anchors, aliases and tags; the
	// decoder then refuses keys Config does not have.
	root, err := yamlstrict.Parse(data, jsonstrict.Rules{})
	if err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	var cfg Config
	if root == nil {
		return cfg, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

// Environment variables of `hallmark serve`, for containers: each sets the
// Config field of the same name.
const (
	EnvAddr        = "HALLMARK_ADDR"
	EnvData        = "HALLMARK_DATA"
	EnvPublicURL   = "HALLMARK_PUBLIC_URL"
	EnvDatabase    = "HALLMARK_DATABASE"
	EnvObjectStore = "HALLMARK_OBJECT_STORE"
	// The object store's credentials, as the AWS tools name them.
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
)

// ConfigFromEnv returns the configuration the environment variables set,
// looked up with lookup (os.LookupEnv in the command).
func ConfigFromEnv(lookup func(string) (string, bool)) Config {
	get := func(name string) string {
		v, _ := lookup(name)
		return v
	}
	return Config{
		Addr:        get(EnvAddr),
		DataDir:     get(EnvData),
		PublicURL:   get(EnvPublicURL),
		Database:    get(EnvDatabase),
		ObjectStore: get(EnvObjectStore),
		ObjectStoreCredentials: Credentials{
			AccessKeyID:     get(EnvAccessKeyID),
			SecretAccessKey: get(EnvSecretAccessKey),
		},
	}
}

// Or returns c with each field that is zero in c (an empty string or
// list, false, 0, nil) taken from fallback: flags Or environment Or file.
func (c Config) Or(fallback Config) Config {
	out := reflect.ValueOf(&c).Elem()
	fb := reflect.ValueOf(fallback)
	for i := range out.NumField() {
		if f := out.Field(i); f.CanSet() && f.IsZero() {
			f.Set(fb.Field(i))
		}
	}
	return c
}
