package admission

import (
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// ttlCache is a bounded LRU cache whose entries expire.
type ttlCache[V any] struct {
	c   *lru.Cache[string, ttlEntry[V]]
	now func() time.Time
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[V any](what string, size int, now func() time.Time) (*ttlCache[V], error) {
	c, err := lru.New[string, ttlEntry[V]](size)
	if err != nil {
		return nil, fmt.Errorf("%s cache: %w", what, err)
	}
	return &ttlCache[V]{c: c, now: now}, nil
}

func (c *ttlCache[V]) get(key string) (V, bool) {
	e, ok := c.c.Get(key)
	if !ok {
		var zero V
		return zero, false
	}
	if !c.now().Before(e.expires) {
		c.c.Remove(key)
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(key string, v V, ttl time.Duration) {
	c.c.Add(key, ttlEntry[V]{v: v, expires: c.now().Add(ttl)})
}

// len returns the number of entries.
func (c *ttlCache[V]) len() int { return c.c.Len() }

// verdictCache keeps verdicts per (repository and digest, policy, policy
// generation), bounded, each for a time to live. The generation changes
// with the policy and with every Secret, ConfigMap and TrustRoot it refers
// to, so a changed policy or trust root is never judged by an old verdict.
type verdictCache struct {
	*ttlCache[verdict]
	ttl time.Duration
}

// failureTTL bounds how long a failed verdict is reused: an image signed
// just after a denial should be admitted soon.
const failureTTL = 10 * time.Second

func newVerdictCache(size int, ttl time.Duration, now func() time.Time) (*verdictCache, error) {
	c, err := newTTLCache[verdict]("verdict", size, now)
	if err != nil {
		return nil, err
	}
	return &verdictCache{ttlCache: c, ttl: ttl}, nil
}

// put keeps a verdict: a passing one for the cache's TTL, a failing one,
// or one that depends on the time (timeBound), for failureTTL at most, so
// an image whose gate attestation grew too old is not admitted on a verdict
// from before.
func (c *verdictCache) put(key string, v verdict, timeBound bool) {
	ttl := c.ttl
	if (!v.Passed || timeBound) && ttl > failureTTL {
		ttl = failureTTL
	}
	c.ttlCache.put(key, v, ttl)
}

// tagCache keeps what a tag named (its digest reference) when it was last
// resolved, per (registry credentials, reference), bounded, for a short
// time to live: a Pod re-admitted within it asks no registry, and a tag
// moved is seen once its entry expires. Keyed by the credentials the
// workload pulls with, a resolution made with one namespace's secrets is
// never reused for a workload without them. Only successful resolutions
// are kept. Verdicts stay keyed by digest (verdictCache): the tag cache
// only saves the registry round trip of the mutating webhook.
type tagCache struct {
	c   *ttlCache[string]
	ttl time.Duration
}

func newTagCache(size int, ttl time.Duration, now func() time.Time) (*tagCache, error) {
	if ttl < 0 {
		return nil, nil
	}
	c, err := newTTLCache[string]("tag", size, now)
	if err != nil {
		return nil, err
	}
	return &tagCache{c: c, ttl: ttl}, nil
}

func tagKey(credentials, reference string) string { return credentials + "\x00" + reference }

// get returns the digest reference cached for the reference; a nil cache
// has none.
func (c *tagCache) get(credentials, reference string) (string, bool) {
	if c == nil {
		return "", false
	}
	return c.c.get(tagKey(credentials, reference))
}

func (c *tagCache) put(credentials, reference, digestRef string) {
	if c != nil {
		c.c.put(tagKey(credentials, reference), digestRef, c.ttl)
	}
}
