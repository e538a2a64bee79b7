package gitlabauditreceiver

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func states(cs []claim) []claimState {
	out := make([]claimState, len(cs))
	for i, c := range cs {
		out[i] = c.state
	}
	return out
}

func TestDedupClaimCommitRelease(t *testing.T) {
	clk := newFakeClock()
	c := newDedupCache(100, time.Minute, clk.Now, zap.NewNop())

	cl := c.Claim([]string{"Project/1", "Project/2", "Project/1"})
	assert.Equal(t, []claimState{claimOwned, claimOwned, claimInFlight}, states(cl), "a repeated key in one claim waits on the first")
	c.Commit(context.Background(), []string{"Project/1"})
	select {
	case <-cl[2].wait:
	default:
		t.Fatal("commit must wake the waiters")
	}
	c.Release([]string{"Project/2"})

	assert.Equal(t, []claimState{claimDuplicate, claimOwned}, states(c.Claim([]string{"Project/1", "Project/2"})),
		"a committed key is a duplicate, a released one can be claimed again")
	assert.True(t, c.Seen("Project/1"))
	assert.False(t, c.Seen("Project/2"), "in flight is not seen")

	clk.Add(2 * time.Minute)
	assert.False(t, c.Seen("Project/1"), "expired")
	assert.Equal(t, []claimState{claimOwned}, states(c.Claim([]string{"Project/1"})), "an expired key can be emitted again")
}

func TestDedupBoundedBySize(t *testing.T) {
	clk := newFakeClock()
	c := newDedupCache(1000, time.Hour, clk.Now, zap.NewNop())
	for i := range 50_000 {
		k := fmt.Sprintf("Project/%d", i)
		require.Equal(t, claimOwned, c.Claim([]string{k})[0].state)
		c.Commit(context.Background(), []string{k})
	}
	assert.LessOrEqual(t, c.Len(), 1001)
	assert.LessOrEqual(t, len(c.fifo)-c.head, 2*1000+1024+1, "the FIFO stays bounded too")
	assert.True(t, c.Seen("Project/49999"), "the newest are kept")
	assert.False(t, c.Seen("Project/0"), "the oldest are evicted")

	// Released claims do not make the FIFO grow without bound.
	for i := range 50_000 {
		k := fmt.Sprintf("Group/%d", i)
		c.Claim([]string{k})
		c.Release([]string{k})
	}
	assert.LessOrEqual(t, len(c.fifo)-c.head, 2*1000+1024+1)
}

func TestDedupInFlightIsNeverEvicted(t *testing.T) {
	clk := newFakeClock()
	c := newDedupCache(2, time.Hour, clk.Now, zap.NewNop())
	require.Equal(t, claimOwned, c.Claim([]string{"a"})[0].state)
	for i := range 10 {
		k := fmt.Sprint(i)
		c.Claim([]string{k})
		c.Commit(context.Background(), []string{k})
	}
	assert.Equal(t, claimInFlight, c.Claim([]string{"a"})[0].state)
}

// TestDedupConcurrentDeliveries delivers each of 200 events from 20
// goroutines at once, with random failures: every event is emitted once.
func TestDedupConcurrentDeliveries(t *testing.T) {
	c := newDedupCache(10_000, time.Hour, time.Now, zap.NewNop())
	var emitted [200]atomic.Int32
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 200 {
				k := fmt.Sprintf("Project/%d", i)
				for {
					cl := c.Claim([]string{k})[0]
					if cl.state == claimDuplicate {
						break
					}
					if cl.state == claimInFlight {
						<-cl.wait
						continue
					}
					if (g+i)%7 == 0 { // this delivery fails: give the event up
						c.Release([]string{k})
						break
					}
					emitted[i].Add(1)
					c.Commit(context.Background(), []string{k})
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

func TestDedupPersistence(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	client := storagetest.NewInMemoryClient(component.KindReceiver, component.MustNewID("gitlab_audit"), "")

	c := newDedupCache(100, time.Hour, clk.Now, zap.NewNop())
	c.persist = &dedupPersister{client: client}
	for i := range 5 {
		k := fmt.Sprintf("Project/%d", i)
		c.Claim([]string{k})
		c.Commit(ctx, []string{k})
	}
	assert.Equal(t, uint64(5), c.persist.chunks())

	// A restart without compaction still knows every committed key.
	restored := newDedupCache(100, time.Hour, clk.Now, zap.NewNop())
	p := &dedupPersister{client: client}
	keys, err := p.load(ctx)
	require.NoError(t, err)
	restored.restore(keys)
	for i := range 5 {
		assert.True(t, restored.Seen(fmt.Sprintf("Project/%d", i)))
	}

	// Compaction folds the chunks into the snapshot and deletes them.
	require.NoError(t, c.persist.compact(ctx, c.snapshot()))
	assert.Equal(t, uint64(0), c.persist.chunks())
	raw, err := client.Get(ctx, dedupChunkPrefix+"0")
	require.NoError(t, err)
	assert.Nil(t, raw)
	c.Claim([]string{"Group/9"})
	c.Commit(ctx, []string{"Group/9"})

	clk.Add(30 * time.Minute)
	p2 := &dedupPersister{client: client}
	keys, err = p2.load(ctx)
	require.NoError(t, err)
	assert.Len(t, keys, 6)
	again := newDedupCache(100, time.Hour, clk.Now, zap.NewNop())
	again.restore(keys)
	assert.True(t, again.Seen("Project/0"))
	assert.True(t, again.Seen("Group/9"))

	// Expired entries are not restored.
	clk.Add(2 * time.Hour)
	late := newDedupCache(100, time.Hour, clk.Now, zap.NewNop())
	late.restore(keys)
	assert.Equal(t, 0, late.Len())
}

func TestDedupDamagedState(t *testing.T) {
	ctx := context.Background()
	client := storagetest.NewInMemoryClient(component.KindReceiver, component.MustNewID("gitlab_audit"), "")
	require.NoError(t, client.Set(ctx, dedupMetaKey, []byte("garbage")))
	_, err := (&dedupPersister{client: client}).load(ctx)
	require.ErrorContains(t, err, "malformed dedup/meta")

	require.NoError(t, client.Set(ctx, dedupMetaKey, encodeMeta(dedupMeta{First: 0, Next: 1})))
	require.NoError(t, client.Set(ctx, dedupChunkPrefix+"0", []byte("no tab here\n")))
	_, err = (&dedupPersister{client: client}).load(ctx)
	require.ErrorContains(t, err, "malformed de-duplication entry")
}
