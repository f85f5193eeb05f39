package admission

import (
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// verdictCache keeps verdicts per (image digest, policy, policy
// generation), bounded, each for a time to live. The generation changes
// with the policy and with every Secret, ConfigMap and TrustRoot it refers
// to, so a changed policy or trust root is never judged by an old verdict.
type verdictCache struct {
	c   *lru.Cache[string, cachedVerdict]
	ttl time.Duration
	now func() time.Time
}

type cachedVerdict struct {
	v       verdict
	expires time.Time
}

// failureTTL bounds how long a failed verdict is reused: an image signed
// just after a denial should be admitted soon.
const failureTTL = 10 * time.Second

func newVerdictCache(size int, ttl time.Duration, now func() time.Time) (*verdictCache, error) {
	c, err := lru.New[string, cachedVerdict](size)
	if err != nil {
		return nil, fmt.Errorf("verdict cache: %w", err)
	}
	return &verdictCache{c: c, ttl: ttl, now: now}, nil
}

func (c *verdictCache) get(key string) (verdict, bool) {
	e, ok := c.c.Get(key)
	if !ok {
		return verdict{}, false
	}
	if !c.now().Before(e.expires) {
		c.c.Remove(key)
		return verdict{}, false
	}
	return e.v, true
}

func (c *verdictCache) put(key string, v verdict) {
	ttl := c.ttl
	if !v.Passed && ttl > failureTTL {
		ttl = failureTTL
	}
	c.c.Add(key, cachedVerdict{v: v, expires: c.now().Add(ttl)})
}

// len returns the number of entries.
func (c *verdictCache) len() int { return c.c.Len() }
