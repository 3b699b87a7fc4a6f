package identity

import (
	"sync"
	"time"
)

// tokenKey is the SHA-256 of a token: the cache never holds the token itself.
type tokenKey = [32]byte

// cacheEntry is one cached validation. id is nil for a negative (invalid
// token) result. Entries form a doubly linked list in insertion order so the
// oldest one can be evicted in O(1) when the cache is full; since every entry
// lives at most MaxTTL, the oldest is also (roughly) the one closest to
// expiry.
type cacheEntry struct {
	key        tokenKey
	id         *Identity
	until      time.Time // the entry is usable while now is before until
	prev, next *cacheEntry
}

// cache is a bounded map of validation results. Reads take the read lock
// only, so concurrent hits do not contend on a writer.
type cache struct {
	mu         sync.RWMutex
	m          map[tokenKey]*cacheEntry
	head, tail *cacheEntry // head is the oldest entry
	max        int
}

func newCache(maxEntries int) *cache {
	return &cache{m: make(map[tokenKey]*cacheEntry), max: maxEntries}
}

// get returns the cached result for key if it is still usable at now. found
// reports a usable entry; id is nil for a cached negative result. An expired
// entry is left in place: the next store for the key replaces it, or it ages
// out of the list.
func (c *cache) get(key *tokenKey, now time.Time) (id *Identity, found bool) {
	c.mu.RLock()
	e, ok := c.m[*key]
	if ok {
		id = e.id
		ok = now.Before(e.until)
	}
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	// An identity is never returned past its own expiry, whatever the entry
	// says (defence in depth: until is already capped at ExpiresAt).
	if id != nil && !now.Before(id.ExpiresAt) {
		return nil, false
	}
	return id, true
}

// put stores a result for key, usable until the given time, evicting the
// oldest entries when the cache is full.
func (c *cache) put(key *tokenKey, id *Identity, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[*key]; ok {
		c.unlink(e)
		e.id, e.until = id, until
		c.pushBack(e)
		return
	}
	for len(c.m) >= c.max && c.head != nil {
		old := c.head
		c.unlink(old)
		delete(c.m, old.key)
	}
	e := &cacheEntry{key: *key, id: id, until: until}
	c.m[*key] = e
	c.pushBack(e)
}

func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

func (c *cache) unlink(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (c *cache) pushBack(e *cacheEntry) {
	e.prev = c.tail
	if c.tail != nil {
		c.tail.next = e
	} else {
		c.head = e
	}
	c.tail = e
}
