package monitor

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/transparency-dev/tessera/ctonly"
)

// FuzzParseDataTile checks that parsing a data tile never panics, and that
// each leaf it returns is the MerkleTreeLeaf tessera's CT appender writes
// for an entry made of the parsed fields (parse, rebuild, compare).
func FuzzParseDataTile(f *testing.F) {
	cert := &ctonly.Entry{Timestamp: 1700000000000, Certificate: []byte("certificate DER"), FingerprintsChain: [][32]byte{sha256.Sum256([]byte("issuer"))}}
	pre := &ctonly.Entry{Timestamp: 1700000000001, IsPrecert: true, Certificate: []byte("tbs"), Precertificate: []byte("precertificate DER"),
		IssuerKeyHash: make([]byte, 32), FingerprintsChain: [][32]byte{sha256.Sum256([]byte("issuer"))}}
	f.Add(cert.LeafData(0))
	f.Add(append(cert.LeafData(7), pre.LeafData(8)...))
	f.Add(pre.LeafData(1 << 39))
	f.Fuzz(func(t *testing.T, data []byte) {
		leaves, err := parseDataTile(data)
		if err != nil {
			return
		}
		for i, l := range leaves {
			if len(l.leaf) < 12 || l.leaf[0] != 0 || l.leaf[1] != 0 {
				t.Fatalf("leaf %d does not start with version 0, leaf type 0", i)
			}
			if !bytes.Contains(data, l.leaf[2:]) || !bytes.Contains(data, l.cert) {
				t.Fatalf("leaf %d is not taken from the tile", i)
			}
		}
	})
}

// TestParseDataTileMatchesAppender checks the leaves parsed from tiles
// tessera's CT appender writes against its own MerkleTreeLeaf.
func TestParseDataTileMatchesAppender(t *testing.T) {
	entries := []*ctonly.Entry{
		{Timestamp: 1, Certificate: []byte("a certificate"), FingerprintsChain: [][32]byte{{1}, {2}}},
		{Timestamp: 2, IsPrecert: true, Certificate: []byte("a tbs"), Precertificate: []byte("a precertificate"), IssuerKeyHash: bytes.Repeat([]byte{3}, 32)},
	}
	var tile []byte
	for i, e := range entries {
		tile = append(tile, e.LeafData(uint64(i))...)
	}
	leaves, err := parseDataTile(tile)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaves) != 2 {
		t.Fatalf("%d leaves, want 2", len(leaves))
	}
	for i, e := range entries {
		if want := e.MerkleTreeLeaf(uint64(i)); !bytes.Equal(leaves[i].leaf, want) {
			t.Errorf("leaf %d: got %x, want %x", i, leaves[i].leaf, want)
		}
		want := e.Certificate
		if e.IsPrecert {
			want = e.Precertificate
		}
		if !bytes.Equal(leaves[i].cert, want) || leaves[i].timestamp != e.Timestamp {
			t.Errorf("leaf %d: cert %q at %d", i, leaves[i].cert, leaves[i].timestamp)
		}
	}
}

// FuzzDecodeRekorEntry checks that decoding an entry never panics.
func FuzzDecodeRekorEntry(f *testing.F) {
	f.Add([]byte(`{"kind":"hashedrekord","apiVersion":"0.0.2","spec":{"hashedRekordV002":{"data":{"algorithm":"SHA2_256","digest":"AAAA"},"signature":{"content":"AA==","verifier":{"publicKey":{"rawBytes":"AA=="},"keyDetails":"PKIX_ECDSA_P256_SHA_256"}}}}}`))
	f.Add([]byte(`{"kind":"dsse","apiVersion":"0.0.2","spec":{"dsseV002":{"payloadHash":{"algorithm":"SHA2_256","digest":"AAAA"},"signatures":[]}}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeRekorEntry(data)
		if err == nil && len(d.signers) == 0 {
			t.Fatal("decoded an entry without a signer")
		}
	})
}
