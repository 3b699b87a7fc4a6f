package policy

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
)

// identityTerms caches the OPA form of identities. A token's identity is the
// same on every request it makes (the gateway caches it for minutes), and
// its value (user, project, domains, roles) is about a third of the input's
// allocations. The cache is keyed by the identity's whole content, so an
// entry can never describe another identity: it only saves rebuilding equal
// terms. It is not a decision cache.
var identityTerms = newTermCache(4096)

type termCache struct {
	mu      sync.RWMutex
	entries map[identityKey]*identityEntry
	max     int
	seed    maphash.Seed
	hits    atomic.Uint64 // for tests
}

// identityKey holds every field Identity.term reads, the roles as a hash
// (checked against the entry's copy on a hit).
type identityKey struct {
	method, accessKey                                      string
	userID, userName, userDomainID, userDomain             string
	hasProject                                             bool
	projectID, projectName, projectDomainID, projectDomain string
	roles                                                  uint64
	expires                                                int64
	hasExpiry                                              bool
}

type identityEntry struct {
	roles []string
	term  *ast.Term
}

func newTermCache(max int) *termCache {
	return &termCache{entries: make(map[identityKey]*identityEntry), max: max, seed: maphash.MakeSeed()}
}

func (c *termCache) get(id *Identity) *ast.Term {
	if id == nil {
		return nullTerm
	}
	key := c.key(id)
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()
	if e != nil && slices.Equal(e.roles, id.Roles) {
		c.hits.Add(1)
		return e.term
	}
	term := id.term()
	c.mu.Lock()
	if len(c.entries) >= c.max {
		// Full: start over rather than track recency. Tokens in use come
		// back within a request each.
		clear(c.entries)
	}
	c.entries[key] = &identityEntry{roles: slices.Clone(id.Roles), term: term}
	c.mu.Unlock()
	return term
}

func (c *termCache) key(id *Identity) identityKey {
	k := identityKey{
		method: id.Method, accessKey: id.AccessKey,
		userID: id.User.ID, userName: id.User.Name,
		userDomainID: id.User.Domain.ID, userDomain: id.User.Domain.Name,
		hasExpiry: !id.ExpiresAt.IsZero(),
	}
	if k.hasExpiry {
		// The term holds the time to the second, in UTC.
		k.expires = id.ExpiresAt.Unix()
	}
	if p := id.Project; p != nil {
		k.hasProject = true
		k.projectID, k.projectName = p.ID, p.Name
		k.projectDomainID, k.projectDomain = p.Domain.ID, p.Domain.Name
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	for _, r := range id.Roles {
		h.WriteString(r)
		h.WriteByte(0)
	}
	k.roles = h.Sum64()
	return k
}
