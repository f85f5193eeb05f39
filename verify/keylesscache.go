package verify

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	rekornote "github.com/sigstore/rekor-tiles/v2/pkg/note"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	rekorverify "github.com/sigstore/rekor-tiles/v2/pkg/verify"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// Keyless verification re-done on the same bundles (a verifier that
// checks the same images again and again) spends most of its time on
// what does not change from one call to the next: certificate chains
// (P-384 signatures), RFC 3161 timestamps (a PKCS#7 signature and a chain)
// and log checkpoints (a note signature). keylessCache remembers those
// verified results, keyed by the exact bytes verified, and cachedVerifier
// runs sigstore-go's verification with them:
//
//   - a certificate chain is kept for the exact leaf DER and intermediates
//     (and CA); at each use the chain must still be valid at the time being
//     checked: every certificate's validity and the CA's validity period
//     are checked against it, as x509 and sigstore-go do;
//   - a timestamp is kept for the exact RFC 3161 response and the exact
//     signature it stamps (its verification depends on nothing else);
//   - a checkpoint is kept for the exact signed note and log key; the
//     entry's inclusion proof is checked against it at each use.
//
// The identity, the artifact signature, the entry's hash and inclusion,
// the timestamps' threshold and the statement are checked at every call.
// Only successes are kept, and only successes of the cached path are
// final: when it fails, for whatever reason, it leaves the signature to
// the full sigstore-go verification (errUndecided), which gives the
// verdict and the error. The caches are bounded (least recently used
// entries go first) and safe for concurrent use.
type keylessCache struct {
	root        root.TrustedMaterial
	material    root.TrustedMaterial // root with the timestamp authorities cached
	chains      *lru[[][]*x509.Certificate]
	checkpoints *lru[*flog.Checkpoint]
	stamps      *lru[root.Timestamp]
	// scts remembers the leaf-and-issuers sets whose SCT check passed;
	// entryHashes, the Rekor v2 leaf hash of a (digest, signature,
	// certificate) triple.
	scts        *lru[struct{}]
	entryHashes *lru[[]byte]
	bundles     *lru[*memoBundle]
	logs        map[string]logNote // by hex log key ID
}

// Cache sizes: a chain is a few kilobytes, a timestamp and a checkpoint
// well under one.
const (
	maxCachedChains      = 4096
	maxCachedTimestamps  = 4096
	maxCachedCheckpoints = 1024
	maxCachedSCTs        = 4096
	maxCachedEntryHashes = 4096
)

type logNote struct {
	verifier sumdbnote.Verifier
	err      error
}

func newKeylessCache(tr root.TrustedMaterial) *keylessCache {
	c := &keylessCache{
		root:        tr,
		chains:      newLRU[[][]*x509.Certificate](maxCachedChains),
		checkpoints: newLRU[*flog.Checkpoint](maxCachedCheckpoints),
		stamps:      newLRU[root.Timestamp](maxCachedTimestamps),
		scts:        newLRU[struct{}](maxCachedSCTs),
		entryHashes: newLRU[[]byte](maxCachedEntryHashes),
		bundles:     newLRU[*memoBundle](maxCachedBundles),
		logs:        map[string]logNote{},
	}
	var tsas []root.TimestampingAuthority
	for i, t := range tr.TimestampingAuthorities() {
		tsas = append(tsas, &cachedTSA{TimestampingAuthority: t, index: i, cache: c.stamps})
	}
	c.material = &cachedMaterial{TrustedMaterial: tr, tsas: tsas}
	for id, l := range tr.RekorLogs() {
		c.logs[id] = newLogNote(l)
	}
	return c
}

