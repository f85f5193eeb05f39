// Command sgverify verifies an attestation bundle with sigstore-go's
// verifier the standard way, for bench/bigattest/run to measure next to
// hallmark: the bundle loaded with bundle.LoadJSONFromPath, a verifier
// from verify.NewVerifier, and Verify with the artifact's digest and the
// expected key or identity. It checks the statement's predicate type, as
// hallmark verify-blob-attestation --type does.
//
//	sgverify -bundle B -digest sha256:<hex> -type URI (-key PUB.pem | -trusted-root R -identity I -issuer U [-tlog])
//
// With no -bundle it exits at once, to measure the Go runtime's baseline.
package main

import (
	"crypto"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

func main() {
	var (
		bundlePath  = flag.String("bundle", "", "the attestation bundle")
		digest      = flag.String("digest", "", "the artifact's digest, sha256:<hex>")
		predType    = flag.String("type", "", "the predicate type URI")
		keyPath     = flag.String("key", "", "PEM public key")
		trustedRoot = flag.String("trusted-root", "", "trusted_root.json")
		identity    = flag.String("identity", "", "certificate identity")
		issuer      = flag.String("issuer", "", "OIDC issuer")
		tlog        = flag.Bool("tlog", false, "require a transparency log entry (else a signed timestamp)")
	)
	flag.Parse()
	if *bundlePath == "" {
		return
	}
	if err := run(*bundlePath, *digest, *predType, *keyPath, *trustedRoot, *identity, *issuer, *tlog); err != nil {
		fmt.Fprintln(os.Stderr, "sgverify:", err)
		os.Exit(1)
	}
	fmt.Println("verified")
}

func run(bundlePath, digest, predType, keyPath, trustedRoot, identity, issuer string, tlog bool) error {
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	if !ok {
		return errors.New("-digest: want sha256:<hex>")
	}
	d, err := hex.DecodeString(hexDigest)
	if err != nil {
		return err
	}
	b, err := bundle.LoadJSONFromPath(bundlePath)
	if err != nil {
		return err
	}
	var (
		v      *verify.Verifier
		policy []verify.PolicyOption
	)
	switch {
	case keyPath != "":
		pem, err := os.ReadFile(keyPath)
		if err != nil {
			return err
		}
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(pem)
		if err != nil {
			return err
		}
		sv, err := signature.LoadDefaultVerifier(pub.(crypto.PublicKey), options.WithED25519ph())
		if err != nil {
			return err
		}
		tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
			return root.NewExpiringKey(sv, time.Time{}, time.Time{}), nil
		})
		if v, err = verify.NewVerifier(tm, verify.WithNoObserverTimestamps()); err != nil {
			return err
		}
		policy = append(policy, verify.WithKey())
	default:
		tr, err := root.NewTrustedRootFromPath(trustedRoot)
		if err != nil {
			return err
		}
		opts := []verify.VerifierOption{verify.WithSignedTimestamps(1)}
		if tlog {
			opts = []verify.VerifierOption{verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1)}
		}
		if v, err = verify.NewVerifier(tr, opts...); err != nil {
			return err
		}
		id, err := verify.NewShortCertificateIdentity(issuer, "", identity, "")
		if err != nil {
			return err
		}
		policy = append(policy, verify.WithCertificateIdentity(id))
	}
	res, err := v.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", d), policy...))
	if err != nil {
		return err
	}
	if res.Statement == nil || res.Statement.GetPredicateType() != predType {
		return fmt.Errorf("predicate type %q, want %q", res.Statement.GetPredicateType(), predType)
	}
	return nil
}
