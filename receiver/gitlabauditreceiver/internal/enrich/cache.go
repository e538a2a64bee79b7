// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package enrich

import (
	"container/list"
	"sync"
	"time"
)

// cache remembers lookup results by object, bounded in size (least
// recently used first out) and in age (ttl), and coalesces concurrent
// lookups of the same object into one flight.
type cache struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[objectKey]*list.Element // of *entry
	lru     list.List                   // front: most recently used
}

// entry is a cached result, or a lookup in flight when done is open.
type entry struct {
	key     objectKey
	done    chan struct{} // closed when res is set
	res     Result
	expires time.Time
}

func newCache(maxEntries int, ttl time.Duration, now func() time.Time) *cache {
	return &cache{max: maxEntries, ttl: ttl, now: now, entries: map[objectKey]*list.Element{}}
}

// join returns the entry of key: a fresh result, a lookup in flight, or a
// new entry the caller must fill with finish (leader is true).
func (c *cache) join(key objectKey) (e *entry, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*entry)
		select {
		case <-e.done:
			if c.now().Before(e.expires) {
				c.lru.MoveToFront(el)
				return e, false
			}
			c.remove(el)
		default:
			return e, false // in flight
		}
	}
	e = &entry{key: key, done: make(chan struct{})}
	c.entries[key] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
	return e, true
}

// finish sets the result of a flight. Results that describe the moment
// rather than the object (errors, timeouts, skips) are not kept, but for
// those a rate limit caused, kept for their short hold; nor are the
// answers of kinds looked up per event.
func (c *cache) finish(e *entry, res Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.res = res
	e.expires = c.now().Add(c.ttl)
	if !res.cacheable() && res.hold > 0 {
		e.expires = c.now().Add(min(res.hold, c.ttl))
	}
	close(e.done)
	keep := res.cacheable() || res.hold > 0
	if el, ok := c.entries[e.key]; ok && el.Value.(*entry) == e && (!keep || e.key.kind.perEvent()) {
		c.remove(el)
	}
}

func (c *cache) remove(el *list.Element) {
	delete(c.entries, el.Value.(*entry).key)
	c.lru.Remove(el)
}

// Len returns the number of entries, flights included.
func (c *cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
