package monitor_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"

	"hallmark.dev/internal/monitor"
	"hallmark.dev/internal/quietlog"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/internal/tlogtest"
	"hallmark.dev/sign"
	"hallmark.dev/tlog"
)

func TestMain(m *testing.M) {
	quietlog.Klog()
	os.Exit(m.Run())
}

// keyEntry is a Rekor v2 hashedrekord entry signed by key (the signature
// itself is not checked by a monitor) over digest.
func keyEntry(t *testing.T, key *ecdsa.PrivateKey, digest []byte) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	e := &rekorpb.Entry{Kind: "hashedrekord", ApiVersion: "0.0.2", Spec: &rekorpb.Spec{Spec: &rekorpb.Spec_HashedRekordV002{HashedRekordV002: &rekorpb.HashedRekordLogEntryV002{
		Data: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest},
		Signature: &rekorpb.Signature{Content: []byte("sig"), Verifier: &rekorpb.Verifier{
			Verifier:   &rekorpb.Verifier_PublicKey{PublicKey: &rekorpb.PublicKey{RawBytes: der}},
			KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
		}},
	}}}}
	b, err := protojson.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fingerprint(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// harness is a misbehaving-capable log and a monitor watching one key.
type harness struct {
	log     *tlogtest.Log
	srv     *tlogtest.Server
	watched *ecdsa.PrivateKey
	other   *ecdsa.PrivateKey
	state   string
	n       int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{log: tlogtest.New(t, "127.0.0.1"), watched: lite.NewECDSAKey(t), other: lite.NewECDSAKey(t), state: filepath.Join(t.TempDir(), "logInfo.txt")}
	h.srv = tlogtest.NewServer(t, h.log)
	return h
}

// add appends entries: w by the watched key, o by the other one, x a
// garbage entry.
func (h *harness) add(t *testing.T, kinds string) {
	t.Helper()
	for _, k := range kinds {
		h.n++
		d := sha256.Sum256(fmt.Appendf(nil, "artifact %d", h.n))
		switch k {
		case 'w':
			h.log.Append(t, keyEntry(t, h.watched, d[:]))
		case 'o':
			h.log.Append(t, keyEntry(t, h.other, d[:]))
		case 'x':
			h.log.Append(t, []byte("not an entry"))
		}
	}
}

func (h *harness) monitor(t *testing.T, policy *tlog.Policy) *monitor.Monitor {
	t.Helper()
	cfg, err := monitor.ParseConfig(fmt.Appendf(nil, "monitoredValues:\n  fingerprints:\n    - %s\n", fingerprint(t, h.watched)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := monitor.New(cfg, monitor.Options{Policy: policy, Logs: []monitor.Log{{
		Kind: monitor.KindTransparency, URL: h.srv.URL, Verifier: h.log.Verifier, StateFile: h.state,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func indexes(r *monitor.Report, kind string) []uint64 {
	var out []uint64
	for _, e := range r.Events {
		if e.Kind == kind {
			out = append(out, e.Index)
		}
	}
	return out
}

// TestFollow follows a log that behaves: each round reports the watched
// key's new entries exactly once, and an entry it cannot decode is
// reported, not skipped.
func TestFollow(t *testing.T) {
	h := newHarness(t)
	h.add(t, "wow")
	m := h.monitor(t, nil)
	r, err := m.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if diff := cmp.Diff([]uint64{0, 2}, indexes(r, "match")); diff != "" {
		t.Errorf("first round matches (-want +got):\n%s", diff)
	}
	if e := r.Events[0]; e.Identity != fingerprint(t, h.watched) || !strings.HasPrefix(e.ArtifactDigest, "sha256:") || e.LogKind != monitor.KindTransparency {
		t.Errorf("event %+v", e)
	}
	h.add(t, "oxw")
	r, err = m.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if diff := cmp.Diff([]uint64{5}, indexes(r, "match")); diff != "" {
		t.Errorf("second round matches (-want +got):\n%s", diff)
	}
	if got := indexes(r, "unparsed"); r.Unparsed != 1 || len(got) != 1 || got[0] != 4 {
		t.Errorf("unparsed %d at %v, want 1 at index 4", r.Unparsed, got)
	}
	// Nothing new: nothing reported.
	r, err = m.RunOnce(t.Context())
	if err != nil || len(r.Events) != 0 {
		t.Errorf("third round: %v, %d events, want none", err, len(r.Events))
	}
}

// TestAlarms shows the monitor a log that misbehaves after a first good
// round: each is an alarm that names what failed, and the saved
// checkpoint does not move.
func TestAlarms(t *testing.T) {
	_, w, err := absentWitnessPolicy(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		show   func(t *testing.T, h *harness)
		policy *tlog.Policy
		what   string
		want   string
	}{
		{"rollback", func(t *testing.T, h *harness) { h.srv.Set(h.log.Truncate(t, 2)) }, nil, "consistency", "rolled back from size 4 to 2"},
		{"fork at the same size", func(t *testing.T, h *harness) { h.srv.Set(h.log.Fork(t, 1, []byte("evil"))) }, nil, "consistency", "forked"},
		{"fork that grew", func(t *testing.T, h *harness) {
			f := h.log.Fork(t, 1, []byte("evil"))
			f.Append(t, []byte("more"))
			h.srv.Set(f)
		}, nil, "consistency", "consistency proof from tree size 4 to 5 does not verify"},
		{"checkpoint by another key", func(t *testing.T, h *harness) {
			forger := tlogtest.New(t, "127.0.0.1")
			forger.Append(t, []byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e"))
			h.srv.Set(forger)
		}, nil, "checkpoint", "not signed by the log's key"},
		{"quorum not met", func(t *testing.T, h *harness) {}, w, "witnesses", "witness quorum not met"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.add(t, "wowo")
			if _, err := h.monitor(t, nil).RunOnce(t.Context()); err != nil {
				t.Fatalf("first round: %v", err)
			}
			saved, err := os.ReadFile(h.state)
			if err != nil {
				t.Fatal(err)
			}
			tc.show(t, h)
			r, err := h.monitor(t, tc.policy).RunOnce(t.Context())
			var alarm *monitor.AlarmError
			if !errors.As(err, &alarm) || alarm.What != tc.what || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a %s alarm saying %q", err, tc.what, tc.want)
			}
			if len(r.Events) != 0 {
				t.Errorf("an alarmed round reported %d events from the log", len(r.Events))
			}
			if now, err := os.ReadFile(h.state); err != nil || string(now) != string(saved) {
				t.Errorf("the saved checkpoint changed on an alarm (%v)", err)
			}
		})
	}
}

// TestTilesOfAnotherTree shows a first-time monitor the log's genuine
// checkpoint over the tiles and entries of a fork: the entries do not hash
// to the checkpoint's root, and none of them is reported.
func TestTilesOfAnotherTree(t *testing.T) {
	h := newHarness(t)
	h.add(t, "wowo")
	cp := h.log.Checkpoint(t)
	h.srv.Set(h.log.Fork(t, 1, keyEntry(t, h.watched, make([]byte, 32))))
	h.srv.SetCheckpoint(cp)
	r, err := h.monitor(t, nil).RunOnce(t.Context())
	var alarm *monitor.AlarmError
	if !errors.As(err, &alarm) || alarm.What != "entries" || !strings.Contains(err.Error(), "the entries served hash to root") {
		t.Fatalf("got %v, want an entries alarm", err)
	}
	if len(r.Events) != 0 {
		t.Errorf("reported %d events from entries the checkpoint does not hold", len(r.Events))
	}
	if _, err := os.Stat(h.state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a checkpoint was saved after an alarm (%v)", err)
	}
}

// absentWitnessPolicy returns a witness policy naming one witness that never cosigns.
func absentWitnessPolicy(t *testing.T) (string, *tlog.Policy, error) {
	t.Helper()
	const vkey = "w2.example/absent+e07d9985+BEpTRQn7CuUwNzYXPDcukfHPgRB6BaU2x0l5zuWpBOFm"
	p, err := tlog.ParsePolicy([]byte("witness w " + vkey + "\nquorum w\n"))
	return vkey, p, err
}

// TestIdentities signs keylessly against a whole server as a watched
// identity and as one nobody watches: the monitor reports the watched
// identity's log entry and its certificate in the CT log, and nothing of
// the other.
func TestIdentities(t *testing.T) {
	st := testkit.StartStack(t, nil)
	tr, issuer := st.TrustedRoot, st.Issuer
	signAs := func(subject string, data []byte) {
		t.Helper()
		kp, opts := testkit.EphemeralOptions(t, sign.Services{Config: st.SigningConfig, IDToken: st.Token(t, subject), Log: true, Timestamp: true})
		if _, err := sign.Blob(context.Background(), kp, data, opts); err != nil {
			t.Fatalf("signing as %s: %v", subject, err)
		}
	}
	signAs("release-bot@example.com", []byte("release"))
	signAs("mallory@example.com", []byte("unexpected"))

	dir := t.TempDir()
	config := fmt.Sprintf(`monitoredValues:
  certIdentities:
    - certSubject: release-bot@example\.com
      issuers:
        - %s
outputIdentities: %s
outputIdentitiesFormat: json
logInfoFile: %s
`, strings.ReplaceAll(issuer, ".", `\.`), filepath.Join(dir, "identities.jsonl"), filepath.Join(dir, "logInfo.txt"))
	cfg, err := monitor.ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := monitor.LogsFromTrustedRoot(tr, st.URL, cfg.LogInfoFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 2 {
		t.Fatalf("%d logs in the trusted root, want the transparency log and the CT log", len(logs))
	}
	m, err := monitor.New(cfg, monitor.Options{Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	// The CT log publishes its checkpoint on its own interval.
	var r *monitor.Report
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r, err = m.RunOnce(t.Context()); err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		if len(r.Events) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	var got []string
	digest := sha256.Sum256([]byte("release"))
	for _, e := range r.Events {
		if e.Identity != "release-bot@example.com" || e.Issuer != issuer || e.Kind != "match" {
			t.Errorf("reported %+v", e)
		}
		if e.LogKind == monitor.KindTransparency && e.ArtifactDigest != "sha256:"+hex.EncodeToString(digest[:]) {
			t.Errorf("log entry digest %s, want the release's", e.ArtifactDigest)
		}
		if e.Time.IsZero() {
			t.Errorf("event without a time: %+v", e)
		}
		got = append(got, e.LogKind)
	}
	if diff := cmp.Diff([]string{monitor.KindTransparency, monitor.KindCT}, got); diff != "" {
		t.Errorf("reported log kinds (-want +got):\n%s", diff)
	}
	lines, err := os.ReadFile(filepath.Join(dir, "identities.jsonl"))
	if err != nil || strings.Count(string(lines), "\n") != 2 || strings.Contains(string(lines), "mallory") {
		t.Errorf("outputIdentities holds %q (%v), want the two events", lines, err)
	}
}

// TestWebhook checks that a round's events, and an alarm, are posted.
func TestWebhook(t *testing.T) {
	var posts []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the post: %v", err)
		}
		posts = append(posts, string(b))
	}))
	t.Cleanup(hook.Close)
	h := newHarness(t)
	h.add(t, "wo")
	cfg, err := monitor.ParseConfig(fmt.Appendf(nil, "monitoredValues:\n  fingerprints: [%s]\n", fingerprint(t, h.watched)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := monitor.New(cfg, monitor.Options{Webhook: hook.URL, Logs: []monitor.Log{{
		Kind: monitor.KindTransparency, URL: h.srv.URL, Verifier: h.log.Verifier, StateFile: h.state,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.srv.Set(h.log.Truncate(t, 1))
	if _, err := m.RunOnce(t.Context()); err == nil {
		t.Fatal("no alarm for a rollback")
	}
	if len(posts) != 2 || !strings.Contains(posts[0], `"index":0`) || !strings.Contains(posts[1], `"alarm":"alarm: log 127.0.0.1: consistency check failed: the log rolled back`) {
		t.Errorf("posts %q, want the match then the alarm", posts)
	}
}
