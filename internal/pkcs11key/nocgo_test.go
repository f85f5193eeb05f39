//go:build !cgo

package pkcs11key

import (
	"errors"
	"strings"
	"testing"

	"hallmark.dev/keys"
)

// TestNotBuiltIn: without cgo, every entry point says so, and an invalid
// URI is still refused for what it is.
func TestNotBuiltIn(t *testing.T) {
	const uri = "pkcs11:token=T;object=O?module-path=/m.so"
	u, err := ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	_, errOpen := Open(uri, Options{})
	_, errOpenURI := OpenURI(u, Options{})
	_, errTokens := ListTokens("/m.so")
	_, errKeys := ListKeys(u, Options{})
	_, errGen := Generate(u, Options{}, keys.ECDSAP256)
	for _, err := range []error{errOpen, errOpenURI, errTokens, errKeys, errGen} {
		if !errors.Is(err, ErrNotBuiltIn) || !strings.Contains(err.Error(), "built without cgo (CGO_ENABLED=0)") {
			t.Errorf("got %v, want ErrNotBuiltIn", err)
		}
	}
	if _, err := Open("pkcs11:colour=blue", Options{}); !errors.Is(err, ErrInvalidURI) {
		t.Errorf("invalid URI: got %v, want ErrInvalidURI", err)
	}
}
