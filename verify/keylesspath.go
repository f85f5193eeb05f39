package verify

import (
	"crypto"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
)

// A keyless signature is verified by one of two implementations of
// keylessVerifier, built together (newKeylessVerifiers) and chosen in one
// place (Keyless.verifySigned):
//
//   - fullVerifier is sigstore-go's verification, the reference: its
//     verdict is the verdict;
//   - cachedVerifier (keylesscache.go) makes the same checks with what it
//     verified before remembered, about ten times faster on warm caches.
//     It may leave any signature to the full verification (an error
//     wrapping errUndecided); it must never accept a signature the full
//     verification rejects, nor reject one it accepts, and an accepted
//     signature must give the same result.
//
// FuzzKeylessPaths holds the cached path to that contract on mutated
// bundles (signature, certificate, inclusion proof, checkpoint, log
// index, timestamps, DSSE payload); TestKeylessPathsAgree runs it on a
// fixed set of mutations.
type keylessVerifier interface {
	// verify checks a signed entity about art, as sigstore-go's Verify
	// does, then post (when not nil: the statement checks of a signature
	// checked over the PAE digest, see signed.variant), then the
	// certificate identity: the order sigstore-go checks an envelope's
	// statement and the identity in.
	verify(entity sgverify.SignedEntity, art artifact, post func() error) (*sgverify.VerificationResult, error)
}

var (
	_ keylessVerifier = (*fullVerifier)(nil)
	_ keylessVerifier = (*cachedVerifier)(nil)
)

// errUndecided is what the cached path returns, wrapped, for a signature
// it leaves to the full verification.
var errUndecided = errors.New("left to the full verification")

// undecided wraps err, a reason the cached path gives up, in errUndecided.
func undecided(err error) error {
	if err == nil || errors.Is(err, errUndecided) {
		return err
	}
	return fmt.Errorf("%w: %w", errUndecided, err)
}

// newKeylessVerifiers builds both verifiers over the trusted root (the
// cached one over the cache's view of it) with the same sigstore-go
// options. requireTlog and requireSCTs say what opts require: a log
// entry, and an SCT.
func newKeylessVerifiers(tr root.TrustedMaterial, cache *keylessCache, ids []sgverify.CertificateIdentity, opts []sgverify.VerifierOption, requireTlog, requireSCTs bool) (*fullVerifier, *cachedVerifier, error) {
	v, err := sgverify.NewVerifier(tr, opts...)
	if err != nil {
		return nil, nil, err
	}
	cv, err := sgverify.NewVerifier(cache.material, opts...)
	if err != nil {
		return nil, nil, err
	}
	return &fullVerifier{verifier: v, identities: ids},
		&cachedVerifier{cache: cache, verifier: cv, root: tr, identities: ids, requireTlog: requireTlog, requireSCTs: requireSCTs},
		nil
}

// verifySigned is where a keyless signature's verifier is chosen: the
// cached path first, the full verification when the cached one leaves
// the signature to it (or when there is no cached path).
func (k *Keyless) verifySigned(entity sgverify.SignedEntity, art artifact, post func() error) (*sgverify.VerificationResult, error) {
	if k.cached != nil {
		res, err := k.cached.verify(entity, art, post)
		if !errors.Is(err, errUndecided) {
			return res, err
		}
	}
	return k.full.verify(entity, art, post)
}

// keylessVariant is what a keyless signature's verifiers are handed (see
// signed.variant), for the certificate's key.
func keylessVariant(s signed) (sgverify.SignedEntity, artifact, func() error) {
	var (
		h   crypto.Hash
		pub crypto.PublicKey
	)
	if vc, err := s.entity.VerificationContent(); err == nil && vc.Certificate() != nil {
		pub = vc.Certificate().PublicKey
		h = certificateHash(pub)
	}
	return s.variant(h, pub)
}

// fullVerifier is sigstore-go's verification of a keyless signature.
type fullVerifier struct {
	verifier   *sgverify.Verifier
	identities []sgverify.CertificateIdentity
}

func (v *fullVerifier) verify(entity sgverify.SignedEntity, art artifact, post func() error) (*sgverify.VerificationResult, error) {
	if post == nil {
		var policy []sgverify.PolicyOption
		for _, ci := range v.identities {
			policy = append(policy, sgverify.WithCertificateIdentity(ci))
		}
		return v.verifier.Verify(entity, sgverify.NewPolicy(art.option(), policy...))
	}
	// sigstore-go checks the identity after the signature and the
	// statement; so does this, after post.
	res, err := v.verifier.Verify(entity, sgverify.NewPolicy(art.option(), sgverify.WithoutIdentitiesUnsafe()))
	if err == nil {
		err = post()
	}
	if err == nil {
		err = checkIdentity(v.identities, res)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// checkIdentity is sigstore-go's identity check of a verified result.
func checkIdentity(ids []sgverify.CertificateIdentity, res *sgverify.VerificationResult) error {
	if res.Signature == nil || res.Signature.Certificate == nil {
		return errors.New("can't verify certificate identities: entity was not signed with a certificate")
	}
	if _, err := sgverify.CertificateIdentities(ids).Verify(*res.Signature.Certificate); err != nil {
		return fmt.Errorf("failed to verify certificate identity: %w", err)
	}
	return nil
}
