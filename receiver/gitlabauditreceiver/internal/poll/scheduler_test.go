// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// workerFuncs is a feedWorker made of functions (nil: does nothing).
type workerFuncs struct {
	poll   func(ctx context.Context, f *feedPoller) pollOutcome
	onStop func(f *feedPoller)
}

func (w *workerFuncs) pollFeed(ctx context.Context, f *feedPoller) pollOutcome {
	if w.poll == nil {
		return pollOutcome{}
	}
	return w.poll(ctx, f)
}

func (w *workerFuncs) stopped(f *feedPoller) {
	if w.onStop != nil {
		w.onStop(f)
	}
}

func TestSchedulerBacksOffIdleFeedsAndResetsOnEvents(t *testing.T) {
	s := newScheduler(time.Minute, 5*time.Minute, 1, &workerFuncs{})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.clock = func() time.Time { return now }
	f := &feedPoller{index: -1}
	s.add(f, 0)
	step := func(out pollOutcome) time.Duration {
		got := s.next(context.Background())
		require.Same(t, f, got)
		s.done(f, out)
		d := f.due.Sub(now)
		now = f.due
		return d
	}
	assert.Equal(t, 2*time.Minute, step(pollOutcome{}), "nothing found: twice as long")
	assert.Equal(t, 4*time.Minute, step(pollOutcome{}))
	assert.Equal(t, 5*time.Minute, step(pollOutcome{}), "capped at idle_poll_interval")
	assert.Equal(t, 5*time.Minute, step(pollOutcome{}))
	assert.Equal(t, time.Minute, step(pollOutcome{events: 3}), "an event brings it back to poll_interval")
	assert.Equal(t, time.Duration(0), step(pollOutcome{events: 100, behind: true}), "behind: at once")
	assert.Equal(t, time.Minute, step(pollOutcome{failed: true}))
}

func TestSchedulerPollsTheMostOverdueFirstAndRetires(t *testing.T) {
	w := &workerFuncs{}
	s := newScheduler(time.Minute, 5*time.Minute, 1, w)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.clock = func() time.Time { return now }
	a, b, c := &feedPoller{index: -1, path: "a"}, &feedPoller{index: -1, path: "b"}, &feedPoller{index: -1, path: "c"}
	s.add(c, 3*time.Second)
	s.add(a, time.Second)
	s.add(b, 2*time.Second)
	now = now.Add(10 * time.Second) // all overdue
	var order []string
	for range 3 {
		f := s.next(context.Background())
		order = append(order, f.path)
		s.done(f, pollOutcome{})
	}
	assert.Equal(t, []string{"a", "b", "c"}, order)

	// b leaves the estate: its last poll comes first, then it is gone.
	var stopped []*feedPoller
	w.onStop = func(f *feedPoller) { stopped = append(stopped, f) }
	s.retire(b)
	f := s.next(context.Background())
	require.Same(t, b, f)
	s.done(f, pollOutcome{})
	assert.Equal(t, []*feedPoller{b}, stopped)
	assert.Equal(t, 2, s.len())

	// Retired while being polled: one more poll after the one under way.
	now = now.Add(time.Hour)
	f = s.next(context.Background())
	s.retire(f)
	s.done(f, pollOutcome{})
	assert.Len(t, stopped, 1)
	other := s.next(context.Background()) // the other one was overdue first
	require.NotSame(t, f, other)
	s.done(other, pollOutcome{})
	require.Same(t, f, s.next(context.Background()))
	s.done(f, pollOutcome{})
	assert.Len(t, stopped, 2)
	assert.Equal(t, 1, s.len())
}

func TestSchedulerWorkersNeverPollAFeedTwiceAtOnce(t *testing.T) {
	var mu sync.Mutex
	inFlight := map[*feedPoller]bool{}
	polls := map[*feedPoller]int{}
	w := &workerFuncs{}
	s := newScheduler(time.Millisecond, 2*time.Millisecond, 4, w)
	w.poll = func(_ context.Context, f *feedPoller) pollOutcome {
		mu.Lock()
		assert.False(t, inFlight[f], "polled twice at once")
		inFlight[f] = true
		polls[f]++
		mu.Unlock()
		time.Sleep(100 * time.Microsecond)
		mu.Lock()
		inFlight[f] = false
		mu.Unlock()
		return pollOutcome{}
	}
	feeds := make([]*feedPoller, 20)
	for i := range feeds {
		feeds[i] = &feedPoller{index: -1}
		s.add(feeds[i], 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	s.run(ctx)
	mu.Lock()
	defer mu.Unlock()
	for _, f := range feeds {
		assert.Greater(t, polls[f], 5, "every feed is polled again and again")
	}
}
