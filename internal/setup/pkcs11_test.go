//go:build cgo

package setup

import (
	"context"
	"errors"
	"testing"

	"hallmark.dev/internal/pkcs11key"
	"hallmark.dev/internal/testkit"
)

func TestNewSignerPKCS11(t *testing.T) {
	h := testkit.StartSoftHSM(t, "hallmark")
	if err := h.KeyGen("EC:prime256v1", "release", "01"); err != nil {
		t.Fatal(err)
	}
	asked := 0
	password := func() ([]byte, error) { asked++; return nil, errors.New("no password for a token") }
	s, err := NewSigner(context.Background(), Signing{KeyPath: h.URI("release"), Password: password})
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	if _, _, err := s.Keypair.SignData(context.Background(), []byte("data")); err != nil {
		t.Errorf("SignData: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if asked != 0 {
		t.Errorf("password asked %d times for a key in a token", asked)
	}
	// The module and PIN from the options, as the CLI passes cosign's
	// environment variables.
	s, err = NewSigner(context.Background(), Signing{KeyPath: "pkcs11:token=hallmark;object=release",
		PKCS11: pkcs11key.Options{ModulePath: h.Module, PIN: func(string) (string, error) { return h.PIN, nil }}})
	if err != nil {
		t.Fatalf("NewSigner with options: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	_, err = NewSigner(context.Background(), Signing{KeyPath: "pkcs11:token=hallmark;object=release?pin-value=0000&module-path=" + h.Module})
	if !errors.Is(err, pkcs11key.ErrWrongPIN) {
		t.Errorf("wrong PIN: got %v, want ErrWrongPIN", err)
	}
}
