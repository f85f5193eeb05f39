package cip_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"hallmark.dev/internal/admission/cip"
)

// FuzzParseClusterImagePolicy: parsing never panics, and a policy that
// parses and validates reads the same once written back.
func FuzzParseClusterImagePolicy(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "policy-controller", "*", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	seeds := 0
	for _, file := range files {
		for _, d := range docs(f, file) {
			f.Add(d.json)
			seeds++
		}
	}
	if seeds == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := cip.ParseClusterImagePolicy(data)
		if err != nil {
			return
		}
		c.SetDefaults()
		if _, err := c.Validate(cip.Options{}); err != nil {
			return
		}
		for _, im := range c.Spec.Images {
			g, err := cip.CompileGlob(im.Glob)
			if err != nil {
				t.Fatalf("validated glob %q does not compile: %v", im.Glob, err)
			}
			g.Match("registry.example/app:v1")
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := cip.ParseClusterImagePolicy(out)
		if err != nil {
			t.Fatalf("written back, the policy does not parse: %v\n%s", err, out)
		}
		out2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("the policy changed when read back:\n%s\n%s", out, out2)
		}
	})
}
