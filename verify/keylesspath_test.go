package verify_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/attest"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// keylessPool is a set of real keyless bundles from the in-process stack,
// all about one artifact: message signatures and DSSE statements, logged
// (Rekor v2) and timestamped, or timestamped only; one signed by another
// identity. Each has its own certificate, and they were signed one after
// the other, so their log entries, checkpoints and timestamps differ. The
// mutations take their parts from one another.
type keylessPool struct {
	bundles [][]byte
	digest  string // what every bundle is about
	other   string // another artifact
	// log requires a log entry; timestampOnly a signed timestamp. Their
	// caches are warm with every bundle of the pool.
	log, timestampOnly *verify.Keyless
}

const poolIdentity = "fuzz@example.com"

func newKeylessPool(tb testing.TB) *keylessPool {
	tb.Helper()
	st := startStack(tb)
	content := []byte("keyless pool artifact\n")
	sum := sha256.Sum256(content)
	other := sha256.Sum256([]byte("another artifact\n"))
	p := &keylessPool{digest: "sha256:" + hex.EncodeToString(sum[:]), other: "sha256:" + hex.EncodeToString(other[:])}
	for _, c := range []struct {
		subject        string
		dsse           bool
		log, timestamp bool
	}{
		{poolIdentity, false, true, true},
		{poolIdentity, false, true, true},
		{poolIdentity, true, true, true},
		{poolIdentity, true, true, true},
		{poolIdentity, false, false, true},
		{poolIdentity, true, false, true},
		{"mallory@example.com", false, true, true}, // last
	} {
		kp, opts := st.keyless(tb, c.subject, c.log, c.timestamp)
		var b []byte
		if c.dsse {
			b = signRaw(tb, kp, attest.PayloadType, []byte(stmt(p.digest, `{}`)), opts)
		} else {
			var err error
			if b, err = sign.Blob(context.Background(), kp, content, opts); err != nil {
				tb.Fatal(err)
			}
		}
		p.bundles = append(p.bundles, b)
	}
	if len(p.bundles) == 0 {
		tb.Fatal("empty seed corpus")
	}
	var err error
	if p.log, err = verify.NewKeyless(st.tr, verify.Identity{Issuer: st.issuer, Subject: poolIdentity}); err != nil {
		tb.Fatal(err)
	}
	if p.timestampOnly, err = p.log.TimestampOnly(); err != nil {
		tb.Fatal(err)
	}
	// Warm the caches, and make sure the cached path decides the good
	// bundles: otherwise the comparison would compare nothing.
	for i, b := range p.bundles {
		for _, k := range []*verify.Keyless{p.log, p.timestampOnly} {
			cached, full, err := k.CompareKeylessPaths(b, p.digest, false)
			if err != nil {
				tb.Fatal(err)
			}
			if full.Accepted != cached.Accepted {
				tb.Fatalf("bundle %d: cached path %s, full verification %s", i, cached, full)
			}
		}
	}
	return p
}

// check hands the mutated bundle to both verifiers of both authorities
// and fails when the cached path accepts what the full verification
// rejects, rejects what it accepts, or accepts with another result. It
// returns whether the full verification accepted the bundle anywhere.
func (p *keylessPool) check(t *testing.T, bundle, ops []byte) (accepted bool) {
	mutated, digest := p.mutate(bundle, ops)
	for _, k := range []*verify.Keyless{p.log, p.timestampOnly} {
		for _, streamed := range []bool{false, true} {
			if streamed && !bytes.Contains(mutated, []byte("dsseEnvelope")) {
				continue
			}
			cached, full, err := k.CompareKeylessPaths(mutated, digest, streamed)
			if err != nil {
				continue // not a bundle: no verifier sees it
			}
			accepted = accepted || full.Accepted
			switch {
			case cached.Accepted && !full.Accepted:
				t.Fatalf("the cached path accepts what the full verification rejects (%s); streamed %v, ops %x, bundle:\n%s", full, streamed, ops, mutated)
			case cached.Accepted:
				if diff := cmp.Diff(full.Signer, cached.Signer); diff != "" {
					t.Fatalf("signer (-full +cached), ops %x:\n%s", ops, diff)
				}
			case cached.Undecided:
			case full.Accepted:
				t.Fatalf("the cached path rejects what the full verification accepts (%s); streamed %v, ops %x", cached, streamed, ops)
			case cached.Step != full.Step:
				t.Fatalf("the cached path rejects at %s (%v), the full verification at %s (%v); ops %x", cached.Step, cached.Err, full.Step, full.Err, ops)
			}
		}
	}
	return accepted
}

