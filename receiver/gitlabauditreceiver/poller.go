// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

const (
	// pollLag keeps created_before a little behind now, so a window never
	// ends in the very second GitLab is still writing.
	pollLag = 2 * time.Second
	// maxBatchRecords is the largest batch handed to the pipeline at once.
	// The checkpoint moves after every accepted batch.
	maxBatchRecords = 1000
	// claimFullRetry is how long the poller waits before claiming again
	// when the de-duplication set holds as many events in flight as it may.
	claimFullRetry = 50 * time.Millisecond
)

// poller polls every feed (configured, and discovered below the
// configured groups) through one shared API client (one request budget),
// scheduled by one scheduler.
type poller struct {
	cfg    *Config
	logger *zap.Logger
	emit   *emitter
	tel    *telemetry
	client *gitlabapi.Client
	state  *stateStore // nil: checkpoints live in memory only
	filter *typeFilter
	status *statusTracker
	now    func() time.Time

	// feedsMu guards feeds, which discovery changes while polls run.
	feedsMu sync.Mutex
	feeds   []*feedPoller

	sched    *scheduler
	estate   *estate // nil without discovery
	progress *catchUp
	labels   feedLabels
	etel     *estateTelemetry

	spillThreshold int64
	skewWarned     atomic.Bool // see pollclock.go
}

// Origins of a feed: listed in the configuration, or found by discovery.
const (
	originConfigured = "configured"
	originDiscovered = "discovered"
)

// feedPoller polls one feed. Its checkpoint is owned by the goroutine
// polling it (one at a time: the scheduler never polls a feed twice at once).
type feedPoller struct {
	p          *poller
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
	// path is the full path of a discovered group or project, for logs.
	path string

	// Scheduling state, guarded by the scheduler's mutex.
	due      time.Time
	interval time.Duration
	index    int  // position in the scheduler's queue, -1 when not queued
	final    bool // the next poll is the last: the feed left the estate
	retiring bool // left the estate while being polled: one more poll, then final

	caughtUp atomic.Bool // a poll reached the present
	failing  atomic.Bool // the last poll failed: not counted as catching up
}

func feedsOf(c CollectConfig) []gitlabapi.Feed {
	var feeds []gitlabapi.Feed
	if c.Instance {
		feeds = append(feeds, gitlabapi.Feed{Kind: gitlabapi.KindInstance})
	}
	for _, g := range c.Groups {
		feeds = append(feeds, gitlabapi.Feed{Kind: gitlabapi.KindGroup, Ref: g})
	}
	for _, pr := range c.Projects {
		feeds = append(feeds, gitlabapi.Feed{Kind: gitlabapi.KindProject, Ref: pr})
	}
	return feeds
}

