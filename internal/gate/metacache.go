package gate

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/modelgate/modelgate/internal/hub"
)

// metaCache remembers the upstream's answer to a file's HEAD for a short
// while, so that a client's probe, download and ranged reads cost one
// upstream round trip instead of one each. Entries are per token (a gated
// file's metadata is never served to a client without access), a commit
// revision's answer lives longer than a branch's (a branch can move), and
// the cache is bounded.
type metaCache struct {
	mu      sync.Mutex
	entries map[metaKey]metaEntry
	max     int
	now     func() time.Time
}

type metaKey struct {
	url   string
	token [32]byte
}

type metaEntry struct {
	meta    hub.FileMeta
	expires time.Time
}

// Lifetimes of remembered metadata.
const (
	metaTTLBranch = 10 * time.Second
	metaTTLCommit = 10 * time.Minute
	metaMax       = 10000
)

func newMetaCache(now func() time.Time) *metaCache {
	return &metaCache{entries: map[metaKey]metaEntry{}, max: metaMax, now: now}
}

func keyOf(url, token string) metaKey {
	return metaKey{url: url, token: sha256.Sum256([]byte(token))}
}

func (c *metaCache) get(url, token string) (*hub.FileMeta, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[keyOf(url, token)]
	if !ok || c.now().After(e.expires) {
		return nil, false
	}
	m := e.meta
	return &m, true
}

func (c *metaCache) put(url, token string, m *hub.FileMeta, pinned bool) {
	ttl := metaTTLBranch
	if pinned {
		ttl = metaTTLCommit
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries) // a burst of distinct files: start over rather than grow
		}
	}
	c.entries[keyOf(url, token)] = metaEntry{meta: *m, expires: now.Add(ttl)}
}