// The mutations, each a kind byte and two argument bytes.
const (
	opSignatureFlip = iota
	opCertificateSwap
	opCertificateFlip
	opProofSwap
	opProofHash
	opCheckpointSwap
	opCheckpointEdit
	opLogIndex
	opTreeSize
	opTimestampSwap
	opTimestampEdit
	opPayloadSwap
	opPayloadEdit
	opEntrySwap
	opBodyEdit
	opOtherArtifact
	opIntegratedTime
	opRawByte
	opMessageDigest
	opMaterialSwap
	opLogID
	opMediaType
	numOps
)

// mutate applies ops, a program of mutations (see the op constants), to
// a bundle and returns it with the digest it is to be verified against.
func (p *keylessPool) mutate(bundle, ops []byte) ([]byte, string) {
	m := &mutation{pool: p, raw: bundle}
	digest := p.digest
	for i := 0; i < len(ops); i += 3 {
		arg := func(n int) byte {
			if i+n < len(ops) {
				return ops[i+n]
			}
			return 0
		}
		kind, a, b := ops[i]%numOps, arg(1), arg(2)
		if kind == opOtherArtifact {
			digest = p.other
			continue
		}
		m.apply(kind, a, b)
	}
	return m.bytes(), digest
}

// mutation is a bundle being mutated: as JSON (raw) or as its decoded
// document (doc), whichever the last mutation worked on.
type mutation struct {
	pool *keylessPool
	raw  []byte
	doc  map[string]any
}

func (m *mutation) bytes() []byte {
	if m.doc != nil {
		if b, err := json.Marshal(m.doc); err == nil {
			m.raw = b
		}
		m.doc = nil
	}
	return m.raw
}

// document decodes the bundle; false when it is not a JSON object.
func (m *mutation) document() bool {
	if m.doc == nil {
		if json.Unmarshal(m.raw, &m.doc) != nil {
			m.doc = nil
			return false
		}
	}
	return true
}

// from returns a fresh copy of the value at path in pool bundle a.
func (m *mutation) from(a byte, path ...string) (any, bool) {
	var doc map[string]any
	if json.Unmarshal(m.pool.bundles[int(a)%len(m.pool.bundles)], &doc) != nil {
		return nil, false
	}
	return get(doc, path...)
}