// newLogNote builds the checkpoint verifier sigstore-go builds for a
// Rekor v2 log.
func newLogNote(l *root.TransparencyLog) logNote {
	if l.BaseURL == "" {
		return logNote{err: errors.New("cannot verify Rekor v2 entry without baseUrl in transparency log's trusted root")}
	}
	u, err := url.Parse(l.BaseURL)
	if err != nil {
		return logNote{err: err}
	}
	v, err := signature.LoadVerifier(l.PublicKey, l.SignatureHashFunc)
	if err != nil {
		return logNote{err: err}
	}
	nv, err := rekornote.NewNoteVerifier(u.Hostname(), v)
	if err != nil {
		return logNote{err: fmt.Errorf("loading note verifier: %w", err)}
	}
	return logNote{verifier: nv}
}

// key joins byte strings into a map key that no other list of byte
// strings makes.
func key(parts ...[]byte) string {
	size := 0
	for _, p := range parts {
		size += binary.MaxVarintLen64 + len(p)
	}
	var b strings.Builder
	b.Grow(size)
	var n [binary.MaxVarintLen64]byte
	for _, p := range parts {
		b.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		b.Write(p)
	}
	return b.String()
}

// cachedMaterial is trusted material whose timestamp authorities remember
// what they verified.
type cachedMaterial struct {
	root.TrustedMaterial
	tsas []root.TimestampingAuthority
}

func (m *cachedMaterial) TimestampingAuthorities() []root.TimestampingAuthority { return m.tsas }

// cachedTSA remembers the timestamps a timestamp authority verified. Its
// Verify depends on the response, the signature and the authority only
// (the chain is checked at the time in the response).
type cachedTSA struct {
	root.TimestampingAuthority
	index int
	cache *lru[root.Timestamp]
}

func (t *cachedTSA) Verify(signedTimestamp, signatureBytes []byte) (*root.Timestamp, error) {
	k := key([]byte(strconv.Itoa(t.index)), signedTimestamp, signatureBytes)
	if ts, ok := t.cache.get(k); ok {
		return &ts, nil
	}
	ts, err := t.TimestampingAuthority.Verify(signedTimestamp, signatureBytes)
	if err != nil {
		return nil, err
	}
	t.cache.add(k, *ts)
	return ts, nil
}

// leafChains is sigstore-go's certificate check (the first of the root's
// CAs that verifies the leaf at t, with the bundle's intermediates added
// to Fulcio CAs) with the chains remembered.
func (c *keylessCache) leafChains(leaf *x509.Certificate, intermediates []*x509.Certificate, t time.Time) ([][]*x509.Certificate, error) {
	ders := [][]byte{leaf.Raw}
	for _, ic := range intermediates {
		ders = append(ders, ic.Raw)
	}
	cas := c.root.FulcioCertificateAuthorities()
	for i, ca := range cas {
		fca, ok := ca.(*root.FulcioCertificateAuthority)
		if !ok {
			continue
		}
		chains, ok := c.chains.get(key(append([][]byte{[]byte(strconv.Itoa(i))}, ders...)...))
		if !ok || !caValidAt(fca, t) {
			continue
		}
		var valid [][]*x509.Certificate
		for _, chain := range chains {
			if chainValidAt(chain, t) {
				valid = append(valid, chain)
			}
		}
		if len(valid) > 0 {
			return valid, nil
		}
	}
	for i, ca := range cas {
		fca, isFulcio := ca.(*root.FulcioCertificateAuthority)
		if isFulcio && len(intermediates) > 0 {
			with := *fca
			with.Intermediates = append(append([]*x509.Certificate{}, fca.Intermediates...), intermediates...)
			ca = &with
		}
		chains, err := ca.Verify(leaf, t)
		if err != nil {
			continue
		}
		if isFulcio {
			c.chains.add(key(append([][]byte{[]byte(strconv.Itoa(i))}, ders...)...), chains)
		}
		return chains, nil
	}
	return nil, errors.New("leaf certificate verification failed")
}

// caValidAt is the validity period check of FulcioCertificateAuthority.
func caValidAt(ca *root.FulcioCertificateAuthority, t time.Time) bool {
	if !ca.ValidityPeriodStart.IsZero() && t.Before(ca.ValidityPeriodStart) {
		return false
	}
	return ca.ValidityPeriodEnd.IsZero() || !t.After(ca.ValidityPeriodEnd)
}

