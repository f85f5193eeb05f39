package logserver

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/transparency-dev/tessera/client"

	"hallmark.dev/tlog"
)

// TestProverMatchesTessera checks the caching prover against tessera's
// ProofBuilder for every index at several published tree sizes of a log
// that spans three level-0 tiles and a level-1 tile.
func TestProverMatchesTessera(t *testing.T) {
	ctx := context.Background()
	l, err := New(ctx, Config{Dir: t.TempDir(), Origin: "127.0.0.1"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatalf("MarshalPKIXPublicKey: %v", err)
	}
	request := func(i int) *rekorpb.HashedRekordRequestV002 {
		d := sha256.Sum256(fmt.Appendf(nil, "entry %d", i))
		sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		return &rekorpb.HashedRekordRequestV002{Digest: d[:], Signature: &rekorpb.Signature{
			Content: sig,
			Verifier: &rekorpb.Verifier{
				KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
				Verifier:   &rekorpb.Verifier_PublicKey{PublicKey: &rekorpb.PublicKey{RawBytes: der}},
			},
		}}
	}

	var sizes []uint64
	next := 0
	for _, wave := range []int{1, 2, 5, 100, 148, 1, 255, 88} {
		var wg sync.WaitGroup
		for i := next; i < next+wave; i++ {
			wg.Go(func() {
				if _, err := l.Add(ctx, request(i)); err != nil {
					t.Errorf("Add: %v", err)
				}
			})
		}
		wg.Wait()
		next += wave
		cp, err := l.reader.ReadCheckpoint(ctx)
		if err != nil {
			t.Fatalf("ReadCheckpoint: %v", err)
		}
		c, err := tlog.VerifyCheckpoint(cp, l.verifier)
		if err != nil {
			t.Fatalf("VerifyCheckpoint: %v", err)
		}
		sizes = append(sizes, c.Size)
	}
	if t.Failed() {
		t.FailNow()
	}
	if got := sizes[len(sizes)-1]; got != 600 {
		t.Fatalf("final size %d, want 600", got)
	}
	p := newProver(l.reader.ReadTile)
	small := newProver(l.reader.ReadTile)
	small.maxTiles = 2 // evicts all the time
	for _, size := range sizes {
		pb, err := client.NewProofBuilder(ctx, size, l.reader.ReadTile)
		if err != nil {
			t.Fatalf("NewProofBuilder: %v", err)
		}
		for i := range size {
			want, err := pb.InclusionProof(ctx, i)
			if err != nil {
				t.Fatalf("size %d index %d: tessera: %v", size, i, err)
			}
			for _, p := range []*prover{p, small} {
				got, err := p.inclusion(ctx, i, size)
				if err != nil {
					t.Fatalf("size %d index %d: prover: %v", size, i, err)
				}
				if len(got) != len(want) {
					t.Fatalf("size %d index %d: got %d hashes, want %d", size, i, len(got), len(want))
				}
				for j := range got {
					if !bytes.Equal(got[j], want[j]) {
						t.Fatalf("size %d index %d: hash %d = %x, want %x", size, i, j, got[j], want[j])
					}
				}
			}
		}
	}
	for _, p := range []*prover{p, small} {
		if n := len(p.tiles); n == 0 || n > p.maxTiles || n != len(p.order) {
			t.Errorf("prover caches %d tiles (%d in order), want 1 to %d", n, len(p.order), p.maxTiles)
		}
	}
}

// TestProverReadsEachTileOnce: requests that need the same tile at once
// share one read of it (on shared storage each read is a request to the
// object store, and after each checkpoint every waiting request needs the
// new right-edge tiles).
func TestProverReadsEachTileOnce(t *testing.T) {
	var reads sync.Map // tile path -> *atomic.Int64
	tile := func(n int) []byte {
		var b []byte
		for i := range n {
			h := sha256.Sum256([]byte{byte(i)})
			b = append(b, h[:]...)
		}
		return b
	}
	p := newProver(func(ctx context.Context, level, index uint64, width uint8) ([]byte, error) {
		c, _ := reads.LoadOrStore(fmt.Sprint(level, index, width), new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
		time.Sleep(20 * time.Millisecond) // an object store's round trip
		return tile(int(width)), nil
	})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			if _, err := p.inclusion(t.Context(), 5, 200); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	reads.Range(func(k, v any) bool {
		if n := v.(*atomic.Int64).Load(); n != 1 {
			t.Errorf("tile %s read %d times by 64 concurrent proofs, want once", k, n)
		}
		return true
	})
}
