// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package poll is the polling path: which feeds to read (the configured
// ones, and the subgroups and projects discovery finds below the
// configured groups, split by shard), when to read each (the scheduler),
// and how to read one (time slices of GitLab's clock, the window spool,
// the checkpoint that moves only after the pipeline accepted the events),
// with the catch-up progress of a long first read.
package poll // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/poll"

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/access"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

// Settings configure the polling path.
type Settings struct {
	Client  *gitlabapi.Client
	Emitter *emit.Emitter
	Store   *emit.Store // nil: checkpoints live in memory only
	// Access checks what the token sees in each feed; nil: no check.
	Access    *access.Checker
	Telemetry *metadata.TelemetryBuilder
	Logger    *zap.Logger
	// Status reports the health of one part (a feed, a discovery):
	// nil when it works again.
	Status func(part string, err error)
	// Now is the collector's clock (observed timestamps, initial lookback
	// before GitLab answered); windows follow GitLab's clock.
	Now func() time.Time

	// Feeds are the configured feeds.
	Feeds            []gitlabapi.Feed
	PollInterval     time.Duration
	IdlePollInterval time.Duration
	InitialLookback  time.Duration
	Overlap          time.Duration
	// RequestsPerMinute is max_requests_per_minute (0: no cap).
	RequestsPerMinute int
	// Workers is how many feeds are polled at once.
	Workers   int
	Discovery Discovery
	Shard     Shard
	Labels    Labels
	// Groups are the configured groups (discovery lists below them) and
	// Projects the configured projects.
	Groups, Projects []string
}

// Poller polls every feed (configured, and discovered below the
// configured groups) through one shared API client (one request budget),
// scheduled by one scheduler.
type Poller struct {
	set    Settings
	read   *reader
	logger *zap.Logger

	// feedsMu guards feeds, which discovery changes while polls run.
	feedsMu sync.Mutex
	feeds   []*feedPoller

	sched    *scheduler
	estate   *estate // nil without discovery
	progress *catchUp
}

// feedPoller is the polling state of one feed. Its checkpoint is owned by
// the goroutine polling it (one at a time: the scheduler never polls a
// feed twice at once).
type feedPoller struct {
	feed       gitlabapi.Feed
	cp         checkpoint
	watermark  atomic.Int64 // unix nanoseconds, read by the lag gauge
	lastReason string
	polledOnce bool // the first successful poll is logged at info level

	// slice is the length of the time slices the feed is read in (see
	// slice.go), in nanoseconds; read by the slice gauge.
	slice    atomic.Int64
	sliceRun int // slices completed in a row
	// settled: every event created before it was read after GitLab had
	// certainly committed it, so it need not be read again (in memory only).
	settled time.Time

	origin string
	// path is the full path of a discovered group or project, for logs;
	// root the configured group it was found under.
	path, root string

	// Scheduling state, guarded by the scheduler's mutex.
	due      time.Time
	interval time.Duration
	index    int  // position in the scheduler's queue, -1 when not queued
	final    bool // the next poll is the last: the feed left the estate
	retiring bool // left the estate while being polled: one more poll, then final

	caughtUp atomic.Bool // a poll reached the present
	failing  atomic.Bool // the last poll failed: not counted as catching up
}

// New builds the poller and loads the feeds' checkpoints (and the
// discovered feeds known from the last run).
func New(ctx context.Context, set Settings) (*Poller, error) {
	p := &Poller{set: set, logger: set.Logger}
	p.read = &reader{
		clock:  &gitlabClock{c: set.Client.Clock(), logger: set.Logger},
		client: set.Client, emit: set.Emitter, store: set.Store, access: set.Access, tel: set.Telemetry, logger: set.Logger,
		labels: set.Labels, status: set.Status, now: set.Now, overlap: set.Overlap, spillThreshold: defaultSpillThreshold,
	}
	p.sched = newScheduler(set.PollInterval, set.IdlePollInterval, set.Workers, p)
	p.progress = newCatchUp(p, p.read.clock, set.Logger)
	if set.Discovery.Enabled && len(set.Groups) > 0 {
		p.estate = newEstate(set, p, p.read.clock)
	}
	p.load(ctx)
	return p, p.observe()
}

// load reads the stored checkpoints of the configured feeds of this
// shard, and the discovered feeds known from the last run; a feed without
// a checkpoint starts initial_lookback ago.
func (p *Poller) load(ctx context.Context) {
	start := p.set.Now().Add(-p.set.InitialLookback)
	for _, f := range p.set.Feeds {
		if !p.set.Shard.Owns(f.String()) {
			continue
		}
		p.feeds = append(p.feeds, p.open(ctx, f, originConfigured, start))
	}
	if p.estate != nil {
		p.feeds = append(p.feeds, p.estate.load(ctx)...)
	}
}