// newFeed returns a feed poller starting from its stored checkpoint, or
// from start when it has none.
func (p *poller) newFeed(ctx context.Context, f gitlabapi.Feed, origin string, start time.Time) *feedPoller {
	fp := &feedPoller{p: p, feed: f, origin: origin, index: -1}
	var cp checkpoint
	var ok bool
	var err error
	if p.state != nil {
		cp, ok, err = p.state.loadCheckpoint(ctx, f)
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
	fp.slice.Store(int64(maxWindow))
	return fp
}

// load reads the stored checkpoints of the configured feeds of this
// shard, and the discovered feeds known from the last run; a feed without
// a checkpoint starts initial_lookback ago.
func (p *poller) load(ctx context.Context) {
	start := p.now().Add(-p.cfg.InitialLookback)
	for _, f := range feedsOf(p.cfg.Collect) {
		if !p.cfg.Collect.Shard.owns(f.String()) {
			continue
		}
		p.feeds = append(p.feeds, p.newFeed(ctx, f, originConfigured, start))
	}
	if p.estate != nil {
		p.feeds = append(p.feeds, p.estate.load(ctx)...)
	}
}

// snapshot returns the feeds being polled.
func (p *poller) snapshot() []*feedPoller {
	p.feedsMu.Lock()
	defer p.feedsMu.Unlock()
	return slices.Clone(p.feeds)
}

// lag reports how far each feed's checkpoint is behind GitLab's now.
// Without per_feed_metrics, discovered feeds are reported as one series
// per kind holding the largest lag.
func (p *poller) lag(observe func(feed string, seconds float64)) {
	now := p.gitlabNow()
	p.observeFeeds(observe, func(f *feedPoller) float64 {
		return now.Sub(time.Unix(0, f.watermark.Load())).Seconds()
	}, func(a, b float64) bool { return a > b })
}

// observeFeeds reports a value per feed: configured feeds (and every feed
// with per_feed_metrics) under their own name, the others folded into one
// series per label keeping the value that wins.
func (p *poller) observeFeeds(observe func(feed string, v float64), value func(*feedPoller) float64, wins func(a, b float64) bool) {
	folded := map[string]float64{}
	for _, f := range p.snapshot() {
		v := value(f)
		label := p.labels.of(f.feed)
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

// run polls every feed until ctx ends, and discovers the estate when
// discovery is on.
func (p *poller) run(ctx context.Context) {
	var wg sync.WaitGroup
	feeds := p.snapshot()
	for i, f := range feeds {
		p.sched.add(f, p.spread(i, len(feeds)))
	}
	if p.estate != nil {
		wg.Go(func() { p.estate.run(ctx) })
	}
	wg.Go(func() { p.progress.run(ctx) })
	p.sched.run(ctx)
	wg.Wait()
}

// spread is the delay of the i-th of n feeds' first poll: the feeds a
// worker can take at once start now, the others spread over one
// poll_interval, so that their later polls stay spread too.
func (p *poller) spread(i, n int) time.Duration {
	if n <= p.sched.workers {
		return 0
	}
	return time.Duration(int64(p.cfg.PollInterval) * int64(i) / int64(n))
}

// pollOnce polls a feed for the scheduler.
func (p *poller) pollOnce(ctx context.Context, f *feedPoller) pollOutcome {
	var n atomic.Int64
	behind, err := f.poll(withEmittedCounter(ctx, &n))
	out := pollOutcome{events: int(n.Load()), behind: behind, failed: err != nil}
	p.progress.read(int(n.Load()))
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
		f.failed(ctx, err)
	default:
		f.succeeded()
		if !behind {
			f.caughtUp.Store(true)
		}
	}
	return out
}

// poll reads the feed from its checkpoint up to GitLab's now and emits
// the new events, oldest first, one time slice at a time (see slice.go):
// each slice's events are emitted and checkpointed before the next slice
// is read. behind is true when the window stopped short of now (a backfill
// longer than GitLab's 30-day query limit).
func (f *feedPoller) poll(ctx context.Context) (behind bool, err error) {
	p := f.p
	// GitLab's time, not the collector's: a window never reaches past what
	// GitLab can have written, whatever the skew between the two clocks.
	now := p.gitlabNow()
	from := f.readFrom()
	end := now.Add(-pollLag)
	if end.Sub(from) > maxWindow {
		end = from.Add(maxWindow)
		behind = true
	}
	if !end.After(from) {
		return false, nil
	}

	f.settled = from
	var st pollStats
	for from.Before(end) {
		w := gitlabapi.Window{After: from, Before: f.sliceEnd(from, end)}
		done, err := f.pollSlice(ctx, w, &st)
		if err != nil {
			if ctx.Err() == nil && f.shrink(w, err) {
				continue // the same time, in smaller slices
			}
			return behind, err
		}
		f.grow()
		if !done.After(from) || end.Sub(done) < pollLag {
			// GitLab's clock has not reached the window's end yet: its Date
			// header counts whole seconds, so the slice usually stops up to
			// a second short of end. The next poll reads on from done; a
			// request for that second alone would double what an idle feed
			// costs (one request per poll).
			break
		}
		from = done
	}
	p.checkSkew()

	fields := []zap.Field{
		zap.String("feed", f.feed.String()), zap.Int("pages", st.pages), zap.Int("slices", st.slices),
		zap.Int("events_in_window", st.events), zap.Time("checkpoint", f.cp.Watermark),
		zap.Duration("lag", now.Sub(f.cp.Watermark)),
	}
	if !f.polledOnce && f.origin != originDiscovered { // thousands of discovered feeds: progress is logged instead
		f.polledOnce = true
		p.logger.Info("Polling GitLab audit events", fields...)
	} else {
		p.logger.Debug("Polled GitLab audit events", fields...)
	}
	return behind, nil
}

// pollStats add up the slices of one poll for its log line.
type pollStats struct{ pages, slices, events int }

// pollSlice reads one slice of the feed, emits its new events and moves
// the checkpoint to the slice's end: w.Before, or earlier when GitLab's
// clock (the Date of its first answer) had not reached it. It returns
// where the checkpoint now stands for this slice.
func (f *feedPoller) pollSlice(ctx context.Context, w gitlabapi.Window, st *pollStats) (time.Time, error) {
	p := f.p
	buf := newWindowBuffer(p.spillThreshold, w.After)
	defer buf.close()
	pages := p.client.Pages(f.feed, w)
	for {
		body, ok, err := pages.Next(ctx)
		if err != nil {
			return time.Time{}, err
		}
		if !ok {
			break
		}
		if err := buf.addPage(body); err != nil {
			return time.Time{}, fmt.Errorf("page %d of the %s audit events: %w", pages.Pages(), f.feed, err)
		}
	}
	if buf.spilled() {
		p.logger.Info("Large window spilled to a temporary file", zap.String("feed", f.feed.String()),
			zap.Int("events", len(buf.events)), zap.Int("pages", pages.Pages()))
	}
	buf.sort()
	if err := f.emit(ctx, buf); err != nil {
		return time.Time{}, err
	}
	done := w.Before
	answered := pages.FirstAnswer()
	if !answered.IsZero() && answered.Add(-pollLag).Before(done) {
		done = answered.Add(-pollLag)
	}
	f.cp.advance(done, p.cfg.Overlap)
	f.watermark.Store(f.cp.Watermark.UnixNano())
	f.store(ctx)
	f.settle(w, done, answered)
	st.pages += pages.Pages()
	st.slices++
	st.events += len(buf.events)
	return done, nil
}

// pollBatch is a batch of owned records being built, with what the
// checkpoint needs once the pipeline accepted it.
type pollBatch struct {
	emitBatch
	times []int64 // created_at, Unix milliseconds, per key
	upTo  int64   // created_at (unix ns) of the last event handled
}

// emit emits the window's events in order, in batches. After each batch
// the pipeline accepted, the checkpoint moves to the created_at of the last
// event handled and is stored with the batch's events, so a failure later
// in a large window does not re-emit what was accepted.
func (f *feedPoller) emit(ctx context.Context, buf *windowBuffer) error {
	p := f.p
	var b *pollBatch
	scratch := plog.NewLogRecord()
	invalid, filtered, dups := 0, 0, 0
	defer func() {
		p.tel.count(ctx, p.tel.invalid, invalid, attrSource, string(auditlog.SourcePoll))
		p.tel.count(ctx, p.tel.filtered, filtered, attrSource, string(auditlog.SourcePoll))
		p.tel.count(ctx, p.tel.duplicates, dups, attrSource, string(auditlog.SourcePoll))
	}()

	for _, we := range buf.events {
		text, err := buf.text(we)
		if err != nil {
			return err
		}
		ev, err := auditlog.Fill(scratch, text, auditlog.SourcePoll, "", pcommon.NewTimestampFromTime(p.now()))
		if err != nil {
			invalid++
			p.logger.Warn("Skipping an event GitLab returned that cannot be read", zap.String("feed", f.feed.String()), zap.Error(err))
			continue
		}
		if _, ok := f.cp.Seen[ev.Key]; ok {
			continue // emitted by an earlier poll: the overlap is read again on purpose
		}
		if !p.filter.keep(ev.Type) {
			filtered++
			continue
		}
		for {
			if b == nil {
				b = &pollBatch{emitBatch: p.emit.newBatch()}
			}
			cl := p.emit.offer(&b.emitBatch, ev.Key, scratch)
			if cl.state == claimOwned {
				b.times = append(b.times, ev.CreatedAt.UnixMilli())
				break
			}
			if cl.state == claimDuplicate {
				dups++
				break
			}
			// Another path is emitting this event now, or too many events
			// are in flight. Hand over what is held first, so that nobody
			// waits on anybody holding claims.
			if err := f.flush(ctx, b); err != nil {
				return err
			}
			b = nil
			if err := waitClaim(ctx, cl); err != nil {
				return err
			}
		}
		if b.len() > 0 {
			b.upTo = ev.CreatedAt.UnixNano()
			if b.len() >= maxBatchRecords {
				if err := f.flush(ctx, b); err != nil {
					return err
				}
				b = nil
			}
		}
	}
	return f.flush(ctx, b)
}

// waitClaim waits until an event that was not owned may be claimed again.
func waitClaim(ctx context.Context, cl claim) error {
	wait := cl.wait
	if cl.state == claimFull {
		t := time.NewTimer(claimFullRetry)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush hands a batch to the pipeline. Once accepted, its events enter the
// checkpoint, which moves to the last event handled and is stored in the
// same transaction as the events; once refused, the same window is read
// again at the next poll.
func (f *feedPoller) flush(ctx context.Context, b *pollBatch) error {
	if b == nil {
		return nil
	}
	return f.p.emit.deliver(ctx, &b.emitBatch, func() []*storage.Operation {
		for i, it := range b.items {
			f.cp.Seen[it.key] = b.times[i]
		}
		f.cp.advance(time.Unix(0, b.upTo), f.p.cfg.Overlap)
		f.watermark.Store(f.cp.Watermark.UnixNano())
		if f.p.state == nil {
			return nil
		}
		return []*storage.Operation{checkpointOperation(f.feed, f.cp)}
	})
}

// store writes the checkpoint to the storage extension, when there is one.
func (f *feedPoller) store(ctx context.Context) {
	if f.p.state == nil {
		return
	}
	if err := f.p.state.saveCheckpoint(ctx, f.feed, f.cp); err != nil {
		f.p.logger.Warn("Could not store the checkpoint", zap.String("feed", f.feed.String()), zap.Error(err))
	}
}

// failed logs a failed poll once per cause, with what to do about it, and
// reports it in the component status.
func (f *feedPoller) failed(ctx context.Context, err error) {
	p := f.p
	reason, advice := "error", ""
	var ae *gitlabapi.APIError
	var pe errPipeline
	switch {
	case errors.As(err, &ae):
		reason, advice = ae.Reason(), ae.Advice()
	case errors.As(err, &pe):
		reason = "pipeline"
		advice = "the next component refused the events (e.g. memory_limiter); the same window is read again at the next poll"
	}
	p.tel.count(ctx, p.tel.pollErrors, 1, attrFeed, p.labels.of(f.feed))
	fields := []zap.Field{zap.String("feed", f.feed.String()), zap.String("reason", reason), zap.Error(err)}
	if advice != "" {
		fields = append(fields, zap.String("what_to_do", advice))
	}
	if reason != f.lastReason {
		p.logger.Error("Polling GitLab audit events failed", fields...)
		f.lastReason = reason
	} else {
		p.logger.Debug("Polling GitLab audit events failed again", fields...)
	}
	if reason != "pipeline" {
		p.status.set(f.feed.String(), fmt.Errorf("%s: %w", f.feed, err))
	}
}

func (f *feedPoller) succeeded() {
	if f.lastReason != "" {
		f.p.logger.Info("Polling GitLab audit events works again", zap.String("feed", f.feed.String()))
		f.lastReason = ""
	}
	f.p.status.set(f.feed.String(), nil)
}
