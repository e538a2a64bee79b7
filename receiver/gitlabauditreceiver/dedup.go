package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// claimState is the answer of the de-duplication set for one event.
type claimState uint8

const (
	// claimOwned: the caller now owns the event and must Commit or Release it.
	claimOwned claimState = iota
	// claimDuplicate: the event was already emitted.
	claimDuplicate
	// claimInFlight: another request or poll is emitting the event right
	// now; wait on the channel, then claim again.
	claimInFlight
)

type claim struct {
	state claimState
	wait  <-chan struct{}
}

// dedupEntry is stored by value and holds no pointer: the set holds up to
// max_entries of them, and the garbage collector then has nothing to
// follow in an entry but its key.
type dedupEntry struct {
	seq     uint64 // insertion number, to tell stale FIFO items apart
	expires int64  // unix nanoseconds; 0 while in flight
}

type fifoItem struct {
	key string
	seq uint64
}

// dedupCache is the bounded, time-limited set of recently emitted event
// keys that both the poller and the stream endpoint consult, so that an
// event delivered twice by GitLab, or by both paths, is emitted once.
// Claiming an event before emitting it, and committing it only after the
// pipeline accepted it, makes concurrent deliveries of the same event
// resolve to exactly one emission, and lets a refused one be retried.
type dedupCache struct {
	mu      sync.Mutex
	entries map[string]dedupEntry
	// waiters holds, for in-flight keys that another delivery waits for
	// (rare), the channel closed when the owner commits or releases.
	waiters map[string]chan struct{}
	fifo    []fifoItem // insertion order, oldest first from head
	head    int
	seq     uint64
	max     int
	ttl     time.Duration
	now     func() time.Time

	persist *dedupPersister // nil without a storage extension
	logger  *zap.Logger
}

func newDedupCache(maxEntries int, ttl time.Duration, now func() time.Time, logger *zap.Logger) *dedupCache {
	return &dedupCache{
		entries: make(map[string]dedupEntry, min(maxEntries, 1<<16)),
		max:     maxEntries,
		ttl:     ttl,
		now:     now,
		logger:  logger,
	}
}

// Claim asks, for each key, whether the caller may emit the event.
func (c *dedupCache) Claim(keys []string) []claim {
	out := make([]claim, len(keys))
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		out[i] = c.claimLocked(k, now)
	}
	c.evictLocked(now)
	return out
}

// ClaimOne is Claim for one key.
func (c *dedupCache) ClaimOne(key string) claim {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.claimLocked(key, now)
	c.evictLocked(now)
	return cl
}

func (c *dedupCache) claimLocked(k string, now int64) claim {
	if e, ok := c.entries[k]; ok {
		switch {
		case e.expires == 0:
			ch, ok := c.waiters[k]
			if !ok {
				if c.waiters == nil {
					c.waiters = map[string]chan struct{}{}
				}
				ch = make(chan struct{})
				c.waiters[k] = ch
			}
			return claim{state: claimInFlight, wait: ch}
		case e.expires > now:
			return claim{state: claimDuplicate}
		}
		delete(c.entries, k) // expired
	}
	c.insertLocked(k, dedupEntry{})
	return claim{state: claimOwned}
}

// Seen reports whether key was emitted and is still remembered.
func (c *dedupCache) Seen(key string) bool {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return ok && e.expires > now
}

// Commit marks owned keys as emitted, and records them in the storage
// extension when one is configured, in one transaction with the extra
// operations given (the poller's checkpoint): both are stored or neither,
// which keeps the moment where a crash re-emits a batch as short as can be.
func (c *dedupCache) Commit(ctx context.Context, keys []string, also ...*storage.Operation) {
	if len(keys) == 0 {
		return
	}
	expires := c.now().Add(c.ttl).UnixNano()
	c.mu.Lock()
	for _, k := range keys {
		if e, ok := c.entries[k]; ok && e.expires == 0 {
			e.expires = expires
			c.entries[k] = e
			c.wakeLocked(k)
		}
	}
	c.mu.Unlock()
	if c.persist != nil {
		if err := c.persist.append(ctx, keys, expires, also...); err != nil {
			c.logger.Warn("Could not record emitted events in storage (de-duplication state, checkpoint); after a restart some of these events may be emitted again", zap.Error(err))
		}
	}
}