// chainValidAt is the time check x509 makes of each certificate of a
// chain; the chain's other checks do not depend on the time.
func chainValidAt(chain []*x509.Certificate, t time.Time) bool {
	for _, cert := range chain {
		if t.Before(cert.NotBefore) || t.After(cert.NotAfter) {
			return false
		}
	}
	return len(chain) > 0
}

// errFallback says the cache does not handle a bundle's log entries:
// sigstore-go's log check runs instead.
var errFallback = errors.New("not for the cache")

var rekorV1Origin = regexp.MustCompile(`.* - [0-9]+$`)

// verifyLog is sigstore-go's VerifyTlogEntry for bundles whose entries
// are all Rekor v2 entries with an inclusion proof and no promise (the
// others get errFallback), with the checkpoints remembered: the entry's
// hash is rebuilt from the bundle and its inclusion proof is checked
// against the checkpoint at every call.
func (c *keylessCache) verifyLog(entity sgverify.SignedEntity) error {
	entries, err := entity.TlogEntries()
	if err != nil {
		return err
	}
	if len(entries) > 32 {
		return errFallback
	}
	for i := range entries {
		if !entries[i].IsRekorV2() || !entries[i].HasInclusionProof() || entries[i].HasInclusionPromise() {
			return errFallback
		}
		for j := i + 1; j < len(entries); j++ {
			if entries[i].LogKeyID() == entries[j].LogKeyID() && entries[i].LogIndex() == entries[j].LogIndex() {
				return errors.New("duplicate tlog entries found")
			}
		}
	}
	sigContent, err := entity.SignatureContent()
	if err != nil {
		return err
	}
	vc, err := entity.VerificationContent()
	if err != nil {
		return err
	}
	verified := 0
	seen := map[string]bool{}
	for _, entry := range entries {
		if err := tlog.ValidateEntry(entry); err != nil {
			return err
		}
		tle := entry.TransparencyLogEntry()
		if lines := strings.Split(tle.GetInclusionProof().GetCheckpoint().GetEnvelope(), "\n"); len(lines) >= 4 && rekorV1Origin.MatchString(lines[0]) {
			return errFallback
		}
		hexID := hex.EncodeToString([]byte(entry.LogKeyID()))
		logKey, ok := c.logs[hexID]
		if !ok {
			continue // a log the root does not trust: skipped, as sigstore-go does
		}
		if logKey.err != nil {
			return logKey.err
		}
		entryHash, err := c.v2EntryHash(sigContent, vc)
		if err != nil {
			return err
		}
		envelope := tle.GetInclusionProof().GetCheckpoint().GetEnvelope()
		k := key([]byte(hexID), []byte(envelope))
		cp, ok := c.checkpoints.get(k)
		if !ok {
			if cp, err = rekorverify.VerifyCheckpoint(envelope, logKey.verifier); err != nil {
				return err
			}
			c.checkpoints.add(k, cp)
		}
		if tle.LogIndex < 0 {
			return errors.New("invalid index")
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(tle.LogIndex), cp.Size, entryHash, tle.GetInclusionProof().GetHashes(), cp.Hash); err != nil {
			return fmt.Errorf("verifying inclusion: %w", err)
		}
		if !entry.IntegratedTime().IsZero() && !vc.ValidAtTime(entry.IntegratedTime(), c.root) {
			return errors.New("integrated time outside certificate validity")
		}
		if !seen[entry.LogKeyID()] {
			seen[entry.LogKeyID()] = true
			verified++
		}
	}
	if verified < 1 {
		return fmt.Errorf("not enough verified log entries from transparency log: %d < 1", verified)
	}
	return nil
}

