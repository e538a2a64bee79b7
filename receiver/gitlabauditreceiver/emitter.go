// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
)

// emitter is the one way events leave the receiver, for both paths: each
// event is claimed in the de-duplication set, the owned ones are batched,
// the batch goes to the pipeline, and only then are its events committed
// (in memory and in the state store, with the caller's checkpoint in the
// same storage transaction); a refused batch is released, so that a later
// delivery of the same events is emitted.
//
// The rule that keeps concurrent deliveries from deadlocking: nobody waits
// while holding claims. An event that another delivery is emitting right
// now (claimInFlight) is waited for only after the caller handed over (or
// released) the batch it holds.
type emitter struct {
	next    consumer.Logs
	obs     *receiverhelper.ObsReport
	dedup   *dedupCache
	state   *stateStore // nil: nothing is stored
	records *recordFactory
	tel     *telemetry
	logger  *zap.Logger
	source  auditlog.Source
	// conflictLogged is shared by the receiver's emitters: an id conflict
	// is logged once.
	conflictLogged *atomic.Bool

	// beforeConsume, when set, runs on each batch right before ConsumeLogs,
	// on both paths: the records are those this receiver owns and is about
	// to emit (duplicates are already out), so per-record enrichment (API
	// lookups that add attributes) costs nothing for duplicates. It runs
	// while the batch's claims are held: another delivery of the same
	// events waits for it (a streamed request at most maxInFlightWait), so
	// it must bound its own time (cache, timeouts) and degrade to leaving a
	// record as it is. It may add or change attributes; it must not add,
	// remove or reorder records.
	beforeConsume func(ctx context.Context, records plog.LogRecordSlice)

	// watch, with polling and streaming together, learns from every
	// accepted batch and stream duplicate what the stream missed (see
	// streamwatch.go); nil otherwise.
	watch *streamWatch
}

// emitBatch is a batch of owned records being built, with the keys to
// commit or release once the pipeline answered.
type emitBatch struct {
	logs      plog.Logs
	records   plog.LogRecordSlice
	items     []dedupItem // the keys claimed, with their fingerprints
	conflicts int         // records marked gitlab.audit.id_conflict
}

func (e *emitter) newBatch() emitBatch {
	logs, records := e.records.newLogs()
	return emitBatch{logs: logs, records: records}
}

// len returns the number of records in the batch; a nil batch is empty.
func (b *emitBatch) len() int {
	if b == nil {
		return 0
	}
	return len(b.items)
}

// add moves an owned record into the batch; a record whose id was emitted
// with other content is marked.
func (b *emitBatch) add(cl claim, fp auditlog.Fingerprint, lr plog.LogRecord) {
	if cl.conflict {
		lr.Attributes().PutBool(auditlog.AttrIDConflict, true)
		b.conflicts++
	}
	lr.MoveTo(b.records.AppendEmpty())
	b.items = append(b.items, dedupItem{key: cl.key, fp: fp})
}

// offer claims one event for the batch. When owned, lr is moved into the
// batch (lr is then empty and may be reused). claimInFlight comes with the
// channel to wait on, claimFull with none: deliver the batch first, then
// wait, then offer the event again.
func (e *emitter) offer(b *emitBatch, key string, lr plog.LogRecord) claim {
	fp := auditlog.FingerprintOf(lr)
	cl := e.dedup.ClaimOne(dedupItem{key: key, fp: fp})
	if cl.state == claimOwned {
		b.add(cl, fp, lr)
	}
	return cl
}

// deliver hands the batch to the pipeline. When the pipeline accepts it,
// accepted (may be nil) is called, then the events are committed, with
// the storage operations accepted returns (the poller's checkpoint) in the
// same transaction. When the pipeline refuses it, the events are released
// and the error, an errPipeline, says how many were refused.
func (e *emitter) deliver(ctx context.Context, b *emitBatch, accepted func() []*storage.Operation) error {
	n := b.len()
	if n == 0 {
		return nil
	}
	if e.beforeConsume != nil {
		e.beforeConsume(ctx, b.records)
	}
	watched := e.watch.describe(b.items, b.records) // before the pipeline owns the records
	opCtx := e.obs.StartLogsOp(ctx)
	err := e.next.ConsumeLogs(opCtx, b.logs)
	e.obs.EndLogsOp(opCtx, "json", n, err)
	if err != nil {
		e.dedup.Release(b.items)
		return errPipeline{fmt.Errorf("the pipeline refused %d event(s): %w", n, err)}
	}
	var also []*storage.Operation
	if accepted != nil {
		also = accepted()
	}
	e.watch.accepted(e.source, watched)
	expires := e.dedup.Commit(b.items)
	if e.state != nil {
		if err := e.state.commit(ctx, b.items, expires, also...); err != nil {
			e.logger.Warn("Could not record emitted events in storage (de-duplication state, checkpoint); after a restart some of these events may be emitted again", zap.Error(err))
		}
	}
	if b.conflicts > 0 {
		e.tel.count(ctx, e.tel.idConflicts, b.conflicts, attrSource, string(e.source))
		if e.conflictLogged.CompareAndSwap(false, true) {
			e.logger.Warn("An event id was delivered again with other content (created_at, author, entity or type); "+
				"it is emitted as a distinct event marked "+auditlog.AttrIDConflict+" (logged once; see "+metricIDConflicts+")",
				zap.String("source", string(e.source)))
		}
	}
	return nil
}

// pending is a decoded event waiting for its de-duplication claim.
type pending struct {
	key    string
	record plog.LogRecord
}

// emitAll claims events, all at once, and hands the owned ones to the
// pipeline in one batch. Events that another delivery is emitting are
// waited for (at most wait) after this batch was handed over, then claimed
// again, so no two deliveries wait on each other.
func (e *emitter) emitAll(ctx context.Context, events []pending, wait time.Duration) (accepted, dups int, err error) {
	for len(events) > 0 {
		items := make([]dedupItem, len(events))
		for i, ev := range events {
			items[i] = dedupItem{key: ev.key, fp: auditlog.FingerprintOf(ev.record)}
		}
		claims := e.dedup.Claim(items)
		b := e.newBatch()
		var waiting []pending
		var waits []<-chan struct{}
		full := 0
		for i, c := range claims {
			switch c.state {
			case claimOwned:
				b.add(c, items[i].fp, events[i].record)
			case claimDuplicate:
				dups++
				if e.source == auditlog.SourceStream {
					e.watch.streamDuplicate(items[i].key)
				}
			case claimInFlight:
				waiting = append(waiting, events[i])
				waits = append(waits, c.wait)
			case claimFull:
				full++
			}
		}
		if err := e.deliver(ctx, &b, nil); err != nil {
			return accepted, dups, err
		}
		accepted += b.len()
		if full > 0 {
			return accepted, dups, fmt.Errorf("%d event(s) were not taken: the de-duplication set holds as many events in flight as it may (half of max_entries); send them again", full+len(waiting))
		}
		if len(waiting) == 0 {
			return accepted, dups, nil
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		for _, ch := range waits {
			select {
			case <-ch:
			case <-wctx.Done():
				cancel()
				return accepted, dups, fmt.Errorf("%d event(s) are still being delivered by another request; send them again", len(waiting))
			}
		}
		cancel()
		events = waiting
	}
	return accepted, dups, nil
}

// errPipeline marks errors of the next consumer, as opposed to GitLab's.
type errPipeline struct{ error }

func (e errPipeline) Unwrap() error { return e.error }
