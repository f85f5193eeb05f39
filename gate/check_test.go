package gate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/attest"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/policy"
	"hallmark.dev/verify"
)

const checkImage = "registry.example/app@" + digestA

// verifiedGate makes a verified gate attestation about digestA: its
// predicate says passed (or blocked), its scan finished at finished, and
// its signature has the given verified times.
func verifiedGate(t *testing.T, source string, passed bool, finished time.Time, times ...verify.VerifiedTime) verify.VerifiedAttestation {
	t.Helper()
	report := cleanTrivyJSON
	if !passed {
		report = trivyJSON
	}
	pred := gatePredicate(t, report, finished)
	alg, hex, err := attest.SplitDigest(digestA)
	if err != nil {
		t.Fatal(err)
	}
	return lite.VerifiedAttestation(t, source, verify.Signer{KeyFingerprint: "SHA256:k", Timestamps: times}, PredicateType, pred, attest.Subject{Name: "registry.example/app", Digest: map[string]string{alg: hex}})
}

// failedFindings lists the failed findings by attestation.
func failedFindings(r policy.Result) map[string][]string {
	out := map[string][]string{}
	for _, f := range r.Findings {
		if !f.Passed {
			out[f.Attestation] = append(out[f.Attestation], f.Name)
		}
	}
	return out
}

