// Package monitor watches hallmark's logs for the identities a user cares
// about, as rekor-monitor (https://github.com/sigstore/rekor-monitor) does
// for the public Rekor: it reads rekor-monitor's YAML configuration
// unchanged, follows the transparency log (C2SP tlog-tiles) and the CT log
// (C2SP static-ct-api) over their tiles from the checkpoint it saved last,
// and reports every entry signed by, or every certificate issued to, a
// watched identity.
//
// Each round, for each log, it
//
//  1. fetches the checkpoint and verifies it with the log's key from the
//     trusted root, and, given a witness policy (C2SP tlog-policy), that
//     the policy's quorum cosigned it;
//  2. verifies that the log only grew since the saved checkpoint (an RFC
//     6962 consistency proof built from tiles);
//  3. reads every new entry, and recomputes the root of the tree from the
//     saved checkpoint's and the new leaves' hashes, which must be the
//     checkpoint's: an entry the log shows the monitor is an entry the
//     checkpoint commits to;
//  4. decodes each entry (Rekor v2 hashedrekord and dsse, CT certificates
//     and precertificates) and matches it against the monitored values;
//  5. saves the checkpoint.
//
// A checkpoint that does not verify, a missing quorum, a log that rolled
// back or forked, or tiles that do not hash to the checkpoint stop the
// round with an *AlarmError, and nothing is saved; an entry that cannot be
// decoded is reported as an event of kind "unparsed" and counted, never
// skipped silently.
//
// Differences from rekor-monitor: a first run without a saved checkpoint
// reads the log from index 0 (startIndex, if set) rather than from its
// latest checkpoint, since a private log is small and its whole history is
// what a first run should check; regular expressions match substrings, as
// rekor-monitor's do (unlike hallmark verify's anchored ones), which reports
// more, never less; notifications go to a webhook.
package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/tlog"
)

// Log kinds in events.
const (
	KindTransparency = "transparency"
	KindCT           = "ct"
)

// Event is one report line.
type Event struct {
	// Kind is "match" (an entry matched a monitored value) or "unparsed"
	// (an entry the monitor could not decode).
	Kind string `json:"kind"`
	// Log is the log's origin; LogKind is KindTransparency or KindCT.
	Log     string `json:"log"`
	LogKind string `json:"logKind"`
	// Index is the entry's index in the log.
	Index uint64 `json:"index"`
	// Identity is the value that matched: a subject alternative name, a
	// fingerprint or an extension value.
	Identity string `json:"identity,omitempty"`
	// Issuer is the certificate's OIDC issuer.
	Issuer string `json:"issuer,omitempty"`
	// ArtifactDigest is what a transparency log entry signed.
	ArtifactDigest string `json:"artifactDigest,omitempty"`
	// Time is the CT entry's timestamp, or the certificate's NotBefore
	// (within its ten minutes of the signature); zero for a key.
	Time time.Time `json:"time,omitzero"`
	// Matched names the monitored value, as rekor-monitor does
	// ("certIdentity:<certSubject>[:issuers]").
	Matched string `json:"matched,omitempty"`
	// Error says why an entry could not be decoded.
	Error string `json:"error,omitempty"`
}

// String formats the event as a text report line.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s log %s index %d", e.Kind, e.LogKind, e.Log, e.Index)
	if e.Error != "" {
		fmt.Fprintf(&b, ": %s", e.Error)
		return b.String()
	}
	fmt.Fprintf(&b, " identity %s", e.Identity)
	if e.Issuer != "" {
		fmt.Fprintf(&b, " issuer %s", e.Issuer)
	}
	if e.ArtifactDigest != "" {
		fmt.Fprintf(&b, " digest %s", e.ArtifactDigest)
	}
	if !e.Time.IsZero() {
		fmt.Fprintf(&b, " time %s", e.Time.Format(time.RFC3339))
	}
	fmt.Fprintf(&b, " (matched %s)", e.Matched)
	return b.String()
}

// AlarmError is a log misbehaving, or shown to the monitor as misbehaving:
// it is never a reason to skip ahead.
type AlarmError struct {
	Log  string
	What string // "checkpoint", "witnesses", "consistency" or "entries"
	Err  error
}

func (e *AlarmError) Error() string {
	return fmt.Sprintf("alarm: log %s: %s check failed: %v", e.Log, e.What, e.Err)
}