// v2EntryHash rebuilds the leaf hash of the bundle's Rekor v2
// hashedrekord entry from the bundle, as sigstore-go does: over the
// message digest, or the digest of the envelope's PAE, with the signature
// and the certificate. The digest is computed at every call; the entry's
// canonical JSON and its hash, a function of the digest, the signature,
// the certificate and its algorithm only, are remembered.
func (c *keylessCache) v2EntryHash(sigContent sgverify.SignatureContent, vc sgverify.VerificationContent) ([]byte, error) {
	leaf := vc.Certificate()
	if leaf == nil {
		return nil, errFallback
	}
	ad, err := signature.GetDefaultAlgorithmDetails(leaf.PublicKey, options.WithED25519ph())
	if err != nil {
		return nil, fmt.Errorf("getting algorithm details from bundle key: %w", err)
	}
	hf := ad.GetHashType()
	if hf == crypto.Hash(0) {
		return nil, errors.New("rekor v2 hashedrekord entries require a prehashing signature algorithm")
	}
	var digest []byte
	switch {
	case sigContent.MessageSignatureContent() != nil:
		digest = sigContent.MessageSignatureContent().Digest()
	case sigContent.EnvelopeContent() != nil:
		env := sigContent.EnvelopeContent().RawEnvelope()
		if env == nil {
			return nil, errors.New("bundle envelope is missing")
		}
		payload, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			return nil, fmt.Errorf("failed to decode envelope payload: %w", err)
		}
		h := hf.New()
		h.Write(dsse.PAE(env.PayloadType, payload))
		digest = h.Sum(nil)
	default:
		return nil, errors.New("bundle must contain either a message signature or an envelope")
	}
	k := key(digest, sigContent.Signature(), leaf.Raw, []byte(ad.GetSignatureAlgorithm().String()))
	if h, ok := c.entryHashes.get(k); ok {
		return h, nil
	}
	h, err := hashedrekord.ToEntryHash(digest, &rekortilespb.Signature{
		Content: sigContent.Signature(),
		Verifier: &rekortilespb.Verifier{
			Verifier:   &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: leaf.Raw}},
			KeyDetails: ad.GetSignatureAlgorithm(),
		},
	})
	if err != nil {
		return nil, err
	}
	c.entryHashes.add(k, h)
	return h, nil
}

// verifySCTs is sigstore-go's SCT check (one SCT from a CT log of the
// root, over the leaf and the issuer of one of its chains) with its
// successes remembered: the check depends on the leaf's DER, the chains'
// issuers and the root only.
func (c *keylessCache) verifySCTs(chains [][]*x509.Certificate) error {
	if len(chains) == 0 || len(chains[0]) == 0 || chains[0][0] == nil {
		return errors.New("no chains provided")
	}
	parts := [][]byte{chains[0][0].Raw}
	for _, chain := range chains {
		if len(chain) >= 2 {
			parts = append(parts, chain[1].Raw)
		}
	}
	k := key(parts...)
	if _, ok := c.scts.get(k); ok {
		return nil
	}
	if err := sgverify.VerifySignedCertificateTimestamp(chains, 1, c.root); err != nil {
		return err
	}
	c.scts.add(k, struct{}{})
	return nil
}

// cachedVerifier is sigstore-go's Verify (as the full verifier is
// configured, without the identity) with the caches, then post and the
// identity check. It decides only the signatures it accepts: any error
// leaves the signature to the full verification.
type cachedVerifier struct {
	cache *keylessCache
	// verifier is the full verifier's configuration over the cache's
	// trusted material; parts of it run here.
	verifier   *sgverify.Verifier
	root       root.TrustedMaterial
	identities []sgverify.CertificateIdentity
	// requireTlog and requireSCTs say what verifier requires.
	requireTlog bool
	requireSCTs bool
}

func (v *cachedVerifier) verify(signed sgverify.SignedEntity, art artifact, post func() error) (*sgverify.VerificationResult, error) {
	res, err := v.run(signed, art, post)
	return res, undecided(err)
}

