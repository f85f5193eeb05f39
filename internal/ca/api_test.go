package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"testing"
)

func TestParseRequestToken(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	body := func(bodyToken string) []byte {
		r := signingCertRequest{PublicKeyRequest: &publicKeyRequest{
			PublicKey:         &publicKey{Content: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
			ProofOfPossession: "AAAA",
		}}
		if bodyToken != "" {
			r.Credentials = &credentials{OIDCIdentityToken: bodyToken}
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name       string
		bodyToken  string
		header     string
		want       string
		wantStatus int
	}{
		{name: "header", header: "Bearer t1", want: "t1"},
		{name: "lowercase scheme", header: "bearer t1", want: "t1"},
		{name: "extra space", header: "Bearer  t1", want: "t1"},
		{name: "body", bodyToken: "t2", want: "t2"},
		{name: "body and same header", bodyToken: "t2", header: "Bearer t2", want: "t2"},
		{name: "body and other header", bodyToken: "t2", header: "Bearer t1", wantStatus: http.StatusBadRequest},
		{name: "body and basic auth", bodyToken: "t2", header: "Basic dTpw", want: "t2"},
		{name: "basic auth only", header: "Basic dTpw", wantStatus: http.StatusUnauthorized},
		{name: "empty bearer", header: "Bearer ", wantStatus: http.StatusUnauthorized},
		{name: "nothing", wantStatus: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseRequest(body(tt.bodyToken), tt.header)
			if tt.wantStatus != 0 {
				var ae *apiError
				if !errors.As(err, &ae) || ae.status != tt.wantStatus {
					t.Fatalf("got %v, want status %d", err, tt.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRequest: %v", err)
			}
			if r.token != tt.want {
				t.Errorf("got token %q, want %q", r.token, tt.want)
			}
		})
	}
}