// Release gives up owned keys that were not emitted, so a later delivery
// of the same events is accepted.
func (c *dedupCache) Release(keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if e, ok := c.entries[k]; ok && e.expires == 0 {
			delete(c.entries, k)
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
func (c *dedupCache) wakeLocked(k string) {
	if ch, ok := c.waiters[k]; ok {
		close(ch)
		delete(c.waiters, k)
	}
}

func (c *dedupCache) insertLocked(k string, e dedupEntry) {
	c.seq++
	e.seq = c.seq
	c.entries[k] = e
	c.fifo = append(c.fifo, fifoItem{key: k, seq: e.seq})
}

// evictLocked drops expired keys from the head, and the oldest keys while
// the set is over its size, never an in-flight key.
func (c *dedupCache) evictLocked(now int64) {
	for c.head < len(c.fifo) {
		it := c.fifo[c.head]
		e, ok := c.entries[it.key]
		if !ok || e.seq != it.seq {
			c.head++ // stale item: the key was released, expired or re-inserted
			continue
		}
		if e.expires == 0 {
			break // in flight: stop here, it is committed or released soon
		}
		if e.expires > now && len(c.entries) <= c.max {
			break
		}
		delete(c.entries, it.key)
		c.head++
	}
	// Reclaim the FIFO's dead prefix and stale items once they dominate,
	// in place: the array is reused rather than reallocated.
	if c.head > 1024 && c.head > len(c.fifo)/4 || len(c.fifo)-c.head > 2*c.max+1024 {
		n := 0
		for _, it := range c.fifo[c.head:] {
			if e, ok := c.entries[it.key]; ok && e.seq == it.seq {
				c.fifo[n] = it
				n++
			}
		}
		clear(c.fifo[n:]) // drop the references to evicted keys
		c.fifo, c.head = c.fifo[:n], 0
	}
}

// snapshot returns the committed, unexpired keys with their expiry.
func (c *dedupCache) snapshot() map[string]int64 {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.entries))
	for _, it := range c.fifo[c.head:] {
		if e, ok := c.entries[it.key]; ok && e.seq == it.seq && e.expires > now {
			out[it.key] = e.expires
		}
	}
	return out
}

