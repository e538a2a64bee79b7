// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package emit

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/tick"
)

// ClaimState is the answer of the de-duplication set for one event.
type ClaimState uint8

const (
	// ClaimOwned: the caller now owns the event and must Commit or Release it.
	ClaimOwned ClaimState = iota
	// ClaimDuplicate: the event was already emitted.
	ClaimDuplicate
	// ClaimInFlight: another request or poll is emitting the event right
	// now; wait on the channel, then claim again.
	ClaimInFlight
	// ClaimFull: as many events as the set may hold in flight are in
	// flight; deliver again later.
	ClaimFull
)

// Claim is the answer for one event. When owned, key is the key to commit
// or release: the event's key, or, for an id already emitted with other
// content (conflict), a key of its own for this content.
type Claim struct {
	State    ClaimState
	wait     <-chan struct{}
	key      string
	conflict bool
}

// claimFullRetry is how long Wait waits before an event is claimed again
// when the de-duplication set held as many events in flight as it may.
const claimFullRetry = 50 * time.Millisecond

// Wait waits until an event that was not owned (in flight elsewhere, or
// the set full) may be claimed again. Call it only after handing over (or
// releasing) the claims the caller holds: nobody waits holding claims.
func (cl Claim) Wait(ctx context.Context) error {
	if cl.State == ClaimFull {
		return tick.Sleep(ctx, claimFullRetry)
	}
	select {
	case <-cl.wait:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dedupEntry is stored by value and holds no pointer (nor does its key,
// setKey): the set holds up to max_entries of them, and the garbage
// collector has nothing to follow in them.
type dedupEntry struct {
	seq     uint64 // insertion number, to tell stale FIFO items apart
	expires int64  // unix nanoseconds; 0 while in flight
	fp      auditlog.Fingerprint
}

// Item is a key with the fingerprint of the content emitted under it.
type Item struct {
	Key string
	FP  auditlog.Fingerprint
}

type fifoItem struct {
	key setKey
	seq uint64
}

// dedupCache is the bounded, time-limited, in-memory set of recently
// emitted event keys that both the poller and the stream endpoint consult,
// so that an event delivered twice by GitLab, or by both paths, is emitted
// once. Claiming an event before emitting it, and committing it only after
// the pipeline accepted it, makes concurrent deliveries of the same event
// resolve to exactly one emission, and lets a refused one be retried. The
// state store (state.go) keeps a copy in storage.
//
// The set holds at most max entries at all times. At most half of them may
// be in flight (claimed, not yet committed or released); a claim beyond
// that is answered ClaimFull. Committed entries leave the set when they
// expire (ttl after the commit), or, when the set is full, oldest claimed
// first; such an eviction before expiry is counted (evicted).
//
// Each entry holds the fingerprint of the content emitted. A delivery with
// the same key and another fingerprint is not a duplicate: it is claimed
// under a key of its own (conflictKey) and marked.
type dedupCache struct {
	mu sync.Mutex
	// entries and fifo hold no pointer (setKey): the garbage collector
	// does not scan them.
	entries map[setKey]dedupEntry
	// waiters holds, for in-flight keys that another delivery waits for
	// (rare), the channel closed when the owner commits or releases.
	waiters  map[setKey]chan struct{}
	fifo     []fifoItem // insertion order, oldest first from head
	head     int
	seq      uint64
	max      int
	inFlight int // entries with expires == 0
	deleted  int // deletions since the map was last rebuilt
	evicted  int64
	ttl      time.Duration
	now      func() time.Time
}

func newDedupCache(maxEntries int, ttl time.Duration, now func() time.Time) *dedupCache {
	return &dedupCache{
		// Not sized for max: a set made for 65,536 entries held 8 MB from
		// the start, most of the live heap of a collector that polls 2,000
		// quiet feeds (the estate benchmark) and so most of its GC target.
		// Go's maps grow a table at a time, so growing on demand costs a
		// busy collector little.
		entries: make(map[setKey]dedupEntry),
		max:     maxEntries,
		ttl:     ttl,
		now:     now,
	}
}

// maxInFlight is how many events may be claimed and not yet committed or
// released at once: half the set, so that committed entries can always
// make room for new claims.
func (c *dedupCache) maxInFlight() int { return max(c.max/2, 1) }

// Claim asks, for each event, whether the caller may emit it.
func (c *dedupCache) Claim(items []Item) []Claim {
	return c.claimInto(make([]Claim, 0, len(items)), items)
}

// claimInto is Claim, the answers appended to out: a caller claiming one
// event at a time gives room on its stack.
func (c *dedupCache) claimInto(out []Claim, items []Item) []Claim {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range items {
		out = append(out, c.claimLocked(it, now))
	}
	c.evictLocked(now)
	return out
}

// ClaimOne is Claim for one event.
func (c *dedupCache) ClaimOne(it Item) Claim {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.claimLocked(it, now)
	c.evictLocked(now)
	return cl
}

// conflictKey is the key under which content fp of the event key is
// claimed when key was emitted with other content. It starts with "!",
// which no event key does (see auditlog.Event.Key), and the fingerprint
// has a fixed length: it is unambiguous.
func conflictKey(key string, fp auditlog.Fingerprint) string {
	b := make([]byte, 0, 1+fingerprintSize+len(key))
	b = append(b, '!')
	b = appendFingerprint(b, fp)
	return string(append(b, key...))
}

func (c *dedupCache) claimLocked(it Item, now int64) Claim {
	cl := c.claimKeyLocked(it.Key, it.FP, now)
	if cl.State == ClaimDuplicate && cl.conflict {
		cl = c.claimKeyLocked(conflictKey(it.Key, it.FP), it.FP, now)
		cl.conflict = true
	}
	return cl
}

// claimKeyLocked claims k. A committed entry of another fingerprint is
// answered ClaimDuplicate with conflict set.
func (c *dedupCache) claimKeyLocked(k string, fp auditlog.Fingerprint, now int64) Claim {
	sk := makeSetKey(k)
	if e, ok := c.entries[sk]; ok {
		switch {
		case e.expires == 0:
			ch, ok := c.waiters[sk]
			if !ok {
				if c.waiters == nil {
					c.waiters = map[setKey]chan struct{}{}
				}
				ch = make(chan struct{})
				c.waiters[sk] = ch
			}
			return Claim{State: ClaimInFlight, wait: ch, key: k}
		case e.expires > now:
			return Claim{State: ClaimDuplicate, key: k, conflict: !e.fp.Matches(fp)}
		}
		c.deleteLocked(sk) // expired
	}
	if c.inFlight >= c.maxInFlight() {
		return Claim{State: ClaimFull, key: k}
	}
	c.insertLocked(sk, dedupEntry{fp: fp})
	c.inFlight++
	return Claim{State: ClaimOwned, key: k}
}

// Commit marks owned keys as emitted and returns when they expire.
func (c *dedupCache) Commit(items []Item) (expires int64) {
	expires = c.now().Add(c.ttl).UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range items {
		k := makeSetKey(it.Key)
		if e, ok := c.entries[k]; ok && e.expires == 0 {
			e.expires = expires
			c.entries[k] = e
			c.inFlight--
			c.wakeLocked(k)
		}
	}
	return expires
}

// Release gives up owned keys that were not emitted, so a later delivery
// of the same events is accepted.
func (c *dedupCache) Release(items []Item) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range items {
		k := makeSetKey(it.Key)
		if e, ok := c.entries[k]; ok && e.expires == 0 {
			c.deleteLocked(k)
			c.inFlight--
			c.wakeLocked(k)
		}
	}
}

// Len returns the number of remembered and in-flight keys.
func (c *dedupCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// wakeLocked wakes the deliveries waiting for an in-flight key.
func (c *dedupCache) wakeLocked(k setKey) {
	if ch, ok := c.waiters[k]; ok {
		close(ch)
		delete(c.waiters, k)
	}
}

// deleteLocked removes k. A Go map does not give back the room of deleted
// entries: a set that keeps deleting its oldest keys and inserting new
// ones grew to about 150 bytes of table per entry (three times its size;
// measured with 100,000 entries and a million insertions), so after as
// many deletions as the set holds, the map is built again at its size.
func (c *dedupCache) deleteLocked(k setKey) {
	delete(c.entries, k)
	c.deleted++
	if c.deleted >= max(c.max/4, 1024) {
		m := make(map[setKey]dedupEntry, len(c.entries))
		for k, e := range c.entries {
			m[k] = e
		}
		c.entries, c.deleted = m, 0
	}
}

func (c *dedupCache) insertLocked(k setKey, e dedupEntry) {
	c.seq++
	e.seq = c.seq
	c.entries[k] = e
	c.fifo = append(c.fifo, fifoItem{key: k, seq: e.seq})
}

// Evicted returns how many committed keys were evicted before they
// expired, to keep the set within its size.
func (c *dedupCache) Evicted() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evicted
}

// evictLocked drops expired keys from the head, and the oldest committed
// keys while the set is over its size. An in-flight key is never evicted:
// when one is at the head of an over-full set, it moves to the tail (it is
// committed or released soon). At most half the set is in flight, so the
// set is back within its size when evictLocked returns.
func (c *dedupCache) evictLocked(now int64) {
	moved := 0
	for c.head < len(c.fifo) {
		it := c.fifo[c.head]
		e, ok := c.entries[it.key]
		if !ok || e.seq != it.seq {
			c.head++ // stale item: the key was released, expired or re-inserted
			continue
		}
		over := len(c.entries) > c.max
		if e.expires == 0 {
			if !over || moved >= c.inFlight {
				break // in flight: stop here, it is committed or released soon
			}
			c.fifo = append(c.fifo, it)
			c.head++
			moved++
			continue
		}
		if e.expires > now && !over {
			break
		}
		if e.expires > now {
			c.evicted++
		}
		c.deleteLocked(it.key)
		c.head++
	}
	// Reclaim the FIFO's dead prefix once it is a quarter of the FIFO, in
	// place: the array is reused rather than reallocated. Moving the rest
	// down is one copy; a stale item further in (a key released, or
	// expired and claimed again) is dropped when it reaches the head.
	if c.head > 1024 && c.head > len(c.fifo)/4 {
		n := copy(c.fifo, c.fifo[c.head:])
		c.fifo, c.head = c.fifo[:n], 0
	}
	// Stale items dominate only when many claims are released or keys
	// claimed again: then the live items are kept, which takes a look-up
	// of each (a pass over the set, for as many insertions).
	if len(c.fifo)-c.head > 2*c.max+1024 {
		n := 0
		for _, it := range c.fifo[c.head:] {
			if e, ok := c.entries[it.key]; ok && e.seq == it.seq {
				c.fifo[n] = it
				n++
			}
		}
		c.fifo, c.head = c.fifo[:n], 0
	}
}

// restore loads keys remembered by a previous run. Restoring more than
// the set holds keeps the newest and is not counted as eviction.
func (c *dedupCache) restore(entries map[string]storedEntry) {
	now := c.now().UnixNano()
	type kv struct {
		k string
		e storedEntry
	}
	ordered := make([]kv, 0, len(entries))
	for k, e := range entries {
		if e.expires > now {
			ordered = append(ordered, kv{k, e})
		}
	}
	// Oldest first, so that size eviction drops the oldest.
	slices.SortFunc(ordered, func(a, b kv) int { return cmp.Compare(a.e.expires, b.e.expires) })
	if len(ordered) > c.max {
		ordered = ordered[len(ordered)-c.max:]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range ordered {
		k := makeSetKey(x.k)
		if _, ok := c.entries[k]; !ok {
			c.insertLocked(k, dedupEntry{expires: x.e.expires, fp: x.e.fp})
		}
	}
	c.evictLocked(now)
}
