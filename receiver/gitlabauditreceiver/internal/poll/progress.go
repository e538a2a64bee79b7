// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/tick"
)

// defaultProgressInterval is how often catch-up progress is logged.
const defaultProgressInterval = 30 * time.Second

// catchUp follows a long first read (a backfill of initial_lookback over
// many feeds) and reports it like a progress bar: every 30 s at info
// level, and as metrics.
type catchUp struct {
	feeds    feedLister
	clock    *gitlabClock
	logger   *zap.Logger
	interval time.Duration
	start    time.Time // wall clock
	events   atomic.Int64

	mu       sync.Mutex
	finished bool
}

// feedLister is what the progress needs: the feeds being polled.
type feedLister interface {
	snapshot() []*feedPoller
}

func newCatchUp(feeds feedLister, clock *gitlabClock, logger *zap.Logger) *catchUp {
	return &catchUp{feeds: feeds, clock: clock, logger: logger, interval: defaultProgressInterval, start: time.Now()}
}

// read counts the events a poll emitted.
func (c *catchUp) read(n int) { c.events.Add(int64(n)) }

// state is the progress now: feeds caught up, feeds, the oldest
// checkpoint of a feed still catching up, and an estimate of the time left.
// Failing feeds are left out: their errors are logged on their own.
func (c *catchUp) state() (done, total int, oldest time.Time, left time.Duration) {
	for _, f := range c.feeds.snapshot() {
		if f.failing.Load() && !f.caughtUp.Load() {
			continue
		}
		total++
		if f.caughtUp.Load() {
			done++
			continue
		}
		if w := time.Unix(0, f.watermark.Load()); oldest.IsZero() || w.Before(oldest) {
			oldest = w
		}
	}
	if done < total && done > 0 {
		elapsed := time.Since(c.start)
		left = time.Duration(float64(elapsed) * float64(total-done) / float64(done)).Round(time.Second)
	}
	return done, total, oldest, left
}

func (c *catchUp) run(ctx context.Context) {
	tick.Every(ctx, c.interval, func(context.Context) { c.report() })
}

// report logs the progress while feeds are catching up, and once when all are.
func (c *catchUp) report() {
	done, total, oldest, left := c.state()
	c.mu.Lock()
	defer c.mu.Unlock()
	if total == 0 {
		return
	}
	if done == total {
		if !c.finished {
			c.finished = true
			c.logger.Info("Every feed has caught up with GitLab's audit events", zap.Int("feeds", total),
				zap.Int64("events_read", c.events.Load()), zap.Duration("took", time.Since(c.start).Round(time.Second)))
		}
		return
	}
	fields := []zap.Field{zap.Int("feeds_caught_up", done), zap.Int("feeds", total),
		zap.Int64("events_read", c.events.Load()), zap.Time("oldest_checkpoint", oldest),
		zap.Duration("behind", c.clock.now().Sub(oldest).Round(time.Second))}
	if done > 0 {
		fields = append(fields, zap.Duration("estimated_time_left", left))
	}
	if c.finished {
		c.finished = false
		c.start = time.Now()
	}
	c.logger.Info("Catching up with GitLab's audit events", fields...)
}
