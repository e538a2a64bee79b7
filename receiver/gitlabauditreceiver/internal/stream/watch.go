// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/tick"
)

// GitLab never retries a failed streaming delivery: a broken destination
// (wrong token, unreachable collector, a proxy in the way) loses events
// silently, and with polling alongside nothing seems wrong until the gap
// matters (polling is minutes late, stream-only events are gone). The
// stream watch notices it: an event polling emitted first, of a kind the
// stream delivers, and that the stream still had not delivered streamGrace
// after it was created, was missed by the stream.
const (
	// Grace is how long GitLab may take to stream an event (its Sidekiq
	// worker usually takes a second or two).
	Grace = 30 * time.Second
	// maxStreamPending bounds the polled events waiting for their grace to
	// end; beyond it, further ones are not watched.
	maxStreamPending = 100_000
)

// Watch counts the events the stream missed. It follows both paths'
// deliveries as the emitting stage's Watcher.
type Watch struct {
	grace  time.Duration
	tel    *metadata.TelemetryBuilder
	logger *zap.Logger
	// clock is GitLab's clock, as the poller learns it (created_at is on it).
	clock *gitlabapi.Clock
	// opened is when the stream endpoint opened, on the collector's clock:
	// events created before could not be streamed to this receiver.
	opened time.Time

	mu sync.Mutex
	// expect, once the destination check read what the destination that
	// delivers here streams, says which polled events the stream should
	// have delivered; nil: the destinations could not be read, and scopes
	// decide.
	expect *Expectation
	// scopes are the kinds of events the stream delivered since start:
	// event type and top-level namespace. A destination streams the events
	// of its group (or of the instance), filtered by type or not, so a
	// polled event of another kind is not expected on the stream. Until the
	// stream delivered anything, every kind is expected.
	scopes map[string]struct{}
	// pending maps the de-duplication key of each event polling emitted
	// first to its kind and the end of its grace.
	pending map[string]watched
}

// watched is what the watch needs of one emitted event.
type watched struct {
	key      string
	ev       event
	deadline time.Time // created_at + grace
}

// NewWatch returns a stream watch on GitLab's clock; its Run reports.
func NewWatch(clock *gitlabapi.Clock, tel *metadata.TelemetryBuilder, logger *zap.Logger) *Watch {
	return newWatch(clock, Grace, tel, logger)
}

func newWatch(clock *gitlabapi.Clock, grace time.Duration, tel *metadata.TelemetryBuilder, logger *zap.Logger) *Watch {
	return &Watch{grace: grace, clock: clock, tel: tel, logger: logger, opened: clock.Local(), scopes: map[string]struct{}{}, pending: map[string]watched{}}
}

var _ emit.Watcher = (*Watch)(nil)

// openedOnGitLab is when the stream endpoint opened, on GitLab's clock.
func (w *Watch) openedOnGitLab() time.Time {
	skew, _, _ := w.clock.Skew()
	return w.opened.Add(skew)
}

// Delivering reads what the watch needs of a batch before the pipeline
// owns its records, and returns the function that records the batch once
// the pipeline accepted it.
func (w *Watch) Delivering(src auditlog.Source, items []emit.Item, records plog.LogRecordSlice) func() {
	out := make([]watched, 0, len(items))
	for i, it := range items {
		if i >= records.Len() {
			break
		}
		lr := records.At(i)
		out = append(out, watched{key: it.Key, ev: eventOf(lr), deadline: lr.Timestamp().AsTime().Add(w.grace)})
	}
	return func() { w.accepted(src, out) }
}

// accepted records a batch the pipeline accepted, from either path.
func (w *Watch) accepted(source auditlog.Source, events []watched) {
	if len(events) == 0 {
		return
	}
	opened := w.openedOnGitLab()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range events {
		if source == auditlog.SourceStream {
			w.scopes[ev.ev.scope()] = struct{}{}
			delete(w.pending, ev.key)
			continue
		}
		// Polled first. Created before the stream endpoint opened: it could
		// not have been streamed here. Not streamed by the destination: not
		// awaited.
		if !ev.deadline.Add(-w.grace).After(opened) || len(w.pending) >= maxStreamPending ||
			(w.expect != nil && !w.expect.expects(ev.ev)) {
			continue
		}
		w.pending[ev.key] = ev
	}
}

// Duplicate records that the stream delivered an event already emitted:
// late, but not missed.
func (w *Watch) Duplicate(src auditlog.Source, key string) {
	if src != auditlog.SourceStream {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pending, key)
}

// missed returns how many polled events the stream missed since the last
// call: those whose grace ended without the stream delivering them, that
// the destination streams (or, when it could not be read, of a kind the
// stream delivered). The destination is asked again here: an event polled
// before it was known (the check at start still under way, or failed until
// a later one) was kept whatever it streams.
func (w *Watch) missed() int {
	now, _ := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	missed := 0
	for k, ev := range w.pending {
		if ev.deadline.After(now) {
			continue
		}
		delete(w.pending, k)
		if w.expect != nil {
			if w.expect.expects(ev.ev) {
				missed++
			}
			continue
		}
		if _, ok := w.scopes[ev.ev.scope()]; ok || len(w.scopes) == 0 {
			missed++
		}
	}
	return missed
}

// eventOf reads what the watch needs of a record.
func eventOf(lr plog.LogRecord) event {
	attrs := lr.Attributes()
	var ev event
	if v, ok := attrs.Get(auditlog.AttrEventType); ok {
		ev.typ = v.Str()
	}
	if v, ok := attrs.Get(auditlog.AttrEntityType); ok {
		ev.entityType = v.Str()
	}
	if v, ok := attrs.Get(auditlog.AttrEntityPath); ok {
		ev.entityPath = v.Str()
	}
	return ev
}

// scope is the kind of an event when the destination is unknown: its type
// and the top-level namespace of its group or project ("" for user and
// instance events).
func (ev event) scope() string {
	root := ""
	if ev.entityType == "Group" || ev.entityType == "Project" {
		root, _, _ = strings.Cut(strings.ToLower(ev.entityPath), "/")
	}
	return ev.typ + "\x00" + root
}

// Expect sets what the destination that delivers here streams; nil goes
// back to learning it from what the stream delivers.
func (w *Watch) Expect(e *Expectation) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expect = e
}

// Run reports the events the stream missed every interval (the poll
// interval), until ctx ends.
func (w *Watch) Run(ctx context.Context, interval time.Duration) {
	tick.Every(ctx, interval, w.Report)
}

// Report counts and logs the events the stream missed since the last
// report (Run calls it every interval).
func (w *Watch) Report(ctx context.Context) {
	n := w.missed()
	if n == 0 {
		return
	}
	w.tel.GitlabAuditStreamMissed.Add(ctx, int64(n))
	w.logger.Warn("Polling found events that audit event streaming should have delivered and did not; GitLab does not retry failed deliveries",
		zap.Int("missed", n), zap.Duration("grace", w.grace),
		zap.String("what_to_do", "check the streaming destination in GitLab (URL, verification token, custom headers, event type filters) and that GitLab reaches the collector; "+
			"until then polling delivers the database-saved events, and stream-only events are lost"))
}
