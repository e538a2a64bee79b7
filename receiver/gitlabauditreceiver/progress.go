// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

// defaultProgressInterval is how often catch-up progress is logged.
const defaultProgressInterval = 30 * time.Second

// Metrics of the estate: feeds, discovery and catch-up.
const (
	metricFeeds            = "otelcol_gitlab_audit_feeds"
	metricFeedsCaughtUp    = "otelcol_gitlab_audit_feeds_caught_up"
	metricCatchUpRemaining = "otelcol_gitlab_audit_catchup_remaining"
	metricDiscoveryRuns    = "otelcol_gitlab_audit_discovery_runs"
	attrOrigin             = "origin"
	attrResult             = "result"
)

// catchUp follows a long first read (a backfill of initial_lookback over
// many feeds) and reports it like a progress bar: every 30 s at info
// level, and as metrics.
type catchUp struct {
	p        *poller
	interval time.Duration
	start    time.Time // wall clock
	events   atomic.Int64

	mu       sync.Mutex
	finished bool
}

func newCatchUp(p *poller) *catchUp {
	return &catchUp{p: p, interval: defaultProgressInterval, start: time.Now()}
}

// read counts the events a poll emitted.
func (c *catchUp) read(n int) { c.events.Add(int64(n)) }

// state is the progress now: feeds caught up, feeds, the oldest
// checkpoint of a feed still catching up, and an estimate of the time left.
// Failing feeds are left out: their errors are logged on their own.
func (c *catchUp) state() (done, total int, oldest time.Time, left time.Duration) {
	for _, f := range c.p.snapshot() {
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
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.report()
		}
	}
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
			c.p.logger.Info("Every feed has caught up with GitLab's audit events", zap.Int("feeds", total),
				zap.Int64("events_read", c.events.Load()), zap.Duration("took", time.Since(c.start).Round(time.Second)))
		}
		return
	}
	fields := []zap.Field{zap.Int("feeds_caught_up", done), zap.Int("feeds", total),
		zap.Int64("events_read", c.events.Load()), zap.Time("oldest_checkpoint", oldest),
		zap.Duration("behind", c.p.gitlabNow().Sub(oldest).Round(time.Second))}
	if done > 0 {
		fields = append(fields, zap.Duration("estimated_time_left", left))
	}
	if c.finished {
		c.finished = false
		c.start = time.Now()
	}
	c.p.logger.Info("Catching up with GitLab's audit events", fields...)
}

// estateTelemetry holds the metrics of the feeds, discovery and catch-up.
type estateTelemetry struct {
	feeds         metric.Int64ObservableGauge
	caughtUp      metric.Int64ObservableGauge
	remaining     metric.Float64ObservableGauge
	discoveryRuns metric.Int64Counter
}

// newEstateTelemetry creates the metrics and registers the gauges'
// callback; the registration is undone with the receiver's telemetry.
func newEstateTelemetry(set component.TelemetrySettings, tel *telemetry, p *poller) (*estateTelemetry, error) {
	m := set.MeterProvider.Meter(metadata.ScopeName)
	t := &estateTelemetry{}
	var errs []error
	var err error
	t.feeds, err = m.Int64ObservableGauge(metricFeeds, metric.WithUnit("{feed}"),
		metric.WithDescription("Feeds polled by this replica, by kind (instance, group, project) and origin (configured, discovered)."))
	errs = append(errs, err)
	t.caughtUp, err = m.Int64ObservableGauge(metricFeedsCaughtUp, metric.WithUnit("{feed}"),
		metric.WithDescription("Feeds whose polls have reached the present (the others are still reading their backlog)."))
	errs = append(errs, err)
	t.remaining, err = m.Float64ObservableGauge(metricCatchUpRemaining, metric.WithUnit("s"),
		metric.WithDescription("Estimated time until every feed has caught up; 0 when all have."))
	errs = append(errs, err)
	t.discoveryRuns, err = m.Int64Counter(metricDiscoveryRuns, metric.WithUnit("{run}"),
		metric.WithDescription("Listings of the subgroups and projects of the configured groups, by result (ok, failed)."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		counts := map[[2]string]int64{}
		for _, f := range p.snapshot() {
			counts[[2]string{string(f.feed.Kind), f.origin}]++
		}
		for k, n := range counts {
			o.ObserveInt64(t.feeds, n, metric.WithAttributes(attribute.String(attrKind, k[0]), attribute.String(attrOrigin, k[1])))
		}
		done, _, _, left := p.progress.state()
		o.ObserveInt64(t.caughtUp, int64(done))
		o.ObserveFloat64(t.remaining, left.Seconds())
		return nil
	}, t.feeds, t.caughtUp, t.remaining)
	if err != nil {
		return nil, err
	}
	tel.registrations = append(tel.registrations, reg)
	return t, nil
}
