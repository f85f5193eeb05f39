package verify

import (
	"crypto"
	"errors"
	"fmt"

	"hallmark.dev/tlog"
)

// ErrNoWitnessPolicy means Witnessed was called without a policy.
var ErrNoWitnessPolicy = errors.New("no witness policy given")

// Witnessed returns an authority that trusts what a does and also requires
// the checkpoint of every transparency log entry a signature carries (the
// one its inclusion proof is against) to carry cosignatures from the
// policy's quorum of witnesses (C2SP tlog-cosignature, tlog-policy): a log
// that shows this signer a view it shows nobody else cannot get that view
// cosigned by witnesses that check the log only grows. A signature without
// a log entry (timestamp-only) has nothing to witness and fails.
func Witnessed(a Authority, p *tlog.Policy) (Authority, error) {
	if a == nil {
		return nil, ErrNoAuthority
	}
	if p == nil {
		return nil, ErrNoWitnessPolicy
	}
	return &witnessed{inner: a, policy: p}, nil
}

type witnessed struct {
	inner  Authority
	policy *tlog.Policy
}

var _ Authority = (*witnessed)(nil)

func (w *witnessed) check(s signed) (Signer, Step, error) {
	signer, step, err := w.inner.check(s)
	if err != nil {
		return signer, step, err
	}
	entries, err := s.entity.TlogEntries()
	if err != nil {
		return Signer{}, StepLog, err
	}
	if len(entries) == 0 {
		return Signer{}, StepLog, errors.New("no transparency log entry: no checkpoint for witnesses to have cosigned")
	}
	seen := map[string]bool{}
	for i, e := range entries {
		cp := e.TransparencyLogEntry().GetInclusionProof().GetCheckpoint().GetEnvelope()
		if cp == "" {
			return Signer{}, StepLog, fmt.Errorf("log entry %d has no checkpoint (a Rekor v1 entry with only a promise): no witness cosigned it", i+1)
		}
		names, err := w.policy.CheckQuorum([]byte(cp))
		if err != nil {
			return Signer{}, StepLog, fmt.Errorf("log entry %d, checkpoint of %s: %w", e.LogIndex(), firstLine(cp), err)
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				signer.Witnesses = append(signer.Witnesses, n)
			}
		}
	}
	return signer, "", nil
}

func (w *witnessed) paeHashes(d *dsseBundle) ([]crypto.Hash, bool) {
	return w.inner.paeHashes(d)
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