func (e *AlarmError) Unwrap() error { return e.Err }

// Log is one log to follow.
type Log struct {
	// Kind is KindTransparency or KindCT.
	Kind string
	// URL is the base URL the trusted root lists: the transparency log's
	// tiles are under URL/api/v2/, the CT log's under URL/.
	URL string
	// Verifier verifies its checkpoints.
	Verifier note.Verifier
	// StateFile keeps its last verified checkpoint.
	StateFile string
}

// Options configure a Monitor.
type Options struct {
	// Logs are the logs to follow.
	Logs []Log
	// Policy, if set, is the witness policy every checkpoint must meet.
	Policy *tlog.Policy
	// Webhook, if set, receives a POST of each round's events and alarm
	// as JSON ({"events": [...], "alarm": "..."}) when there are any.
	Webhook string
	// HTTPClient reaches the logs and the webhook.
	HTTPClient *http.Client
}

// Monitor follows logs for a configuration.
type Monitor struct {
	cfg      *Config
	opts     Options
	matchers []*matcher
}

// New returns a monitor for cfg.
func New(cfg *Config, opts Options) (*Monitor, error) {
	ms, err := cfg.matchers()
	if err != nil {
		return nil, err
	}
	if len(opts.Logs) == 0 {
		return nil, errors.New("monitor: no logs to follow")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Monitor{cfg: cfg, opts: opts, matchers: ms}, nil
}

// Report is the outcome of one round.
type Report struct {
	Events []Event `json:"events"`
	// Checkpoints are the verified tree sizes, by log origin.
	Checkpoints map[string]uint64 `json:"checkpoints"`
	// Unparsed counts the entries that could not be decoded.
	Unparsed int `json:"unparsed"`
}

// RunOnce follows every log once. Events are reported (output file,
// webhook) as they are; an alarm stops the round and is returned as an
// *AlarmError after the events found so far were reported.
func (m *Monitor) RunOnce(ctx context.Context) (*Report, error) {
	r := &Report{Checkpoints: map[string]uint64{}}
	var err error
	for _, l := range m.opts.Logs {
		if err = m.follow(ctx, l, r); err != nil {
			break
		}
	}
	if rerr := m.record(ctx, r, err); rerr != nil && err == nil {
		err = rerr
	}
	return r, err
}

// Run runs a round every interval until ctx is done or an alarm, calling
// report after each round.
func (m *Monitor) Run(ctx context.Context, interval time.Duration, report func(*Report, error)) error {
	for {
		r, err := m.RunOnce(ctx)
		report(r, err)
		var alarm *AlarmError
		if errors.As(err, &alarm) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// follow runs one round on one log.
func (m *Monitor) follow(ctx context.Context, l Log, r *Report) error {
	origin := l.Verifier.Name()
	alarm := func(what string, err error) error { return &AlarmError{Log: origin, What: what, Err: err} }
	f, err := newFetcher(l, m.opts.HTTPClient)
	if err != nil {
		return err
	}
	raw, err := f.ReadCheckpoint(ctx)
	if err != nil {
		return fmt.Errorf("log %s: fetching the checkpoint: %w", origin, err)
	}
	cp, err := tlog.VerifyCheckpoint(raw, l.Verifier)
	if err != nil {
		return alarm("checkpoint", err)
	}
	if m.opts.Policy != nil {
		if _, err := m.opts.Policy.CheckQuorum(raw); err != nil {
			return alarm("witnesses", err)
		}
	}
	prev, havePrev, err := loadState(l.StateFile, l.Verifier)
	if err != nil {
		return err
	}
	from := uint64(0)
	if havePrev {
		from = prev.Size
		switch {
		case cp.Size < prev.Size:
			return alarm("consistency", fmt.Errorf("the log rolled back from size %d to %d", prev.Size, cp.Size))
		case cp.Size == prev.Size && !bytes.Equal(cp.Hash, prev.Hash):
			return alarm("consistency", fmt.Errorf("the log forked: size %d had root %x, now %x", cp.Size, prev.Hash, cp.Hash))
		case cp.Size > prev.Size && prev.Size > 0:
			if err := checkConsistency(ctx, f, prev, cp); err != nil {
				return alarm("consistency", err)
			}
		}
	} else if m.cfg.StartIndex != nil {
		from = min(uint64(*m.cfg.StartIndex), cp.Size)
	}
	to := cp.Size
	bounded := m.cfg.EndIndex != nil && uint64(*m.cfg.EndIndex)+1 < to
	if bounded {
		to = max(uint64(*m.cfg.EndIndex)+1, from)
	}
	// The entries' events count only once the entries are proven to be
	// the checkpoint's.
	var found Report
	if err := m.readEntries(ctx, l, f, prev, havePrev, cp, from, to, &found); err != nil {
		return err
	}
	r.Events = append(r.Events, found.Events...)
	r.Unparsed += found.Unparsed
	r.Checkpoints[origin] = cp.Size
	if bounded || (havePrev && cp.Size == prev.Size) {
		return nil // a bounded search is a one-off; an unchanged log needs no new line
	}
	return saveState(l.StateFile, raw)
}

// checkConsistency proves from tiles that cp extends prev.
func checkConsistency(ctx context.Context, f *fetcher, prev, cp tlog.Checkpoint) error {
	pb, err := client.NewProofBuilder(ctx, cp.Size, f.ReadTile)
	if err != nil {
		return err
	}
	proof, err := pb.ConsistencyProof(ctx, prev.Size, cp.Size)
	if err != nil {
		return err
	}
	return tlog.VerifyConsistency(prev.Size, cp.Size, proof, prev.Hash, cp.Hash)
}

// readEntries reads entries [from, to), checks that they and the tree
// before them hash to cp's root (or, when to is below cp's size, to a tree
// cp is consistent with), and matches them.
func (m *Monitor) readEntries(ctx context.Context, l Log, f *fetcher, prev tlog.Checkpoint, havePrev bool, cp tlog.Checkpoint, from, to uint64, r *Report) error {
	origin := l.Verifier.Name()
	alarm := func(err error) error { return &AlarmError{Log: origin, What: "entries", Err: err} }
	nodes, err := client.FetchRangeNodes(ctx, from, f.ReadTile)
	if err != nil {
		return fmt.Errorf("log %s: reading tiles: %w", origin, err)
	}
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng, err := rf.NewRange(0, from, nodes)
	if err != nil {
		return alarm(fmt.Errorf("tiles of the tree of size %d: %v", from, err))
	}
	if havePrev && from == prev.Size && from > 0 {
		if root, err := rng.GetRootHash(nil); err != nil || !bytes.Equal(root, prev.Hash) {
			return alarm(fmt.Errorf("the tiles of the tree of size %d do not hash to the saved checkpoint's root", from))
		}
	}
	for index := from; index < to; {
		bundle := index / layout.EntryBundleWidth
		data, err := f.readBundle(ctx, bundle, layout.PartialTileSize(0, bundle, cp.Size))
		if err != nil {
			return fmt.Errorf("log %s: reading entries at %d: %w", origin, index, err)
		}
		entries, err := f.unbundle(data)
		if err != nil {
			return alarm(fmt.Errorf("entry bundle %d: %v", bundle, err))
		}
		first := index % layout.EntryBundleWidth
		if uint64(len(entries)) <= first {
			return alarm(fmt.Errorf("entry bundle %d has %d entries, want more than %d", bundle, len(entries), first))
		}
		for _, e := range entries[first:] {
			if index >= to {
				break
			}
			if err := rng.Append(rfc6962.DefaultHasher.HashLeaf(e.leaf), nil); err != nil {
				return alarm(err)
			}
			m.match(l, index, e, r)
			index++
		}
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return alarm(err)
	}
	if to == cp.Size {
		if !bytes.Equal(root, cp.Hash) {
			return alarm(fmt.Errorf("the entries served hash to root %x, the checkpoint of size %d says %x", root, cp.Size, cp.Hash))
		}
		return nil
	}
	if err := checkConsistency(ctx, f, tlog.Checkpoint{Size: to, Hash: root}, cp); err != nil {
		return alarm(fmt.Errorf("the entries served up to %d are not in the checkpoint's tree: %v", to, err))
	}
	return nil
}

// match decodes one entry and adds its matches, or its decoding error, to
// r.
func (m *Monitor) match(l Log, index uint64, e rawEntry, r *Report) {
	base := Event{Log: l.Verifier.Name(), LogKind: l.Kind, Index: index}
	d, err := e.decode()
	if err != nil {
		ev := base
		ev.Kind, ev.Error = "unparsed", err.Error()
		r.Events = append(r.Events, ev)
		r.Unparsed++
		return
	}
	for _, s := range d.signers {
		for _, mt := range m.matchers {
			ok, id := mt.match(s)
			if !ok {
				continue
			}
			ev := base
			ev.Kind, ev.Identity, ev.Issuer, ev.ArtifactDigest, ev.Time = "match", id, s.issuer, d.digest, d.time
			ev.Matched = mt.kind + ":" + mt.value
			r.Events = append(r.Events, ev)
		}
	}
}

// rawEntry is an entry with the leaf the tree commits to.
type rawEntry struct {
	leaf   []byte
	decode func() (*decoded, error)
}

// fetcher reads one log's resources.
type fetcher struct {
	*client.HTTPFetcher
	readBundle func(ctx context.Context, i uint64, p uint8) ([]byte, error)
	unbundle   func([]byte) ([]rawEntry, error)
}

func newFetcher(l Log, c *http.Client) (*fetcher, error) {
	base := strings.TrimRight(l.URL, "/")
	switch l.Kind {
	case KindTransparency:
		hf, err := httpFetcher(base+"/api/v2/", c)
		if err != nil {
			return nil, err
		}
		return &fetcher{HTTPFetcher: hf, readBundle: hf.ReadEntryBundle, unbundle: unbundleRekor}, nil
	case KindCT:
		hf, err := httpFetcher(base+"/", c)
		if err != nil {
			return nil, err
		}
		read := func(ctx context.Context, i uint64, p uint8) ([]byte, error) {
			return get(ctx, c, base+"/tile/data/"+layout.NWithSuffix(0, i, p))
		}
		return &fetcher{HTTPFetcher: hf, readBundle: read, unbundle: unbundleCT}, nil
	default:
		return nil, fmt.Errorf("monitor: unknown log kind %q", l.Kind)
	}
}

func unbundleRekor(data []byte) ([]rawEntry, error) {
	var b api.EntryBundle
	if err := b.UnmarshalText(data); err != nil {
		return nil, err
	}
	out := make([]rawEntry, len(b.Entries))
	for i, e := range b.Entries {
		out[i] = rawEntry{leaf: e, decode: func() (*decoded, error) { return decodeRekorEntry(e) }}
	}
	return out, nil
}

func unbundleCT(data []byte) ([]rawEntry, error) {
	leaves, err := parseDataTile(data)
	if err != nil {
		return nil, err
	}
	out := make([]rawEntry, len(leaves))
	for i, l := range leaves {
		out[i] = rawEntry{leaf: l.leaf, decode: func() (*decoded, error) { return decodeCTLeaf(l) }}
	}
	return out, nil
}

// record writes the round's events to the output file, the latest index
// to the metadata file, and posts events and alarm to the webhook.
func (m *Monitor) record(ctx context.Context, r *Report, alarm error) error {
	var errs []error
	if p := m.cfg.OutputIdentities; p != nil && *p != "" && len(r.Events) > 0 {
		var b bytes.Buffer
		for _, e := range r.Events {
			if f := m.cfg.OutputIdentitiesFormat; f != nil && *f == "json" {
				line, err := json.Marshal(e)
				if err != nil {
					return err
				}
				b.Write(line)
			} else {
				b.WriteString(e.String())
			}
			b.WriteByte('\n')
		}
		errs = append(errs, appendFile(*p, b.Bytes()))
	}
	if p := m.cfg.IdentityMetadataFile; p != nil && *p != "" {
		for _, l := range m.opts.Logs {
			if size, ok := r.Checkpoints[l.Verifier.Name()]; ok && l.Kind == KindTransparency && size > 0 {
				b, err := json.Marshal(map[string]uint64{"latestIndex": size - 1})
				if err != nil {
					return err
				}
				errs = append(errs, os.WriteFile(*p, append(b, '\n'), 0o644))
			}
		}
	}
	if m.opts.Webhook != "" && (len(r.Events) > 0 || alarm != nil) {
		body := struct {
			Events []Event `json:"events"`
			Alarm  string  `json:"alarm,omitempty"`
		}{Events: r.Events}
		if alarm != nil {
			body.Alarm = alarm.Error()
		}
		errs = append(errs, m.post(ctx, body))
	}
	return errors.Join(errs...)
}

func (m *Monitor) post(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.opts.Webhook, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: HTTP %d", resp.StatusCode)
	}
	return nil
}
