// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/access"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

const (
	// pollLag keeps created_before a little behind now, so a window never
	// ends in the very second GitLab is still writing.
	pollLag = 2 * time.Second
	// maxBatchRecords is the largest batch handed to the pipeline at once.
	// The checkpoint moves after every accepted batch.
	maxBatchRecords = 1000
	// MaxWindow is the longest created_at range one query may ask for:
	// GitLab limits audit event queries to 30 days
	// (docs: api/audit_events.md, created_after/created_before).
	MaxWindow = 30 * 24 * time.Hour
)

// reader reads one feed at a time: from its checkpoint to GitLab's now, in
// time slices, each slice spooled, sorted oldest first, admitted, emitted
// and checkpointed.
type reader struct {
	clock          *gitlabClock
	client         *gitlabapi.Client
	emit           *emit.Emitter
	store          *emit.Store     // nil: checkpoints live in memory only
	access         *access.Checker // nil: no access check
	tel            *metadata.TelemetryBuilder
	logger         *zap.Logger
	labels         Labels
	status         func(part string, err error)
	now            func() time.Time
	overlap        time.Duration
	spillThreshold int64
}

// poll reads the feed from its checkpoint up to GitLab's now and emits
// the new events, oldest first, one time slice at a time (see slice.go):
// each slice's events are emitted and checkpointed before the next slice
// is read. It returns how many events the pipeline accepted, and whether
// the window stopped short of now (a backfill longer than GitLab's 30-day
// query limit).
func (r *reader) poll(ctx context.Context, f *feedPoller) (events int, behind bool, err error) {
	// GitLab's time, not the collector's: a window never reaches past what
	// GitLab can have written, whatever the skew between the two clocks.
	now := r.clock.now()
	from := r.readFrom(f)
	end := now.Add(-pollLag)
	if end.Sub(from) > MaxWindow {
		end = from.Add(MaxWindow)
		behind = true
	}
	if !end.After(from) {
		return 0, false, nil
	}

	f.settled = from
	var st pollStats
	for from.Before(end) {
		w := gitlabapi.Window{After: from, Before: f.sliceEnd(from, end)}
		done, err := r.pollSlice(ctx, f, w, &st)
		if err != nil {
			var again *shorterSlices
			if ctx.Err() == nil && errors.As(err, &again) && r.shrink(f, w, again.err) {
				continue // the same time, in smaller slices
			}
			return st.emitted, behind, err
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
	r.clock.checkSkew()

	fields := []zap.Field{
		zap.String("feed", f.feed.String()), zap.Int("pages", st.pages), zap.Int("slices", st.slices),
		zap.Int("events_in_window", st.events), zap.Time("checkpoint", f.cp.Watermark),
		zap.Duration("lag", now.Sub(f.cp.Watermark)),
	}
	if !f.polledOnce && f.origin != originDiscovered { // thousands of discovered feeds: progress is logged instead
		f.polledOnce = true
		r.logger.Info("Polling GitLab audit events", fields...)
	} else {
		r.logger.Debug("Polled GitLab audit events", fields...)
	}
	return st.emitted, behind, nil
}

// pollStats add up the slices of one poll for its log line.
type pollStats struct{ pages, slices, events, emitted int }

// pollSlice reads one slice of the feed, emits its new events and moves
// the checkpoint to the slice's end: w.Before, or earlier when GitLab's
// clock (the Date of its first answer) had not reached it. It returns
// where the checkpoint now stands for this slice.
func (r *reader) pollSlice(ctx context.Context, f *feedPoller, w gitlabapi.Window, st *pollStats) (time.Time, error) {
	buf := newWindowBuffer(r.spillThreshold, w.After)
	defer buf.close()
	pages := r.client.Pages(f.feed, w)
	if err := r.readPages(ctx, f, pages, buf, st); err != nil {
		return time.Time{}, err
	}
	if buf.spilled() {
		r.logger.Info("Large window spilled to a temporary file", zap.String("feed", f.feed.String()),
			zap.Int("events", buf.count), zap.Int("pages", len(buf.pages)))
	}
	if err := buf.sort(); err != nil {
		return time.Time{}, err
	}
	emitted, err := r.emitWindow(ctx, f, buf)
	st.emitted += emitted
	if err != nil {
		return time.Time{}, err
	}
	done := w.Before
	answered := pages.FirstAnswer()
	if !answered.IsZero() && answered.Add(-pollLag).Before(done) {
		done = answered.Add(-pollLag)
	}
	f.cp.advance(done, r.overlap)
	f.watermark.Store(f.cp.Watermark.UnixNano())
	r.saveCheckpoint(ctx, f)
	r.settle(f, w, done, answered)
	st.slices++
	st.events += buf.count
	return done, nil
}

// readPages reads every page of p into buf. A page that fails in a way a
// shorter time range may cure (slice.go: sliceHelps) while p's window can
// still shrink is not retried with retry_on_failure's back-off. A timeout,
// or a failure that took slowFailure or longer, says the range is too long
// for GitLab: what remains of the window is read at once in shorter
// windows that continue the walk after the pages already read
// (Pager.Resume), so what a completed page proved is never read again. A
// quick failure (a 502 of a restarting node) is sent again once at once,
// and split the same way if it fails again. Where the walk cannot be
// resumed (offset pagination), the error asks the caller to read the whole
// slice again in shorter slices (shorterSlices).
func (r *reader) readPages(ctx context.Context, f *feedPoller, p *gitlabapi.Pager, buf *windowBuffer, st *pollStats) error {
	p.SetFailFast(canShrink(p.Window()))
	var oldest time.Time // of the events p read
	again := false
	for {
		sent := time.Now()
		body, ok, err := p.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || !sliceHelps(err) || !canShrink(p.Window()) {
				return err
			}
			if !again && !gitlabapi.TimedOut(err) && time.Since(sent) < slowFailure {
				again = true
				continue // the same page once more: the pager still holds its request
			}
			for _, part := range r.split(f, p.Window(), oldest, err) {
				next, ok := p.Resume(part)
				if !ok {
					return &shorterSlices{err: err}
				}
				if err := r.readPages(ctx, f, next, buf, st); err != nil {
					return err
				}
			}
			return nil
		}
		if !ok {
			return nil
		}
		again = false
		st.pages++
		first, err := buf.addPage(body)
		if err != nil {
			return fmt.Errorf("page %d of the %s audit events: %w", p.Pages(), f.feed, err)
		}
		if !first.IsZero() && (oldest.IsZero() || first.Before(oldest)) {
			oldest = first
		}
	}
}

// pollBatch is a batch of owned records being built, with what the
// checkpoint needs once the pipeline accepted it.
type pollBatch struct {
	*emit.Batch
	times []int64 // created_at, Unix milliseconds, per key
	upTo  int64   // created_at (unix ns) of the last event handled
}

// emitWindow emits the window's events in order, in batches, and returns
// how many the pipeline accepted. After each accepted batch the checkpoint
// moves to the created_at of the last event handled and is stored with the
// batch's events, so a failure later in a large window does not re-emit
// what was accepted.
func (r *reader) emitWindow(ctx context.Context, f *feedPoller, buf *windowBuffer) (emitted int, err error) {
	var b *pollBatch
	scratch := plog.NewLogRecord()
	var counts emit.Counts
	defer func() { r.emit.Report(ctx, counts) }()
	defer func() {
		// Returning with a batch not handed over (the window could not be
		// read on): its claims must not outlive it, or the next poll and
		// the stream would wait on events nobody delivers.
		if b != nil {
			r.emit.Abandon(b.Batch)
		}
	}()
	flush := func() error {
		n, err := r.flush(ctx, f, b)
		emitted += n
		b = nil
		return err
	}

	for {
		text, more, err := buf.next()
		if err != nil {
			return emitted, err
		}
		if !more {
			break
		}
		ev, ok, err := r.emit.Admit(&counts, scratch, text, "", pcommon.NewTimestampFromTime(r.now()))
		if err != nil {
			r.logger.Warn("Skipping an event GitLab returned that cannot be read", zap.String("feed", f.feed.String()), zap.Error(err))
			continue
		}
		if _, seen := f.cp.Seen[ev.Key]; seen || !ok {
			continue // seen: emitted by an earlier poll, the overlap is read again on purpose
		}
		for {
			if b == nil {
				b = &pollBatch{Batch: r.emit.NewBatch()}
			}
			cl := r.emit.Offer(&counts, b.Batch, ev.Key, scratch)
			if cl.State == emit.ClaimOwned {
				b.times = append(b.times, ev.CreatedAt.UnixMilli())
				break
			}
			if cl.State == emit.ClaimDuplicate {
				break
			}
			// Another path is emitting this event now, or too many events
			// are in flight. Hand over what is held first, so that nobody
			// waits on anybody holding claims.
			if err := flush(); err != nil {
				return emitted, err
			}
			if err := cl.Wait(ctx); err != nil {
				return emitted, err
			}
		}
		if b.Len() > 0 {
			b.upTo = ev.CreatedAt.UnixNano()
			if b.Len() >= maxBatchRecords {
				if err := flush(); err != nil {
					return emitted, err
				}
			}
		}
	}
	return emitted, flush()
}

// flush hands a batch to the pipeline and returns how many records it
// accepted. Once accepted, its events enter the checkpoint, which moves to
// the last event handled and is stored in the same transaction as the
// events; once refused, the same window is read again at the next poll.
func (r *reader) flush(ctx context.Context, f *feedPoller, b *pollBatch) (int, error) {
	if b == nil {
		return 0, nil
	}
	return r.emit.Deliver(ctx, b.Batch, func() []*storage.Operation {
		for i, it := range b.Items() {
			f.cp.Seen[it.Key] = b.times[i]
		}
		f.cp.advance(time.Unix(0, b.upTo), r.overlap)
		f.watermark.Store(f.cp.Watermark.UnixNano())
		if r.store == nil {
			return nil
		}
		return []*storage.Operation{checkpointOperation(f.feed, f.cp)}
	})
}

// saveCheckpoint writes the checkpoint to storage, when there is one.
func (r *reader) saveCheckpoint(ctx context.Context, f *feedPoller) {
	if r.store == nil {
		return
	}
	if err := r.store.Set(ctx, checkpointKey(f.feed), encodeCheckpoint(f.cp)); err != nil {
		r.logger.Warn("Could not store the checkpoint", zap.String("feed", f.feed.String()), zap.Error(err))
	}
}

// failed logs a failed poll once per cause, with what to do about it, and
// reports it in the component status.
func (r *reader) failed(ctx context.Context, f *feedPoller, err error) {
	reason, advice := "error", ""
	var ae *gitlabapi.APIError
	switch {
	case errors.As(err, &ae):
		reason, advice = ae.Reason(), ae.Advice()
	case emit.IsPipeline(err):
		reason = "pipeline"
		advice = "the next component refused the events (e.g. memory_limiter); the same window is read again at the next poll"
	}
	metadata.Add(ctx, r.tel.GitlabAuditPollErrors, 1, metadata.AttrFeed, r.labels.Of(f.feed))
	fields := []zap.Field{zap.String("feed", f.feed.String()), zap.String("reason", reason), zap.Error(err)}
	if advice != "" {
		fields = append(fields, zap.String("what_to_do", advice))
	}
	switch {
	case reason == "unauthorized" && r.access != nil:
		// The access check says it once, with what is known of the token.
		r.logger.Debug("Polling GitLab audit events failed: GitLab refuses the token", fields...)
		f.lastReason = reason
	case reason != f.lastReason:
		r.logger.Error("Polling GitLab audit events failed", fields...)
		f.lastReason = reason
	default:
		r.logger.Debug("Polling GitLab audit events failed again", fields...)
	}
	if reason != "pipeline" {
		r.status(f.feed.String(), fmt.Errorf("%s: %w", f.feed, err))
	}
}

func (r *reader) succeeded(f *feedPoller) {
	if f.lastReason != "" {
		r.logger.Info("Polling GitLab audit events works again", zap.String("feed", f.feed.String()))
		f.lastReason = ""
	}
	r.status(f.feed.String(), nil)
}