func TestCheck(t *testing.T) {
	week := AttestationRequirements{MaxAge: 7 * 24 * time.Hour}
	fresh := attNow.Add(-time.Hour)
	old := attNow.Add(-10 * 24 * time.Hour)
	for _, tc := range []struct {
		name   string
		req    AttestationRequirements
		atts   []verify.VerifiedAttestation
		err    string              // "" when the check passes
		failed map[string][]string // failed findings
		noTime bool
	}{
		{name: "one fresh", req: week, atts: []verify.VerifiedAttestation{verifiedGate(t, "a", true, fresh, lite.TSATime(fresh))},
			failed: map[string][]string{}},
		{name: "a fresh one next to an old one", req: week, atts: []verify.VerifiedAttestation{
			verifiedGate(t, "old", true, old, lite.TSATime(old)),
			verifiedGate(t, "new", true, fresh, lite.TSATime(fresh)),
		}, failed: map[string][]string{"old": {CheckSignedTime, CheckScanTime}}},
		{name: "only old ones", req: week, atts: []verify.VerifiedAttestation{
			verifiedGate(t, "older", true, old.Add(-time.Hour), lite.TSATime(old.Add(-time.Hour))),
			verifiedGate(t, "old", true, old, lite.TSATime(old)),
		}, err: "no passing gate attestation newer than 7d for " + checkImage + ": newest is from 2026-11-12T12:00:00Z (10d ago), old; it failed signed time: signed at 2026-11-12T12:00:00Z, 10d ago: older than 7d; scan time: ",
			failed: map[string][]string{"old": {CheckSignedTime, CheckScanTime}, "older": {CheckSignedTime, CheckScanTime}}},
		{name: "the fresh one failed the gate", req: week, atts: []verify.VerifiedAttestation{
			verifiedGate(t, "old", true, old, lite.TSATime(old)),
			verifiedGate(t, "new", false, fresh, lite.TSATime(fresh)),
		}, err: "newest is from 2026-11-22T11:00:00Z (1h0m0s ago), new; it failed result: the gate blocked the image (1 blocking finding(s))",
			failed: map[string][]string{"old": {CheckSignedTime, CheckScanTime}, "new": {CheckPassed}}},
		// The newest gate result within the window decides: an older pass
		// does not outweigh a newer block of the same digest.
		{name: "an older pass and a newer block", req: week, atts: []verify.VerifiedAttestation{
			verifiedGate(t, "monday", true, attNow.Add(-3*24*time.Hour), lite.TSATime(attNow.Add(-3*24*time.Hour))),
			verifiedGate(t, "today", false, fresh, lite.TSATime(fresh)),
		}, err: "no passing gate attestation newer than 7d for " + checkImage + ": newest is from 2026-11-22T11:00:00Z (1h0m0s ago), today; it failed result: the gate blocked the image (1 blocking finding(s))",
			failed: map[string][]string{"monday": {CheckNewest}, "today": {CheckPassed}}},
		{name: "an older block and a newer pass", req: week, atts: []verify.VerifiedAttestation{
			verifiedGate(t, "today", true, fresh, lite.TSATime(fresh)),
			verifiedGate(t, "monday", false, attNow.Add(-3*24*time.Hour), lite.TSATime(attNow.Add(-3*24*time.Hour))),
		}, failed: map[string][]string{"monday": {CheckPassed, CheckNewest}}},
		// A key signature can be timestamped again at any time: a fresh
		// timestamp on an old passing result does not make it the newest;
		// its signed scan time orders it.
		{name: "an old pass stamped again, and a newer block", req: week, atts: []verify.VerifiedAttestation{
			verifiedGate(t, "restamped", true, attNow.Add(-3*24*time.Hour), lite.TSATime(attNow.Add(-time.Minute))),
			verifiedGate(t, "today", false, fresh, lite.TSATime(fresh)),
		}, err: "newest is from 2026-11-22T11:00:00Z (1h0m0s ago), today; it failed result: the gate blocked the image",
			failed: map[string][]string{"restamped": {CheckNewest}, "today": {CheckPassed}}},
		// and its scan time must be inside the window.
		{name: "an old scan stamped again", req: week, atts: []verify.VerifiedAttestation{
			verifiedGate(t, "restamped", true, old, lite.TSATime(attNow.Add(-time.Minute))),
		}, err: "it failed scan time: scan finished at 2026-11-12T12:00:00Z, 10d ago: older than 7d", failed: map[string][]string{"restamped": {CheckScanTime}}},
		{name: "the earliest verified time counts", req: week, atts: []verify.VerifiedAttestation{
			verifiedGate(t, "a", true, fresh, lite.TSATime(fresh), verify.VerifiedTime{Type: "transparency-log", Time: old}),
		}, err: "signed at 2026-11-12T12:00:00Z, 10d ago: older than 7d", failed: map[string][]string{"a": {CheckSignedTime}}},
		{name: "key signatures without a trusted time", req: week, atts: []verify.VerifiedAttestation{
			verifiedGate(t, "a", true, fresh),
		}, err: "none of the 1 verified has a verified signing time", failed: map[string][]string{"a": {CheckSignedTime}}, noTime: true},
		{name: "another gate policy", req: AttestationRequirements{MaxAge: week.MaxAge, PolicyDigest: "sha256:" + strings.Repeat("2", 64)},
			atts: []verify.VerifiedAttestation{verifiedGate(t, "a", true, fresh, lite.TSATime(fresh))},
			err:  "no passing gate attestation newer than 7d under policy sha256:2222", failed: map[string][]string{"a": {CheckPolicy}}},
		// Two releases signed in the same second under another policy: the
		// refusal names the one with the newer scan, whatever the listing
		// order.
		{name: "signed in the same instant, stale scan listed last", req: AttestationRequirements{MaxAge: week.MaxAge, PolicyDigest: "sha256:" + strings.Repeat("2", 64)},
			atts: []verify.VerifiedAttestation{
				verifiedGate(t, "fresh", true, fresh, lite.TSATime(fresh)),
				verifiedGate(t, "stale", true, old, lite.TSATime(fresh)),
			}, err: "newest is from 2026-11-22T11:00:00Z (1h0m0s ago), fresh; it failed policy digest: ",
			failed: map[string][]string{"fresh": {CheckPolicy}, "stale": {CheckScanTime, CheckPolicy}}},
		{name: "signed in the same instant, stale scan listed first", req: AttestationRequirements{MaxAge: week.MaxAge, PolicyDigest: "sha256:" + strings.Repeat("2", 64)},
			atts: []verify.VerifiedAttestation{
				verifiedGate(t, "stale", true, old, lite.TSATime(fresh)),
				verifiedGate(t, "fresh", true, fresh, lite.TSATime(fresh)),
			}, err: "newest is from 2026-11-22T11:00:00Z (1h0m0s ago), fresh; it failed policy digest: ",
			failed: map[string][]string{"fresh": {CheckPolicy}, "stale": {CheckScanTime, CheckPolicy}}},
		{name: "the expected gate policy", req: AttestationRequirements{MaxAge: week.MaxAge, PolicyDigest: DefaultPolicy().Digest()},
			atts:   []verify.VerifiedAttestation{verifiedGate(t, "a", true, fresh, lite.TSATime(fresh))},
			failed: map[string][]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCheck(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Evaluate(context.Background(), policy.Input{
				Subjects:     []policy.Subject{{Name: checkImage, Digests: []string{digestA}}},
				Attestations: tc.atts, Time: attNow,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Check != CheckName {
				t.Errorf("Check = %q, want %q", res.Check, CheckName)
			}
			if res.Passed != (tc.err == "") {
				t.Errorf("Passed = %v, want %v (error %v)", res.Passed, tc.err == "", res.Err)
			}
			if tc.err != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.err)) {
				t.Errorf("got error %v, want one with %q", res.Err, tc.err)
			}
			if got := errors.Is(res.Err, ErrNoTrustedTime); got != tc.noTime {
				t.Errorf("errors.Is(err, ErrNoTrustedTime) = %v, want %v", got, tc.noTime)
			}
			if diff := cmp.Diff(tc.failed, failedFindings(res)); diff != "" {
				t.Errorf("failed findings (-want +got):\n%s", diff)
			}
		})
	}
}
