// Package lru is a bounded map from strings to values that evicts the least recently used
// entry: O(1) lookup, insert and eviction, no allocation on a hit, and no scan ever. Large
// caches are split into shards, each an exact LRU under its own small lock, so that
// concurrent requests rarely meet on a lock.
package lru

import (
	"hash/maphash"
	"sync"
)

// Shards are only used when each holds at least this many entries: a small cache is one
// exact LRU; a large one is exact per shard, which keeps the working set up to the shards'
// uneven filling (a few percent at these sizes).
const (
	minPerShard = 1024
	maxShards   = 64
	// tailBytes of a key choose its shard: keys are expected to end in something random
	// (a MAC), so hashing the whole key would only cost time.
	tailBytes = 32
)

// Cache maps keys to values. It is safe for concurrent use.
type Cache[V any] struct {
	shards   []shard[V]
	seed     maphash.Seed
	onResize func(delta int)
}

type node[V any] struct {
	key        string
	val        V
	prev, next *node[V]
}

type shard[V any] struct {
	mu  sync.Mutex
	m   map[string]*node[V]
	max int
	// root is the sentinel of a ring: root.next is the most recently used entry, root.prev
	// the least.
	root node[V]
	_    [64]byte // keeps neighbouring shards' locks off one cache line
}

// New returns a cache holding at most size entries (at least 1). onResize, if not nil, is
// told every change of the number of entries (without holding a lock).
func New[V any](size int, onResize func(delta int)) *Cache[V] {
	size = max(size, 1)
	n := 1
	for n*2 <= maxShards && size/(n*2) >= minPerShard {
		n *= 2
	}
	c := &Cache[V]{shards: make([]shard[V], n), seed: maphash.MakeSeed(), onResize: onResize}
	for i := range c.shards {
		s := &c.shards[i]
		s.max = size / n
		if i < size%n {
			s.max++
		}
		s.m = make(map[string]*node[V])
		s.root.next, s.root.prev = &s.root, &s.root
	}
	return c
}

func (c *Cache[V]) shard(key string) *shard[V] {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	tail := key[max(0, len(key)-tailBytes):]
	return &c.shards[maphash.String(c.seed, tail)&uint64(len(c.shards)-1)]
}

// Get returns the value of key and marks it most recently used.
func (c *Cache[V]) Get(key string) (V, bool) {
	s := c.shard(key)
	s.mu.Lock()
	n, ok := s.m[key]
	if ok {
		s.toFront(n)
	}
	s.mu.Unlock()
	if !ok {
		var zero V
		return zero, false
	}
	return n.val, true
}

// GetOrAdd returns the value of key if it has one, else stores v (evicting the least recently
// used entry when full) and returns it. Either way the entry becomes most recently used. The
// cache keeps key itself: a slice of a larger string (a request header) would pin all of it,
// so clone such a key first.
func (c *Cache[V]) GetOrAdd(key string, v V) V {
	s := c.shard(key)
	s.mu.Lock()
	if n, ok := s.m[key]; ok {
		s.toFront(n)
		s.mu.Unlock()
		return n.val
	}
	n := &node[V]{key: key, val: v}
	s.m[n.key] = n
	s.link(n)
	grown := 1
	if len(s.m) > s.max {
		old := s.root.prev
		s.unlink(old)
		delete(s.m, old.key)
		grown = 0
	}
	s.mu.Unlock()
	c.resized(grown)
	return v
}

// Remove deletes key.
func (c *Cache[V]) Remove(key string) {
	s := c.shard(key)
	s.mu.Lock()
	n, ok := s.m[key]
	if ok {
		s.unlink(n)
		delete(s.m, key)
	}
	s.mu.Unlock()
	if ok {
		c.resized(-1)
	}
}

// Len is the number of entries.
func (c *Cache[V]) Len() int {
	total := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		total += len(s.m)
		s.mu.Unlock()
	}
	return total
}

func (c *Cache[V]) resized(delta int) {
	if delta != 0 && c.onResize != nil {
		c.onResize(delta)
	}
}

func (s *shard[V]) toFront(n *node[V]) {
	if s.root.next == n {
		return
	}
	s.unlink(n)
	s.link(n)
}

func (s *shard[V]) link(n *node[V]) {
	n.prev, n.next = &s.root, s.root.next
	s.root.next.prev = n
	s.root.next = n
}

func (s *shard[V]) unlink(n *node[V]) {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
}
