// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// scheduler polls thousands of feeds with a few workers (one per allowed
// concurrent request): each worker takes the feed whose poll is the most
// overdue, so no feed starves however tight the request budget is, and
// polls spread over time instead of bursting at a common tick (the API
// client's limiter spaces the requests themselves). A feed that found
// nothing is polled less and less often, up to idle_poll_interval; an
// event brings it back to poll_interval; a feed behind on a backfill is
// polled again at once (after the feeds already due).
type scheduler struct {
	pollInterval time.Duration
	idleInterval time.Duration
	workers      int
	clock        func() time.Time // wall clock: scheduling only, never windows
	worker       feedWorker

	mu      sync.Mutex
	queue   feedQueue
	running map[*feedPoller]bool
	wake    chan struct{}
}

// feedWorker is what the scheduler needs: to poll a feed, and to drop one
// after its final poll.
type feedWorker interface {
	// pollFeed polls one feed and reports what the poll found.
	pollFeed(ctx context.Context, f *feedPoller) pollOutcome
	// stopped is called after the final poll of a feed that left the estate.
	stopped(f *feedPoller)
}

// pollOutcome is what one poll of a feed found.
type pollOutcome struct {
	events int  // events handed to the pipeline
	behind bool // the window stopped short of now
	failed bool
}

func newScheduler(pollInterval, idleInterval time.Duration, workers int, worker feedWorker) *scheduler {
	return &scheduler{
		pollInterval: pollInterval,
		idleInterval: max(idleInterval, pollInterval),
		workers:      max(workers, 1),
		clock:        time.Now,
		worker:       worker,
		running:      map[*feedPoller]bool{},
		wake:         make(chan struct{}, 1),
	}
}

// add schedules a feed's first poll after delay.
func (s *scheduler) add(f *feedPoller, delay time.Duration) {
	s.mu.Lock()
	f.interval = s.pollInterval
	f.due = s.clock().Add(delay)
	heap.Push(&s.queue, f)
	s.mu.Unlock()
	s.signal()
}

// retire gives a feed that left the estate one last poll, as soon as
// possible; the feed then stops.
func (s *scheduler) retire(f *feedPoller) {
	s.mu.Lock()
	switch {
	case s.running[f]:
		f.retiring = true // the poll under way started before: one more
	case f.index >= 0:
		f.final = true
		f.due = s.clock()
		heap.Fix(&s.queue, f.index)
	}
	s.mu.Unlock()
	s.signal()
}

// len returns the number of scheduled feeds (queued or being polled).
func (s *scheduler) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) + len(s.running)
}

func (s *scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run polls until ctx ends.
func (s *scheduler) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(func() {
			for {
				f := s.next(ctx)
				if f == nil {
					return
				}
				out := s.worker.pollFeed(ctx, f)
				if ctx.Err() != nil {
					return
				}
				s.done(f, out)
			}
		})
	}
	wg.Wait()
}

// next waits for the most overdue feed; nil when ctx ends.
func (s *scheduler) next(ctx context.Context) *feedPoller {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		wait := time.Hour
		if len(s.queue) > 0 {
			now := s.clock()
			if f := s.queue[0]; !f.due.After(now) {
				heap.Pop(&s.queue)
				s.running[f] = true
				more := len(s.queue) > 0 && !s.queue[0].due.After(now)
				s.mu.Unlock()
				if more {
					s.signal() // another worker may take the next one
				}
				return f
			}
			wait = s.queue[0].due.Sub(now)
		}
		s.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// done reschedules a feed after a poll.
func (s *scheduler) done(f *feedPoller, out pollOutcome) {
	s.mu.Lock()
	delete(s.running, f)
	if f.final {
		s.mu.Unlock()
		s.worker.stopped(f)
		return
	}
	if f.retiring {
		f.retiring, f.final = false, true
		f.due = s.clock()
		heap.Push(&s.queue, f)
		s.mu.Unlock()
		s.signal()
		return
	}
	switch {
	case out.failed:
		f.interval = s.pollInterval
	case out.events > 0:
		f.interval = s.pollInterval
	case !out.behind:
		f.interval = min(f.interval*2, s.idleInterval)
	}
	delay := f.interval
	if out.behind && !out.failed {
		delay = 0
	}
	f.due = s.clock().Add(delay)
	heap.Push(&s.queue, f)
	s.mu.Unlock()
	s.signal()
}

// feedQueue is a heap of feeds by due time.
type feedQueue []*feedPoller

func (q feedQueue) Len() int { return len(q) }
func (q feedQueue) Less(i, j int) bool {
	return q[i].due.Before(q[j].due)
}

func (q feedQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *feedQueue) Push(x any) {
	f := x.(*feedPoller)
	f.index = len(*q)
	*q = append(*q, f)
}

func (q *feedQueue) Pop() any {
	old := *q
	f := old[len(old)-1]
	old[len(old)-1] = nil
	f.index = -1
	*q = old[:len(old)-1]
	return f
}
