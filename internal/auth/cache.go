package auth

import (
	"context"
	"sync"
	"time"

	"github.com/phoenix/platform/internal/store"
)

// DefaultCacheTTL is the key cache lifetime `phoenix server` uses: how long
// a key revoked through another replica keeps authenticating here at most.
const DefaultCacheTTL = 5 * time.Second

// maxCacheEntries bounds the key cache; past it, expired entries are swept
// and, if none expired, new keys are looked up without being cached.
const maxCacheEntries = 4096

// keyCache remembers the keys the store resolved, by the SHA-256 of their
// secret (the form the store keeps, never the secret), for a short time.
// Only usable keys are cached; revocation and expiry are checked again on
// every hit against the cached key's own times.
type keyCache struct {
	ttl time.Duration

	mu      sync.RWMutex
	gen     uint64 // counts forgets, so a lookup racing one is not cached
	entries map[[32]byte]cacheEntry
}

type cacheEntry struct {
	key     *store.APIKey // read-only once cached
	expires time.Time     // when the entry must be looked up again
}

func newKeyCache(ttl time.Duration) *keyCache {
	return &keyCache{ttl: ttl, entries: make(map[[32]byte]cacheEntry)}
}

// get returns the cached key of sum if it was cached less than a TTL ago,
// and the generation to pass to put after a miss.
func (c *keyCache) get(sum [32]byte, now time.Time) (*store.APIKey, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[sum]
	if ok && now.Before(e.expires) && !now.Before(e.expires.Add(-c.ttl)) {
		return e.key, c.gen
	}
	return nil, c.gen
}

// put caches k under sum unless a key was forgotten since gen was read:
// the store may have answered before that revocation.
func (c *keyCache) put(sum [32]byte, k *store.APIKey, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.entries) >= maxCacheEntries {
		for s, e := range c.entries {
			if !now.Before(e.expires) || now.Before(e.expires.Add(-c.ttl)) {
				delete(c.entries, s)
			}
		}
		if len(c.entries) >= maxCacheEntries {
			return
		}
	}
	c.entries[sum] = cacheEntry{key: k, expires: now.Add(c.ttl)}
}

// forget drops every cached entry of the tenant's key.
func (c *keyCache) forget(tenantID, keyID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for s, e := range c.entries {
		if e.key.TenantID == tenantID && e.key.ID == keyID {
			delete(c.entries, s)
		}
	}
}

// ForgetKey drops the key from the authenticator's cache, so its next use
// is checked against the store. Call it after revoking a key by other
// means than a store wrapped with [Authenticator.ForgetRevoked].
func (a *Authenticator) ForgetKey(tenantID, keyID string) {
	if a.cache != nil {
		a.cache.forget(tenantID, keyID)
	}
}

// ForgetRevoked returns st whose APIKeyRevoke also drops the key from the
// authenticator's cache, so a key revoked through it stops authenticating
// with the next request. Give it to what revokes keys (the API). Every
// other method is st's own.
func (a *Authenticator) ForgetRevoked(st store.Store) store.Store {
	return &forgetRevoked{Store: st, a: a}
}

type forgetRevoked struct {
	store.Store
	a *Authenticator
}

// APIKeyRevoke implements [store.Store]: it revokes through the wrapped
// store, then forgets the key whether or not that failed.
func (f *forgetRevoked) APIKeyRevoke(ctx context.Context, tenantID, id string) (*store.APIKey, error) {
	k, err := f.Store.APIKeyRevoke(ctx, tenantID, id)
	f.a.ForgetKey(tenantID, id)
	return k, err
}
