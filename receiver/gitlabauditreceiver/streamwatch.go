// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// GitLab never retries a failed streaming delivery: a broken destination
// (wrong token, unreachable collector, a proxy in the way) loses events
// silently, and with polling alongside nothing seems wrong until the gap
// matters (polling is minutes late, stream-only events are gone). The
// stream watch notices it: an event polling emitted first, of a kind the
// stream delivers, and that the stream still had not delivered streamGrace
// after it was created, was missed by the stream.
const (
	// streamGrace is how long GitLab may take to stream an event (its
	// Sidekiq worker usually takes a second or two).
	streamGrace = 30 * time.Second
	// maxStreamPending bounds the polled events waiting for their grace to
	// end; beyond it, further ones are not watched.
	maxStreamPending = 100_000
)

// streamWatch counts the events the stream missed.
type streamWatch struct {
	grace time.Duration
	// clock is GitLab's clock, as the poller learns it (created_at is on it).
	clock *gitlabapi.Clock
	// opened is when the stream endpoint opened, on the collector's clock:
	// events created before could not be streamed to this receiver.
	opened time.Time

	mu sync.Mutex
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
	scope    string
	deadline time.Time // created_at + grace
}

func newStreamWatch(clock *gitlabapi.Clock, grace time.Duration) *streamWatch {
	return &streamWatch{grace: grace, clock: clock, opened: clock.Local(), scopes: map[string]struct{}{}, pending: map[string]watched{}}
}

// openedOnGitLab is when the stream endpoint opened, on GitLab's clock.
func (w *streamWatch) openedOnGitLab() time.Time {
	skew, _, _ := w.clock.Skew()
	return w.opened.Add(skew)
}

// describe reads what the watch needs of a batch, before the batch is
// handed to the pipeline (which then owns the records). items[i] is the
// claim of records.At(i).
func (w *streamWatch) describe(items []dedupItem, records plog.LogRecordSlice) []watched {
	if w == nil {
		return nil
	}
	out := make([]watched, 0, len(items))
	for i, it := range items {
		if i >= records.Len() {
			break
		}
		lr := records.At(i)
		out = append(out, watched{key: it.key, scope: scopeOf(lr), deadline: lr.Timestamp().AsTime().Add(w.grace)})
	}
	return out
}

// accepted records a batch the pipeline accepted, from either path.
func (w *streamWatch) accepted(source auditlog.Source, events []watched) {
	if w == nil || len(events) == 0 {
		return
	}
	opened := w.openedOnGitLab()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range events {
		if source == auditlog.SourceStream {
			w.scopes[ev.scope] = struct{}{}
			delete(w.pending, ev.key)
			continue
		}
		// Polled first. Created before the stream endpoint opened: it could
		// not have been streamed here.
		if !ev.deadline.Add(-w.grace).After(opened) || len(w.pending) >= maxStreamPending {
			continue
		}
		w.pending[ev.key] = ev
	}
}

// streamDuplicate records that the stream delivered an event already
// emitted: late, but not missed.
func (w *streamWatch) streamDuplicate(key string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pending, key)
}

// tick returns how many polled events the stream missed since the last
// tick: those whose grace ended without the stream delivering them, of a
// kind the stream delivers.
func (w *streamWatch) tick() int {
	if w == nil {
		return 0
	}
	now, _ := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	missed := 0
	for k, ev := range w.pending {
		if ev.deadline.After(now) {
			continue
		}
		delete(w.pending, k)
		if _, ok := w.scopes[ev.scope]; ok || len(w.scopes) == 0 {
			missed++
		}
	}
	return missed
}

// scopeOf is the kind of an event: its type and the top-level namespace of
// its group or project ("" for user and instance events).
func scopeOf(lr plog.LogRecord) string {
	attrs := lr.Attributes()
	typ, _ := attrs.Get(auditlog.AttrEventType)
	root := ""
	if et, ok := attrs.Get(auditlog.AttrEntityType); ok && (et.Str() == "Group" || et.Str() == "Project") {
		if p, ok := attrs.Get(auditlog.AttrEntityPath); ok {
			root, _, _ = strings.Cut(strings.ToLower(p.Str()), "/")
		}
	}
	return typ.Str() + "\x00" + root
}

// watchLoop reports the events the stream missed, once per poll_interval.
func (r *auditReceiver) watchLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.reportStreamMissed(ctx)
		}
	}
}

// reportStreamMissed counts and logs the events the stream missed since
// the last report.
func (r *auditReceiver) reportStreamMissed(ctx context.Context) {
	n := r.watch.tick()
	if n == 0 {
		return
	}
	r.tel.streamMissed.Add(ctx, int64(n))
	r.set.Logger.Warn("Polling found events that audit event streaming should have delivered and did not; GitLab does not retry failed deliveries",
		zap.Int("missed", n), zap.Duration("grace", r.watch.grace),
		zap.String("what_to_do", "check the streaming destination in GitLab (URL, verification token, custom headers, event type filters) and that GitLab reaches the collector; "+
			"until then polling delivers the database-saved events, and stream-only events are lost"))
}