// open returns the poller of a feed starting from its stored checkpoint,
// or from start when it has none.
func (p *Poller) open(ctx context.Context, f gitlabapi.Feed, origin string, start time.Time) *feedPoller {
	fp := &feedPoller{feed: f, origin: origin, index: -1}
	var cp checkpoint
	var ok bool
	var err error
	if p.set.Store != nil {
		cp, ok, err = loadCheckpoint(ctx, p.set.Store, f)
	}
	switch {
	case err != nil:
		p.logger.Warn("Ignoring the stored checkpoint; reading from initial_lookback", zap.String("feed", f.String()), zap.Error(err))
	case ok && origin == originConfigured:
		p.logger.Info("Resuming from the stored checkpoint", zap.String("feed", f.String()), zap.Time("watermark", cp.Watermark))
	case ok:
		p.logger.Debug("Resuming from the stored checkpoint", zap.String("feed", f.String()), zap.Time("watermark", cp.Watermark))
	}
	if !ok {
		cp = checkpoint{Watermark: start, Seen: map[string]int64{}}
	}
	fp.cp = cp
	fp.watermark.Store(cp.Watermark.UnixNano())
	fp.slice.Store(int64(MaxWindow))
	return fp
}

// snapshot returns the feeds being polled.
func (p *Poller) snapshot() []*feedPoller {
	p.feedsMu.Lock()
	defer p.feedsMu.Unlock()
	return slices.Clone(p.feeds)
}

// Run polls every feed until ctx ends, and discovers the estate when
// discovery is on.
func (p *Poller) Run(ctx context.Context) {
	var wg sync.WaitGroup
	feeds := p.snapshot()
	for i, f := range feeds {
		p.sched.add(f, p.spread(i, len(feeds)))
	}
	if p.estate != nil {
		wg.Go(func() { p.estate.run(ctx) })
	} else {
		wg.Go(func() { p.checkAccess(ctx) })
	}
	wg.Go(func() { p.progress.run(ctx) })
	p.sched.run(ctx)
	wg.Wait()
}

// spread is the delay of the i-th of n feeds' first poll: the feeds a
// worker can take at once start now, the others spread over one
// poll_interval, so that their later polls stay spread too.
func (p *Poller) spread(i, n int) time.Duration {
	if n <= p.sched.workers {
		return 0
	}
	return time.Duration(int64(p.set.PollInterval) * int64(i) / int64(n))
}

// pollFeed polls a feed for the scheduler (feedWorker).
func (p *Poller) pollFeed(ctx context.Context, f *feedPoller) pollOutcome {
	events, behind, err := p.read.poll(ctx, f)
	out := pollOutcome{events: events, behind: behind, failed: err != nil}
	if p.set.Access != nil && ctx.Err() == nil {
		p.set.Access.Answered(ctx, access.Feed{Feed: f.feed, Root: f.root}, err)
	}
	p.progress.read(events)
	f.failing.Store(err != nil)
	if ctx.Err() != nil {
		return out
	}
	switch {
	case err != nil && f.origin == originDiscovered && (gitlabapi.IsStatus(err, http.StatusNotFound) || gitlabapi.IsStatus(err, http.StatusForbidden)):
		// Deleted, transferred out or no longer visible: expected in an
		// estate that changes. Discovery decides; the feed stops there.
		p.logger.Debug("A discovered feed is gone or no longer visible; listing the estate again", zap.String("feed", f.feed.String()), zap.String("path", f.path), zap.Error(err))
		if p.estate != nil {
			p.estate.trigger()
		}
	case err != nil:
		p.read.failed(ctx, f, err)
	default:
		p.read.succeeded(f)
		if !behind {
			f.caughtUp.Store(true)
		}
	}
	return out
}

// add starts polling new feeds (feedSet): spread over one poll_interval
// at the first discovery, at once later (a new project's first events
// matter).
func (p *Poller) add(fresh []*feedPoller, first bool) {
	if len(fresh) == 0 {
		return
	}
	p.feedsMu.Lock()
	p.feeds = append(p.feeds, fresh...)
	p.feedsMu.Unlock()
	for i, f := range fresh {
		var delay time.Duration
		if first {
			delay = p.spread(i, len(fresh))
		}
		p.sched.add(f, delay)
	}
}

// checkAccess checks what the token sees in every feed (feedSet: after
// each discovery; at start without discovery).
func (p *Poller) checkAccess(ctx context.Context) {
	if p.set.Access == nil {
		return
	}
	feeds := p.snapshot()
	list := make([]access.Feed, len(feeds))
	for i, f := range feeds {
		list[i] = access.Feed{Feed: f.feed, Root: f.root}
	}
	p.set.Access.Check(ctx, list)
}

// retire gives a feed that left the estate one last poll (feedSet).
func (p *Poller) retire(f *feedPoller) { p.sched.retire(f) }