func (v *cachedVerifier) run(signed sgverify.SignedEntity, art artifact, post func() error) (*sgverify.VerificationResult, error) {
	if art.none {
		return nil, errors.New("no artifact: the full verification decides")
	}
	c := v.cache
	entity := &parsedOnce{SignedEntity: signed}
	var logTimes []sgverify.TimestampVerificationResult
	if v.requireTlog {
		if err := c.verifyLog(entity); errors.Is(err, errFallback) {
			if logTimes, err = v.verifier.VerifyTransparencyLogInclusion(entity); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
	}
	times, err := v.verifier.VerifyObserverTimestamps(entity, logTimes)
	if err != nil {
		return nil, err
	}
	vc, err := entity.VerificationContent()
	if err != nil {
		return nil, err
	}
	leaf := vc.Certificate()
	if leaf == nil || vc.PublicKey() != nil {
		return nil, errFallback
	}
	var summary certificate.Summary
	if m, ok := signed.(*memoBundle); ok {
		summary, err = m.certificateSummary(leaf)
	} else {
		summary, err = certificate.SummarizeCertificate(leaf)
	}
	if err != nil {
		return nil, err
	}
	// As sigstore-go: the OtherName SAN Fulcio may set is handled by the
	// summary, and would fail x509's check of critical extensions.
	if len(leaf.UnhandledCriticalExtensions) > 0 {
		var unhandled []asn1.ObjectIdentifier
		for _, oid := range leaf.UnhandledCriticalExtensions {
			if !oid.Equal(cryptoutils.SANOID) {
				unhandled = append(unhandled, oid)
			}
		}
		leaf.UnhandledCriticalExtensions = unhandled
	}
	var chains [][]*x509.Certificate
	for _, t := range times {
		if chains, err = c.leafChains(leaf, vc.Intermediates(), t.Timestamp); err != nil {
			return nil, err
		}
	}
	if v.requireSCTs {
		if err := c.verifySCTs(chains); err != nil {
			return nil, err
		}
	}
	sigContent, err := entity.SignatureContent()
	if err != nil {
		return nil, err
	}
	if _, err := entity.Version(); err != nil {
		return nil, err
	}
	// sigstore-go also tries SHA-256 for P-384 and P-521 keys of old
	// bundles; this does not, and leaves those to the full verification.
	if art.hasContent {
		err = sgverify.VerifySignatureWithArtifacts(sigContent, vc, v.root, []io.Reader{bytes.NewReader(art.content)})
	} else {
		err = sgverify.VerifySignatureWithArtifactDigests(sigContent, vc, v.root, []sgverify.ArtifactDigest{{Algorithm: art.alg, Digest: art.digest}})
	}
	if err != nil {
		return nil, err
	}
	res := sgverify.NewVerificationResult()
	res.Signature = &sgverify.SignatureVerificationResult{Certificate: &summary}
	res.VerifiedTimestamps = times
	if post != nil {
		if err := post(); err != nil {
			return nil, err
		}
	}
	if err := checkIdentity(v.identities, res); err != nil {
		return nil, err
	}
	return res, nil
}

// parsedOnce parses a bundle's certificate and log entries once for one
// verification (sigstore-go's bundle parses them again at each call).
type parsedOnce struct {
	sgverify.SignedEntity
	vc      sgverify.VerificationContent
	vcErr   error
	vcDone  bool
	tle     []*tlog.Entry
	tleErr  error
	tleDone bool
}

func (e *parsedOnce) VerificationContent() (sgverify.VerificationContent, error) {
	if !e.vcDone {
		e.vc, e.vcErr = e.SignedEntity.VerificationContent()
		e.vcDone = true
	}
	return e.vc, e.vcErr
}

func (e *parsedOnce) TlogEntries() ([]*tlog.Entry, error) {
	if !e.tleDone {
		e.tle, e.tleErr = e.SignedEntity.TlogEntries()
		e.tleDone = true
	}
	return e.tle, e.tleErr
}

// Bundles are remembered parsed, by the SHA-256 of their JSON, when small
// (a keyless bundle is about 10 KB): a verifier checking the same bundles
// again parses each once. Only the parsing is remembered; every check runs
// at each call. At most 1024 bundles of at most 32 KiB of JSON each are
// kept, so at most 32 MiB of JSON in parsed form.
const (
	maxCachedBundles    = 1024
	maxCachedBundleSize = 32 << 10
)

// parseBundle is ParseBundle with the parsed bundles remembered, and the
// entity to verify: the bundle, with its certificate and log entries
// parsed once (memoBundle).
func (c *keylessCache) parseBundle(data []byte) (*bundle.Bundle, sgverify.SignedEntity, error) {
	if len(data) == 0 || len(data) > maxCachedBundleSize {
		b, err := ParseBundle(data)
		if err != nil {
			return nil, nil, err
		}
		return b, b, nil
	}
	sum := sha256.Sum256(data)
	if m, ok := c.bundles.get(string(sum[:])); ok {
		return m.Bundle, m, nil
	}
	b, err := ParseBundle(data)
	if err != nil {
		return nil, nil, err
	}
	m := &memoBundle{Bundle: b}
	c.bundles.add(string(sum[:]), m)
	return b, m, nil
}

// memoBundle is a parsed bundle whose certificate and log entries are
// parsed once, for all the verifications of that bundle (sigstore-go's
// bundle parses them again at each call). Its values are shared and never
// changed after they are built: the leaf's unhandled critical extensions
// are filtered once here, as sigstore-go and cachedVerifier filter them
// (the SAN extension Fulcio may mark critical), and a leaf with any other
// unhandled critical extension is parsed afresh at each call, so that no
// shared certificate is ever written to.
type memoBundle struct {
	*bundle.Bundle
	vcOnce  sync.Once
	vc      sgverify.VerificationContent
	vcErr   error
	tleOnce sync.Once
	tle     []*tlog.Entry
	tleErr  error
	// The certificate summary of the remembered leaf.
	summaryOnce sync.Once
	summaryLeaf *x509.Certificate
	summary     certificate.Summary
	summaryErr  error
}

// certificateSummary is certificate.SummarizeCertificate(leaf), made once
// for the remembered leaf (a leaf parsed afresh is summarised afresh).
func (m *memoBundle) certificateSummary(leaf *x509.Certificate) (certificate.Summary, error) {
	m.summaryOnce.Do(func() {
		if vc, err := m.VerificationContent(); err == nil && vc.Certificate() == leaf {
			m.summaryLeaf = leaf
			m.summary, m.summaryErr = certificate.SummarizeCertificate(leaf)
		}
	})
	if m.summaryLeaf != leaf || leaf == nil {
		return certificate.SummarizeCertificate(leaf)
	}
	return m.summary, m.summaryErr
}

var _ sgverify.SignedEntity = (*memoBundle)(nil)

func (m *memoBundle) VerificationContent() (sgverify.VerificationContent, error) {
	m.vcOnce.Do(func() {
		m.vc, m.vcErr = m.Bundle.VerificationContent()
		if m.vcErr != nil {
			return
		}
		leaf := m.vc.Certificate()
		if leaf == nil || len(leaf.UnhandledCriticalExtensions) == 0 {
			return
		}
		var unhandled []asn1.ObjectIdentifier
		for _, oid := range leaf.UnhandledCriticalExtensions {
			if !oid.Equal(cryptoutils.SANOID) {
				unhandled = append(unhandled, oid)
			}
		}
		if len(unhandled) > 0 {
			m.vc = nil // parsed afresh at each call
			return
		}
		leaf.UnhandledCriticalExtensions = nil
	})
	if m.vc == nil && m.vcErr == nil {
		return m.Bundle.VerificationContent()
	}
	return m.vc, m.vcErr
}

func (m *memoBundle) TlogEntries() ([]*tlog.Entry, error) {
	m.tleOnce.Do(func() { m.tle, m.tleErr = m.Bundle.TlogEntries() })
	return m.tle, m.tleErr
}
