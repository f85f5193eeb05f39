package sign_test

import (
	"errors"
	"testing"
	"time"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/keys"
	"hallmark.dev/sign"
)

// signingConfig names a CA, a Rekor v2 log and, when tsa, a timestamp
// authority; nothing is contacted until something is signed.
func signingConfig(t *testing.T, tsa bool) *root.SigningConfig {
	t.Helper()
	start := time.Now().Add(-time.Hour)
	svc := func(url string, v uint32) []root.Service {
		return []root.Service{{URL: url, MajorAPIVersion: v, ValidityPeriodStart: start}}
	}
	var tsas []root.Service
	if tsa {
		tsas = svc("https://tsa.example/api/v1/timestamp", 1)
	}
	exact := root.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_EXACT, Count: 1}
	sc, err := root.NewSigningConfig(root.SigningConfigMediaType02, svc("https://ca.example", 1), nil,
		svc("https://log.example", 2), exact, tsas, root.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// New resolves key or token and services, refusing what contradicts
// itself or cannot give a verifiable signature.
func TestNew(t *testing.T) {
	key, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	const token = "header.payload.signature"
	withTSA, noTSA := signingConfig(t, true), signingConfig(t, false)
	for _, tc := range []struct {
		name string
		cfg  sign.Config
		want error // nil: built
		// logs and tsOnly say what a built signer signs with.
		logs, tsOnly bool
	}{
		{"key alone", sign.Config{Key: key}, nil, false, false},
		{"key with services", sign.Config{Key: key, SigningConfig: withTSA}, nil, true, true},
		{"key, log skipped", sign.Config{Key: key, SigningConfig: withTSA, SkipTlogUnsafe: true}, nil, false, true},
		{"key, no timestamp", sign.Config{Key: key, SigningConfig: noTSA, SkipTimestamp: true}, nil, true, false},
		{"keyless", sign.Config{IDToken: token, SigningConfig: withTSA}, nil, true, true},

		{"neither", sign.Config{SigningConfig: withTSA}, sign.ErrNoSigner, false, false},
		{"key and token", sign.Config{Key: key, IDToken: token, SigningConfig: withTSA}, sign.ErrKeyAndToken, false, false},
		{"keyless without services", sign.Config{IDToken: token}, sign.ErrKeylessNoConfig, false, false},
		{"log required without services", sign.Config{Key: key, RequireTlog: true}, sign.ErrNoTlogConfigured, false, false},
		{"log required and skipped", sign.Config{Key: key, SigningConfig: withTSA, RequireTlog: true, SkipTlogUnsafe: true}, sign.ErrTlogChoice, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sign.New(tc.cfg)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || s != nil {
					t.Fatalf("got %v, %v; want %v", s, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Keypair == nil {
				t.Fatal("no keypair")
			}
			if got := len(s.Options.BundleOptions.TransparencyLogs) > 0; got != tc.logs {
				t.Errorf("logs: %v, want %v", got, tc.logs)
			}
			if got := s.TimestampOnly != nil; got != tc.tsOnly {
				t.Errorf("timestamp-only options: %v, want %v", got, tc.tsOnly)
			}
		})
	}
	// Keyless with neither a log entry nor a timestamp: nobody could tell
	// the signature was made while the certificate was valid.
	if _, err := sign.New(sign.Config{IDToken: token, SigningConfig: withTSA, SkipTlogUnsafe: true, SkipTimestamp: true}); err == nil {
		t.Error("keyless with neither a log entry nor a timestamp: got no error")
	}
}