// get returns the value at path: object keys, and array indexes.
func get(v any, path ...string) (any, bool) {
	for _, k := range path {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// set replaces the value at path (which must exist but for its last key
// in an object); a nil value deletes an object key.
func set(v any, value any, path ...string) bool {
	parent, ok := get(v, path[:len(path)-1]...)
	if !ok {
		return false
	}
	k := path[len(path)-1]
	switch c := parent.(type) {
	case map[string]any:
		if value == nil {
			delete(c, k)
		} else {
			c[k] = value
		}
		return true
	case []any:
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(c) {
			return false
		}
		c[i] = value
		return true
	}
	return false
}

// flip flips one bit of the base64 value at path, at position pos/256
// of its bytes.
func (m *mutation) flip(pos, bit byte, path ...string) {
	v, ok := get(m.doc, path...)
	s, isString := v.(string)
	if !ok || !isString {
		return
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) == 0 {
		return
	}
	raw[int(pos)*len(raw)/256] ^= 1 << (bit % 8)
	set(m.doc, base64.StdEncoding.EncodeToString(raw), path...)
}

// swap replaces the value at path with pool bundle a's.
func (m *mutation) swap(a byte, path ...string) {
	if v, ok := m.from(a, path...); ok {
		set(m.doc, v, path...)
	} else {
		set(m.doc, nil, path...)
	}
}

var (
	material = "verificationMaterial"
	entry0   = []string{material, "tlogEntries", "0"}
	proof    = append(entry0[:3:3], "inclusionProof")
	cp       = append(proof[:4:4], "checkpoint", "envelope")
	stamp0   = []string{material, "timestampVerificationData", "rfc3161Timestamps", "0", "signedTimestamp"}
)

func (m *mutation) apply(kind, a, b byte) {
	if kind == opRawByte {
		raw := m.bytes()
		if len(raw) > 0 {
			raw = bytes.Clone(raw)
			raw[int(a)*len(raw)/256] = b
			m.raw = raw
		}
		return
	}
	if !m.document() {
		return
	}
	switch kind {
	case opSignatureFlip:
		m.flip(a, b, "messageSignature", "signature")
		m.flip(a, b, "dsseEnvelope", "signatures", "0", "sig")
	case opCertificateSwap:
		m.swap(a, material, "certificate")
	case opCertificateFlip:
		m.flip(a, b, material, "certificate", "rawBytes")
	case opProofSwap:
		m.swap(a, proof...)
	case opProofHash:
		v, ok := get(m.doc, append(proof, "hashes")...)
		hashes, isList := v.([]any)
		if !ok || !isList || len(hashes) == 0 {
			return
		}
		i := int(a) * len(hashes) / 256
		switch b % 3 {
		case 0:
			m.flip(b, a, append(proof, "hashes", strconv.Itoa(i))...)
		case 1:
			set(m.doc, append(hashes[:i:i], hashes[i+1:]...), append(proof, "hashes")...)
		case 2:
			set(m.doc, append(hashes[:i+1:i+1], hashes[i:]...), append(proof, "hashes")...)
		}
	case opCheckpointSwap:
		m.swap(a, cp...)
	case opCheckpointEdit:
		v, _ := get(m.doc, cp...)
		s, ok := v.(string)
		if !ok {
			return
		}
		lines := strings.Split(s, "\n")
		i := int(a) % len(lines)
		switch {
		case b%2 == 0 && len(lines[i]) > 0:
			c := []byte(lines[i])
			c[int(b)*len(c)/256] ^= 1
			lines[i] = string(c)
		default:
			if n, err := strconv.ParseInt(lines[i], 10, 64); err == nil {
				lines[i] = strconv.FormatInt(n+int64(int8(b)), 10)
			} else {
				lines[i] += strconv.Itoa(int(b))
			}
		}
		set(m.doc, strings.Join(lines, "\n"), cp...)
	case opLogIndex:
		for _, path := range [][]string{append(entry0, "logIndex"), append(proof, "logIndex")}[:1+int(a)%2] {
			m.addInt(int64(int8(b)), path...)
		}
	case opTreeSize:
		m.addInt(int64(int8(a)), append(proof, "treeSize")...)
	case opTimestampSwap:
		m.swap(a, material, "timestampVerificationData")
	case opTimestampEdit:
		v, ok := get(m.doc, material, "timestampVerificationData", "rfc3161Timestamps")
		stamps, isList := v.([]any)
		if !ok || !isList {
			return
		}
		switch a % 4 {
		case 0:
			m.flip(b, a, stamp0...)
		case 1:
			set(m.doc, []any{}, material, "timestampVerificationData", "rfc3161Timestamps")
		case 2:
			set(m.doc, append(stamps, stamps...), material, "timestampVerificationData", "rfc3161Timestamps")
		case 3:
			if other, ok := m.from(b, material, "timestampVerificationData", "rfc3161Timestamps", "0"); ok {
				set(m.doc, append(stamps, other), material, "timestampVerificationData", "rfc3161Timestamps")
			}
		}
	case opPayloadSwap:
		if _, ok := get(m.doc, "dsseEnvelope", "payload"); ok {
			if v, ok := m.from(a, "dsseEnvelope", "payload"); ok {
				set(m.doc, v, "dsseEnvelope", "payload")
			}
		}
	case opPayloadEdit:
		switch b % 3 {
		case 0:
			m.flip(a, b, "dsseEnvelope", "payload")
		case 1:
			if _, ok := get(m.doc, "dsseEnvelope", "payloadType"); ok {
				set(m.doc, "application/json", "dsseEnvelope", "payloadType")
			}
		case 2:
			// The statement about another artifact, unsigned.
			if _, ok := get(m.doc, "dsseEnvelope", "payload"); ok {
				set(m.doc, base64.StdEncoding.EncodeToString([]byte(stmt(m.pool.other, `{}`))), "dsseEnvelope", "payload")
			}
		}
	case opEntrySwap:
		v, ok := get(m.doc, material, "tlogEntries")
		entries, isList := v.([]any)
		if !ok || !isList {
			m.swap(a, material, "tlogEntries")
			return
		}
		switch b % 4 {
		case 0:
			m.swap(a, material, "tlogEntries")
		case 1:
			set(m.doc, append(entries, entries...), material, "tlogEntries")
		case 2:
			set(m.doc, []any{}, material, "tlogEntries")
		case 3:
			if other, ok := m.from(a, entry0...); ok {
				set(m.doc, append(entries, other), material, "tlogEntries")
			}
		}
	case opBodyEdit:
		if b%2 == 0 {
			m.flip(a, b, append(entry0, "canonicalizedBody")...)
		} else {
			m.swap(a, append(entry0, "canonicalizedBody")...)
		}
	case opIntegratedTime:
		if b%2 == 0 {
			m.addInt(int64(int8(a))*3600, append(entry0, "integratedTime")...)
		} else {
			set(m.doc, []string{"0.0.1", "0.0.2", "0.0.3"}[int(a)%3], append(entry0, "kindVersion", "version")...)
		}
	case opMessageDigest:
		if b%2 == 0 {
			m.flip(a, b, "messageSignature", "messageDigest", "digest")
		} else {
			m.swap(a, "messageSignature", "messageDigest")
		}
	case opMaterialSwap:
		m.swap(a, material)
	case opLogID:
		m.flip(a, b, append(entry0, "logId", "keyId")...)
	case opMediaType:
		set(m.doc, []string{
			"application/vnd.dev.sigstore.bundle+json;version=0.1",
			"application/vnd.dev.sigstore.bundle+json;version=0.2",
			"application/vnd.dev.sigstore.bundle.v0.3+json",
		}[int(a)%3], "mediaType")
	}
}

// addInt adds delta to the integer (a JSON string, as protobuf writes
// 64-bit integers) at path.
func (m *mutation) addInt(delta int64, path ...string) {
	v, _ := get(m.doc, path...)
	s, ok := v.(string)
	if !ok {
		return
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return
	}
	set(m.doc, strconv.FormatInt(n+delta, 10), path...)
}

// FuzzKeylessPaths: the keyless cached path and sigstore-go's full
// verification reach the same verdict on mutated bundles. The seeds are
// the pool's bundles (real keyless bundles from the in-process stack),
// each unmutated and under each kind of mutation; the fuzzer mutates the
// bundle's bytes and the mutation program, whose mutations take their
// parts (certificates, proofs, checkpoints, timestamps, payloads) from
// the pool.
func FuzzKeylessPaths(f *testing.F) {
	p := newKeylessPool(f)
	for i, b := range p.bundles {
		f.Add(b, []byte{})
		for kind := range byte(numOps) {
			f.Add(b, []byte{kind, byte(i + 1), byte(37 * (i + 1))})
		}
	}
	f.Fuzz(func(t *testing.T, bundle, ops []byte) {
		p.check(t, bundle, ops)
	})
}

// TestKeylessPathsAgree runs FuzzKeylessPaths's property on a fixed set of
// mutations: every kind with several arguments on every bundle of the
// pool, and a few hundred programs of up to four mutations from a seeded
// generator. Some mutations must still verify (swapping in a bundle's own
// parts, another log entry the bundle does not need), or the comparison
// would only compare rejections.
func TestKeylessPathsAgree(t *testing.T) {
	p := newKeylessPool(t)
	r := rand.New(rand.NewPCG(9, 5))
	var programs [][]byte
	for kind := range byte(numOps) {
		for range 2 {
			programs = append(programs, []byte{kind, byte(r.Uint32()), byte(r.Uint32())})
		}
	}
	for range 200 {
		ops := make([]byte, 3*(1+r.IntN(4)))
		for i := range ops {
			ops[i] = byte(r.Uint32())
		}
		programs = append(programs, ops)
	}
	accepted := 0
	for i, b := range p.bundles {
		// The last bundle is another identity's.
		if got, want := p.check(t, b, nil), i < len(p.bundles)-1; got != want {
			t.Fatalf("bundle %d unmutated: accepted %v, want %v", i, got, want)
		}
	}
	for n, ops := range programs {
		// The single mutations on every bundle, the programs on one each.
		bundles := p.bundles
		if n >= 2*numOps {
			bundles = bundles[n%len(bundles) : n%len(bundles)+1]
		}
		for _, b := range bundles {
			if p.check(t, b, ops) {
				accepted++
			}
		}
	}
	t.Logf("%d programs, %d mutated bundles verified", len(programs), accepted)
	if accepted == 0 {
		t.Error("no mutated bundle verified: the comparison only compared rejections")
	}
}
