package policy

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// flatCache is the cache of rule results of one evaluation (OPA's
// topdown.VirtualCache), kept as a short list per frame instead of OPA's trie
// of hash maps, which allocates a map per reference segment: a third of an
// evaluation's allocations with the shipped policy (bench/README.md). An
// evaluation caches a handful of rules, so a linear scan is cheaper than
// hashing. Each evaluation gets a new one: nothing outlives it.
//
// A user's policy may cache many more rules (a partial rule per key of a
// large data document); past flatCacheMax entries in a frame the linear scan
// would turn quadratic, so the cache hands everything over to OPA's own.
type flatCache struct {
	big    topdown.VirtualCache
	frames [][]cacheEntry
	// Backing arrays for the common case (one frame, a few entries), in
	// the same allocation as the cache.
	frameArray [2][]cacheEntry
	entryArray [4]cacheEntry
}

type cacheEntry struct {
	ref       ast.Ref
	value     *ast.Term
	undefined bool
}

var _ topdown.VirtualCache = (*flatCache)(nil)

func newFlatCache() *flatCache {
	c := &flatCache{}
	c.frames = c.frameArray[:1]
	c.frames[0] = c.entryArray[:0]
	return c
}

// flatCacheMax is the frame size beyond which OPA's trie is cheaper.
const flatCacheMax = 32

// Push starts a frame (OPA does for `with`): lookups see only the top one.
func (c *flatCache) Push() {
	if c.big != nil {
		c.big.Push()
		return
	}
	c.frames = append(c.frames, nil)
}

// Pop drops the top frame and its entries.
func (c *flatCache) Pop() {
	if c.big != nil {
		c.big.Pop()
		return
	}
	c.frames[len(c.frames)-1] = nil
	c.frames = c.frames[:len(c.frames)-1]
}

// Get returns (value, false) for a cached value, (nil, true) for a cached
// undefined result and (nil, false) for a miss, as OPA's cache does.
func (c *flatCache) Get(ref ast.Ref) (*ast.Term, bool) {
	if c.big != nil {
		return c.big.Get(ref)
	}
	top := c.frames[len(c.frames)-1]
	for i := range top {
		if top[i].ref.Equal(ref) {
			if top[i].undefined {
				// Once undefined, always undefined, as in OPA's cache.
				return nil, true
			}
			return top[i].value, false
		}
	}
	return nil, false
}

// Put records value for ref, or an undefined result when value is nil. The
// reference is copied: OPA passes slices of buffers it reuses.
func (c *flatCache) Put(ref ast.Ref, value *ast.Term) {
	if c.big != nil {
		c.big.Put(ref, value)
		return
	}
	top := &c.frames[len(c.frames)-1]
	for i := range *top {
		if e := &(*top)[i]; e.ref.Equal(ref) {
			if value != nil {
				e.value = value
			} else {
				e.undefined = true
			}
			return
		}
	}
	if len(*top) >= flatCacheMax {
		c.spill()
		c.big.Put(ref, value)
		return
	}
	*top = append(*top, cacheEntry{ref: slices.Clone(ref), value: value, undefined: value == nil})
}

// spill moves every frame into OPA's cache, in order, and delegates to it
// from then on.
func (c *flatCache) spill() {
	big := topdown.NewVirtualCache()
	for i, frame := range c.frames {
		if i > 0 {
			big.Push()
		}
		for _, e := range frame {
			if e.value != nil {
				big.Put(e.ref, e.value)
			}
			if e.undefined {
				big.Put(e.ref, nil)
			}
		}
	}
	c.big, c.frames = big, nil
}

// Keys lists the references with a cached value in the top frame.
func (c *flatCache) Keys() []ast.Ref {
	if c.big != nil {
		return c.big.Keys()
	}
	var keys []ast.Ref
	for _, e := range c.frames[len(c.frames)-1] {
		if e.value != nil {
			keys = append(keys, e.ref)
		}
	}
	return keys
}
