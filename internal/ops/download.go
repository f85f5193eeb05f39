package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"hallmark.dev/attest"
	"hallmark.dev/oci/store"
	"hallmark.dev/sbom"
	"hallmark.dev/verify"
)

// DownloadRequest says whose attestations to download: nothing is
// downloaded that does not verify.
type DownloadRequest struct {
	Reference  string
	Repository string
	Authority  verify.Authority
	// PredicateTypes are the predicate type URIs wanted; at least one.
	PredicateTypes []string
}

// DownloadResult holds the verified attestations of the wanted types.
type DownloadResult struct {
	Image    string
	Verified []verify.VerifiedAttestation
	// Rejected are the attestations found that did not verify or are of
	// other types.
	Rejected []*verify.SignatureError
}

// Statements returns the verified statements, one compact JSON per line.
func (r *DownloadResult) Statements() ([]byte, error) {
	var b bytes.Buffer
	for _, v := range r.Verified {
		if err := json.Compact(&b, v.Payload); err != nil {
			return nil, fmt.Errorf("%s: %w", v.Source, err)
		}
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// DownloadAttestations resolves the reference once, fetches its
// attestations once and verifies them for each wanted predicate type, as
// VerifyAttestations does. It fails, naming why for each attestation, when
// none verifies.
func DownloadAttestations(ctx context.Context, c *store.Client, req DownloadRequest) (*DownloadResult, error) {
	if len(req.PredicateTypes) == 0 {
		return nil, errors.New("no predicate type given")
	}
	f, err := fetchAttestations(ctx, c, req.Reference, req.Repository)
	if err != nil {
		return nil, err
	}
	out := &DownloadResult{Image: f.d.String()}
	var firstErr error
	rejected := map[string]*verify.SignatureError{}
	var order []string
	for _, pt := range req.PredicateTypes {
		res, err := verifyFetched(ctx, f, VerifyAttestationsRequest{Policy: verify.AttestationPolicy{Authority: req.Authority, PredicateType: pt}})
		if res != nil && res.AttestationResult != nil {
			out.Verified = append(out.Verified, res.Verified...)
			for _, r := range res.Rejected {
				if _, seen := rejected[r.Source]; !seen {
					rejected[r.Source] = r
					order = append(order, r.Source)
				}
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	// An attestation rejected for its type by one pass may have verified in
	// another.
	for _, src := range order {
		if !verifiedFrom(out.Verified, src) {
			out.Rejected = append(out.Rejected, rejected[src])
		}
	}
	if len(out.Verified) > 0 {
		return out, nil
	}
	var nv *verify.NoValidSignatureError
	if len(req.PredicateTypes) == 1 || !errors.As(firstErr, &nv) {
		return out, firstErr
	}
	return out, fmt.Errorf("no %s attestation verified: %w", strings.Join(req.PredicateTypes, " or "),
		&verify.NoValidSignatureError{Subject: f.d.DigestStr(), Rejected: out.Rejected})
}

func verifiedFrom(vs []verify.VerifiedAttestation, src string) bool {
	for _, v := range vs {
		if v.Source == src {
			return true
		}
	}
	return false
}

// SBOMTypes are the predicate types of SBOM attestations.
var SBOMTypes = []string{attest.PredicateCycloneDX, attest.PredicateSPDX}

// SBOMDownload is the SBOM of the newest verified SBOM attestation.
type SBOMDownload struct {
	Image         string
	Source        string
	PredicateType string
	// Predicate is the SBOM, byte for byte as signed.
	Predicate json.RawMessage
	// Signed is the earliest verified time of the signature (timestamp
	// authority or transparency log), zero if it has none; Created is the
	// creation time the signed SBOM states, zero if none.
	Signed  time.Time
	Created time.Time
}

// ErrSBOMAmbiguous is returned (wrapped) by DownloadSBOM when several
// verified SBOMs are equally new.
var ErrSBOMAmbiguous = errors.New("no time tells which SBOM is newest")

// DownloadSBOM verifies the image's SBOM attestations of the given types
// (CycloneDX and SPDX when none is given) and returns the predicate of the
// newest. Newest is decided by the earliest verified time of each signature
// (timestamp authority or transparency log), then by the creation time the
// signed SBOM states; when that leaves several equally new, it refuses
// rather than pick one.
func DownloadSBOM(ctx context.Context, c *store.Client, req DownloadRequest) (*SBOMDownload, error) {
	if len(req.PredicateTypes) == 0 {
		req.PredicateTypes = SBOMTypes
	}
	for _, pt := range req.PredicateTypes {
		if pt != attest.PredicateCycloneDX && pt != attest.PredicateSPDX {
			return nil, fmt.Errorf("predicate type %s is not an SBOM type (%s)", pt, strings.Join(SBOMTypes, ", "))
		}
	}
	res, err := DownloadAttestations(ctx, c, req)
	if err != nil {
		return nil, err
	}
	var best []SBOMDownload
	for _, v := range res.Verified {
		cand := SBOMDownload{Image: res.Image, Source: v.Source, PredicateType: v.Statement.PredicateType,
			Predicate: v.Statement.Predicate, Signed: v.Signer.EarliestVerifiedTime()}
		if doc, err := sbom.Parse(v.Statement.Predicate); err == nil {
			cand.Created = doc.Created
		}
		switch c := len(best); {
		case c == 0 || newer(cand, best[0]) > 0:
			best = []SBOMDownload{cand}
		case newer(cand, best[0]) == 0:
			best = append(best, cand)
		}
	}
	if len(best) > 1 {
		srcs := make([]string, len(best))
		for i, b := range best {
			srcs[i] = b.Source
		}
		return nil, fmt.Errorf("%d SBOM attestations of %s verified and %w (verified signing times and stated creation times are equal or absent): %s",
			len(best), res.Image, ErrSBOMAmbiguous, strings.Join(srcs, ", "))
	}
	return &best[0], nil
}

// newer compares a and b by verified signing time (the earliest: a
// timestamp added to the bundle later, as anyone may stamp a signature
// again, must not make an old attestation the newest), then by creation
// time.
func newer(a, b SBOMDownload) int {
	if c := a.Signed.Compare(b.Signed); c != 0 {
		return c
	}
	return a.Created.Compare(b.Created)
}