// restore loads keys remembered by a previous run.
func (c *dedupCache) restore(keys map[string]int64) {
	now := c.now().UnixNano()
	type kv struct {
		k string
		e int64
	}
	ordered := make([]kv, 0, len(keys))
	for k, e := range keys {
		if e > now {
			ordered = append(ordered, kv{k, e})
		}
	}
	// Oldest first, so that size eviction drops the oldest.
	slices.SortFunc(ordered, func(a, b kv) int { return cmp.Compare(a.e, b.e) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range ordered {
		if _, ok := c.entries[x.k]; !ok {
			c.insertLocked(x.k, dedupEntry{expires: x.e})
		}
	}
	c.evictLocked(now)
}

// dedupPersister keeps the de-duplication set in a storage extension: each
// commit appends a small chunk, and a periodic compaction folds the chunks
// into one snapshot. Keys: dedup/meta, dedup/snapshot, dedup/chunk/<n>.
type dedupPersister struct {
	client storage.Client
	mu     sync.Mutex
	meta   dedupMeta
}

type dedupMeta struct {
	First uint64 // first live chunk number
	Next  uint64 // next chunk number
}

const (
	dedupMetaKey     = "dedup/meta"
	dedupSnapshotKey = "dedup/snapshot"
	dedupChunkPrefix = "dedup/chunk/"
)

func encodeMeta(m dedupMeta) []byte {
	return []byte(strconv.FormatUint(m.First, 10) + " " + strconv.FormatUint(m.Next, 10))
}

func decodeMeta(b []byte) (dedupMeta, error) {
	var m dedupMeta
	parts := strings.Fields(string(b))
	if len(parts) != 2 {
		return m, fmt.Errorf("malformed %s %q", dedupMetaKey, b)
	}
	var err1, err2 error
	m.First, err1 = strconv.ParseUint(parts[0], 10, 64)
	m.Next, err2 = strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil || m.First > m.Next {
		return dedupMeta{}, fmt.Errorf("malformed %s %q", dedupMetaKey, b)
	}
	return m, nil
}

// encodeEntries writes "key<TAB>expires" lines.
func encodeEntries(keys []string, expires int64, all map[string]int64) []byte {
	var b strings.Builder
	e := strconv.FormatInt(expires, 10)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('\t')
		b.WriteString(e)
		b.WriteByte('\n')
	}
	for k, x := range all {
		b.WriteString(k)
		b.WriteByte('\t')
		b.WriteString(strconv.FormatInt(x, 10))
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func decodeEntries(data []byte, into map[string]int64) error {
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		k, e, ok := strings.Cut(line, "\t")
		if !ok {
			return fmt.Errorf("malformed de-duplication entry %q", line)
		}
		x, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return fmt.Errorf("malformed de-duplication entry %q", line)
		}
		if x > into[k] {
			into[k] = x
		}
	}
	return sc.Err()
}

// load reads the persisted set. A missing or damaged state is reported and
// yields what could be read.
func (p *dedupPersister) load(ctx context.Context) (map[string]int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int64{}
	raw, err := p.client.Get(ctx, dedupMetaKey)
	if err != nil {
		return out, err
	}
	if raw == nil {
		return out, nil
	}
	meta, err := decodeMeta(raw)
	if err != nil {
		return out, err
	}
	p.meta = meta
	if snap, err := p.client.Get(ctx, dedupSnapshotKey); err != nil {
		return out, err
	} else if err := decodeEntries(snap, out); err != nil {
		return out, err
	}
	for n := meta.First; n < meta.Next; n++ {
		chunk, err := p.client.Get(ctx, dedupChunkPrefix+strconv.FormatUint(n, 10))
		if err != nil {
			return out, err
		}
		if err := decodeEntries(chunk, out); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (p *dedupPersister) append(ctx context.Context, keys []string, expires int64, also ...*storage.Operation) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.meta
	key := dedupChunkPrefix + strconv.FormatUint(next.Next, 10)
	next.Next++
	ops := append([]*storage.Operation{
		storage.SetOperation(key, encodeEntries(keys, expires, nil)),
		storage.SetOperation(dedupMetaKey, encodeMeta(next)),
	}, also...)
	err := p.client.Batch(ctx, ops...)
	if err == nil {
		p.meta = next
	}
	return err
}

// chunks returns how many chunks wait for compaction.
func (p *dedupPersister) chunks() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.meta.Next - p.meta.First
}

// compact replaces the snapshot and every chunk by the given set.
func (p *dedupPersister) compact(ctx context.Context, all map[string]int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := dedupMeta{First: p.meta.Next, Next: p.meta.Next}
	ops := make([]*storage.Operation, 0, 2+p.meta.Next-p.meta.First)
	ops = append(ops,
		storage.SetOperation(dedupSnapshotKey, encodeEntries(nil, 0, all)),
		storage.SetOperation(dedupMetaKey, encodeMeta(next)),
	)
	for n := p.meta.First; n < p.meta.Next; n++ {
		ops = append(ops, storage.DeleteOperation(dedupChunkPrefix+strconv.FormatUint(n, 10)))
	}
	if err := p.client.Batch(ctx, ops...); err != nil {
		return err
	}
	p.meta = next
	return nil
}