// count returns the number of feeds scheduled (feedSet).
func (p *Poller) count() int { return p.sched.len() }

// stopped forgets a feed after its last poll (feedWorker).
func (p *Poller) stopped(f *feedPoller) {
	p.feedsMu.Lock()
	p.feeds = slices.DeleteFunc(p.feeds, func(o *feedPoller) bool { return o == f })
	p.feedsMu.Unlock()
	p.set.Status(f.feed.String(), nil)
	p.logger.Debug("A feed that left the estate had its last poll; it stops", zap.String("feed", f.feed.String()), zap.String("path", f.path))
}

// observe registers the callbacks of the poll path's gauges; they are
// unregistered with the receiver's telemetry.
func (p *Poller) observe() error {
	tel := p.set.Telemetry
	return tel.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := p.read.clock.now()
		p.observeFeeds(p.set.Labels.Of, func(feed string, v float64) {
			o.ObserveFloat64(tel.GitlabAuditCheckpointLag, v, metric.WithAttributes(attribute.String(metadata.AttrFeed, feed)))
		}, func(f *feedPoller) float64 {
			return now.Sub(time.Unix(0, f.watermark.Load())).Seconds()
		}, func(a, b float64) bool { return a > b })
		p.observeFeeds(p.set.Labels.Folded, func(feed string, v float64) {
			o.ObserveFloat64(tel.GitlabAuditPollSliceSeconds, v, metric.WithAttributes(attribute.String(metadata.AttrFeed, feed)))
		}, func(f *feedPoller) float64 {
			return time.Duration(f.slice.Load()).Seconds()
		}, func(a, b float64) bool { return a < b })
		if skew, ok := p.read.clock.skew(); ok {
			o.ObserveFloat64(tel.GitlabAuditClockSkewSeconds, skew.Seconds())
		}
		counts := map[[2]string]int64{}
		for _, f := range p.snapshot() {
			counts[[2]string{string(f.feed.Kind), f.origin}]++
		}
		for k, n := range counts {
			o.ObserveInt64(tel.GitlabAuditFeeds, n, metric.WithAttributes(attribute.String(metadata.AttrKind, k[0]), attribute.String(metadata.AttrOrigin, k[1])))
		}
		done, _, _, left := p.progress.state()
		o.ObserveInt64(tel.GitlabAuditFeedsCaughtUp, int64(done))
		o.ObserveFloat64(tel.GitlabAuditCatchupRemaining, left.Seconds())
		return nil
	}, tel.GitlabAuditCheckpointLag, tel.GitlabAuditPollSliceSeconds, tel.GitlabAuditClockSkewSeconds,
		tel.GitlabAuditFeeds, tel.GitlabAuditFeedsCaughtUp, tel.GitlabAuditCatchupRemaining)
}

// observeFeeds reports a value per feed label: a feed whose label is its
// own name under it, the others folded into one series per label keeping
// the value that wins (the largest lag, the shortest slice).
func (p *Poller) observeFeeds(labelOf func(gitlabapi.Feed) string, observe func(feed string, v float64), value func(*feedPoller) float64, wins func(a, b float64) bool) {
	folded := map[string]float64{}
	for _, f := range p.snapshot() {
		v := value(f)
		label := labelOf(f.feed)
		if label == f.feed.String() {
			observe(label, v)
			continue
		}
		if old, ok := folded[label]; !ok || wins(v, old) {
			folded[label] = v
		}
	}
	for label, v := range folded {
		observe(label, v)
	}
}

// PollAll polls every feed once now, in turn, and again while a backfill
// is behind, without the scheduler; it returns the first error. Run is the
// collector's way; this is for tests and tools that need a poll on demand.
func (p *Poller) PollAll(ctx context.Context) error {
	var first error
	for _, f := range p.snapshot() {
		for {
			events, behind, err := p.read.poll(ctx, f)
			p.progress.read(events)
			if p.set.Access != nil {
				p.set.Access.Answered(ctx, access.Feed{Feed: f.feed, Root: f.root}, err)
			}
			if err != nil {
				p.read.failed(ctx, f, err)
				if first == nil {
					first = err
				}
				break
			}
			p.read.succeeded(f)
			if !behind {
				break
			}
		}
	}
	return first
}

// Feed is one feed being polled, as Feeds reports it.
type Feed struct {
	Feed gitlabapi.Feed
	// Origin is configured or discovered; Path the full path of a
	// discovered group or project.
	Origin, Path string
}

// Feeds returns the feeds this replica polls now.
func (p *Poller) Feeds() []Feed {
	fs := p.snapshot()
	out := make([]Feed, len(fs))
	for i, f := range fs {
		out[i] = Feed{Feed: f.feed, Origin: f.origin, Path: f.path}
	}
	return out
}
