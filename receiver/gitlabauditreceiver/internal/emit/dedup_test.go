// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package emit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
)

// keysOf returns claims of keys without fingerprints.
func keysOf(keys ...string) []Item {
	out := make([]Item, len(keys))
	for i, k := range keys {
		out[i] = Item{Key: k}
	}
	return out
}

// seen reports whether key was emitted and is still remembered.
func seen(c *dedupCache, key string) bool {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[makeSetKey(key)]
	return ok && e.expires > now
}

func states(cs []Claim) []ClaimState {
	out := make([]ClaimState, len(cs))
	for i, c := range cs {
		out[i] = c.State
	}
	return out
}

func TestDedupClaimCommitRelease(t *testing.T) {
	clk := fakeclock.New()
	c := newDedupCache(100, time.Minute, clk.Now)

	cl := c.Claim(keysOf("Project/1", "Project/2", "Project/1"))
	assert.Equal(t, []ClaimState{ClaimOwned, ClaimOwned, ClaimInFlight}, states(cl), "a repeated key in one claim waits on the first")
	c.Commit(keysOf("Project/1"))
	select {
	case <-cl[2].wait:
	default:
		t.Fatal("commit must wake the waiters")
	}
	c.Release(keysOf("Project/2"))

	assert.Equal(t, []ClaimState{ClaimDuplicate, ClaimOwned}, states(c.Claim(keysOf("Project/1", "Project/2"))),
		"a committed key is a duplicate, a released one can be claimed again")
	assert.True(t, seen(c, "Project/1"))
	assert.False(t, seen(c, "Project/2"), "in flight is not seen")

	clk.Add(2 * time.Minute)
	assert.False(t, seen(c, "Project/1"), "expired")
	assert.Equal(t, []ClaimState{ClaimOwned}, states(c.Claim(keysOf("Project/1"))), "an expired key can be emitted again")
}

func TestDedupBoundedBySize(t *testing.T) {
	clk := fakeclock.New()
	c := newDedupCache(1000, time.Hour, clk.Now)
	for i := range 50_000 {
		k := fmt.Sprintf("Project/%d", i)
		require.Equal(t, ClaimOwned, c.Claim(keysOf(k))[0].State)
		c.Commit(keysOf(k))
	}
	assert.LessOrEqual(t, c.Len(), 1001)
	assert.LessOrEqual(t, len(c.fifo)-c.head, 2*1000+1024+1, "the FIFO stays bounded too")
	assert.True(t, seen(c, "Project/49999"), "the newest are kept")
	assert.False(t, seen(c, "Project/0"), "the oldest are evicted")

	// Released claims do not make the FIFO grow without bound.
	for i := range 50_000 {
		k := fmt.Sprintf("Group/%d", i)
		c.Claim(keysOf(k))
		c.Release(keysOf(k))
	}
	assert.LessOrEqual(t, len(c.fifo)-c.head, 2*1000+1024+1)
}

func TestDedupInFlightIsNeverEvicted(t *testing.T) {
	clk := fakeclock.New()
	c := newDedupCache(2, time.Hour, clk.Now)
	require.Equal(t, ClaimOwned, c.Claim(keysOf("a"))[0].State)
	for i := range 10 {
		k := fmt.Sprint(i)
		c.Claim(keysOf(k))
		c.Commit(keysOf(k))
	}
	assert.Equal(t, ClaimInFlight, c.Claim(keysOf("a"))[0].State)
}

// TestDedupConcurrentDeliveries delivers each of 200 events from 20
// goroutines at once, with random failures: every event is emitted once.
func TestDedupConcurrentDeliveries(t *testing.T) {
	c := newDedupCache(10_000, time.Hour, time.Now)
	var emitted [200]atomic.Int32
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 200 {
				k := fmt.Sprintf("Project/%d", i)
				for {
					cl := c.Claim(keysOf(k))[0]
					if cl.State == ClaimDuplicate {
						break
					}
					if cl.State == ClaimInFlight {
						<-cl.wait
						continue
					}
					if (g+i)%7 == 0 { // this delivery fails: give the event up
						c.Release(keysOf(k))
						break
					}
					emitted[i].Add(1)
					c.Commit(keysOf(k))
					break
				}
			}
		})
	}
	wg.Wait()
	for i := range emitted {
		assert.Equal(t, int32(1), emitted[i].Load(), "event %d", i)
	}
}

// TestDedupBoundHoldsWithEventsInFlight: at most half the set is in
// flight; beyond, claims are answered ClaimFull, and the set never holds
// more than max_entries.
func TestDedupBoundHoldsWithEventsInFlight(t *testing.T) {
	c := newDedupCache(10, time.Hour, fakeclock.New().Now)
	for i := range 8 {
		k := fmt.Sprint("c", i)
		c.ClaimOne(Item{Key: k})
		c.Commit(keysOf(k))
	}
	cl := c.Claim(keysOf("a", "b", "c", "d", "e", "f"))
	assert.Equal(t, []ClaimState{ClaimOwned, ClaimOwned, ClaimOwned, ClaimOwned, ClaimOwned, ClaimFull}, states(cl))
	assert.Equal(t, 10, c.Len())
	assert.Equal(t, int64(3), c.Evicted())
	c.Release(keysOf("a"))
	assert.Equal(t, ClaimOwned, c.ClaimOne(Item{Key: "f"}).State)
}

// BenchmarkDedupClaimCommit claims and commits one new event at a time in
// a set that is full at the default max_entries, as the stream endpoint
// does under load: every claim evicts the oldest entry.
func BenchmarkDedupClaimCommit(b *testing.B) {
	for _, form := range []struct {
		name string
		key  func(i int) string
	}{
		{"number", func(i int) string { return fmt.Sprintf("P:%d", 1<<32+i) }},
		{"uuid", func(i int) string { return fmt.Sprintf("P:%08x-0000-4000-8000-%012x", i>>16, i) }},
	} {
		b.Run(form.name, func(b *testing.B) {
			const n = 100_000
			keys := make([]string, 4*n)
			for i := range keys {
				keys[i] = form.key(i)
			}
			c := newDedupCache(n, time.Hour, time.Now)
			items := make([]Item, 1)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				items[0] = Item{Key: keys[i%len(keys)], FP: auditlog.Fingerprint{CreatedAt: int64(i)}}
				i++
				if c.ClaimOne(items[0]).State == ClaimOwned {
					c.Commit(items)
				}
			}
		})
	}
}
