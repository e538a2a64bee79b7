// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package emit is the one way events leave the receiver, for both paths:
// the admit step (decode, validate, filter, count), the de-duplication
// set every event is claimed in, the batch handed to the pipeline through
// the enrichment stage, and the state store that keeps, in one storage
// transaction per accepted batch, the events emitted and whatever the
// caller stores with them (the poller's checkpoint).
package emit // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/tick"
)

// compactInterval is how often the state store drops expired segments
// when no segment closed in between.
const compactInterval = 30 * time.Second

// Enricher is the enrichment stage: it runs on each batch right before the
// pipeline gets it, on both paths. The records are those this receiver
// owns and is about to emit (duplicates are already out). It runs while
// the batch's claims are held, so it must bound its own time and degrade
// to leaving a record as it is; it may add or change attributes, never
// add, remove or reorder records.
type Enricher interface {
	Enrich(ctx context.Context, records plog.LogRecordSlice)
}

// Watcher follows what each path delivers (the stream watch).
type Watcher interface {
	// Delivering reads what it needs of a batch before the pipeline owns
	// its records (items[i] is the claim of records.At(i)), and returns
	// what to call once the pipeline accepted the batch.
	Delivering(src auditlog.Source, items []Item, records plog.LogRecordSlice) (accepted func())
	// Duplicate notes an event that src delivered again.
	Duplicate(src auditlog.Source, key string)
}

// Settings configure the emitting stage.
type Settings struct {
	Next consumer.Logs
	// MaxEntries and TTL size the de-duplication set.
	MaxEntries int
	TTL        time.Duration
	// Storage keeps the state across restarts; nil keeps it in memory.
	Storage    storage.Client
	EventTypes EventTypes
	Enricher   Enricher // may be nil
	Watcher    Watcher  // may be nil
	Telemetry  *metadata.TelemetryBuilder
	Logger     *zap.Logger
	Now        func() time.Time
	// Version and ServerAddress go into every batch's scope and resource.
	Version, ServerAddress string
}

// Core is what both paths' emitters share: the de-duplication set, the
// state store, the filter, the stages around the pipeline.
type Core struct {
	next     consumer.Logs
	dedup    *dedupCache
	store    *Store // nil: nothing is stored
	filter   *typeFilter
	records  recordFactory
	tel      *metadata.TelemetryBuilder
	logger   *zap.Logger
	enricher Enricher
	watch    Watcher

	// conflictLogged: an id conflict is logged once.
	conflictLogged atomic.Bool
}

// NewCore builds the emitting stage and restores the stored state.
func NewCore(ctx context.Context, set Settings) (*Core, error) {
	c := &Core{
		next:     set.Next,
		dedup:    newDedupCache(set.MaxEntries, set.TTL, set.Now),
		filter:   newTypeFilter(set.EventTypes),
		records:  recordFactory{version: set.Version, serverAddress: set.ServerAddress},
		tel:      set.Telemetry,
		logger:   set.Logger,
		enricher: set.Enricher,
		watch:    set.Watcher,
	}
	if set.Storage != nil {
		c.store = NewStore(set.Storage, set.Logger, set.Now, set.MaxEntries, set.TTL)
		entries, err := c.store.Load(ctx)
		if err != nil {
			set.Logger.Warn("Could not read all the stored de-duplication state; events delivered again may be emitted twice", zap.Error(err))
		}
		c.dedup.restore(entries)
	}
	tel := set.Telemetry
	err := tel.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		entries, evicted := c.DedupStats()
		o.ObserveInt64(tel.GitlabAuditDedupEntries, int64(entries))
		o.ObserveInt64(tel.GitlabAuditDedupEvicted, evicted)
		return nil
	}, tel.GitlabAuditDedupEntries, tel.GitlabAuditDedupEvicted)
	return c, err
}

// DedupStats returns what the de-duplication set holds (remembered and in
// flight) and how many entries it evicted before they expired, as its
// gauges report them.
func (c *Core) DedupStats() (entries int, evicted int64) {
	return c.dedup.Len(), c.dedup.Evicted()
}

// Store returns the state store; nil without storage.
func (c *Core) Store() *Store { return c.store }

// MaxInFlight is how many events may be claimed and not yet committed or
// released at once (half of max_entries): a request holding more is
// refused whole, since taken at once it would flush the set.
func (e *Emitter) MaxInFlight() int { return e.core.dedup.maxInFlight() }

// RunCompaction compacts the stored state when a segment closed, and every
// compactInterval, off the commit path, until ctx ends.
func (c *Core) RunCompaction(ctx context.Context) {
	if c.store == nil {
		return
	}
	tick.Every(ctx, compactInterval, c.compact, tick.WakeOn(c.store.compactNow, 0))
}

func (c *Core) compact(ctx context.Context) {
	if err := c.store.Compact(ctx); err != nil && ctx.Err() == nil {
		c.logger.Warn("Could not compact the stored de-duplication state", zap.Error(err))
	}
}

// Close compacts the stored state once more and closes the storage.
func (c *Core) Close(ctx context.Context) error {
	if c.store == nil {
		return nil
	}
	c.compact(ctx)
	return c.store.Close(ctx)
}

// Emitter is one path's way out: each path reports its own transport.
//
// The rule that keeps concurrent deliveries from deadlocking: nobody waits
// while holding claims. An event that another delivery is emitting right
// now (ClaimInFlight) is waited for only after the caller handed over (or
// released) the batch it holds.
type Emitter struct {
	core   *Core
	obs    *receiverhelper.ObsReport
	source auditlog.Source
	// sourceAttr is the source attribute of the counters added to per
	// batch, made once.
	sourceAttr []metric.AddOption
}

// Emitter returns the emitter of one path.
func (c *Core) Emitter(src auditlog.Source, obs *receiverhelper.ObsReport) *Emitter {
	return &Emitter{core: c, obs: obs, source: src, sourceAttr: metadata.Attribute(metadata.AttrSource, string(src))}
}

// Batch is a batch of owned records being built, with the keys to commit
// or release once the pipeline answered.
type Batch struct {
	logs      plog.Logs
	records   plog.LogRecordSlice
	items     []Item // the keys claimed, with their fingerprints
	conflicts int    // records marked gitlab.audit.id_conflict
}

// NewBatch starts a batch.
func (e *Emitter) NewBatch() *Batch {
	logs, records := e.core.records.newLogs()
	return &Batch{logs: logs, records: records}
}

// Len returns the number of records in the batch; a nil batch is empty.
func (b *Batch) Len() int {
	if b == nil {
		return 0
	}
	return len(b.items)
}

// Items returns the keys the batch claimed, in record order.
func (b *Batch) Items() []Item { return b.items }

// add moves an owned record into the batch; a record whose id was emitted
// with other content is marked.
func (b *Batch) add(cl Claim, fp auditlog.Fingerprint, lr plog.LogRecord) {
	if cl.conflict {
		lr.Attributes().PutBool(auditlog.AttrIDConflict, true)
		b.conflicts++
	}
	lr.MoveTo(b.records.AppendEmpty())
	b.items = append(b.items, Item{Key: cl.key, FP: fp})
}

// Abandon gives up a batch that will not be delivered (the caller failed
// before handing it over): its claims are released, so that a later poll
// or request emits its events. A nil batch is nothing to give up.
func (e *Emitter) Abandon(b *Batch) {
	if b.Len() > 0 {
		e.core.dedup.Release(b.items)
	}
}

// Offer claims one event for the batch. When owned, lr is moved into the
// batch (lr is then empty and may be reused); a duplicate is counted.
// Otherwise (in flight elsewhere, or the set full): deliver the batch
// first, then Wait on the claim, then offer the event again.
func (e *Emitter) Offer(counts *Counts, b *Batch, key string, lr plog.LogRecord) Claim {
	fp := auditlog.FingerprintOf(lr)
	cl := e.core.dedup.ClaimOne(Item{Key: key, FP: fp})
	switch cl.State {
	case ClaimOwned:
		b.add(cl, fp, lr)
	case ClaimDuplicate:
		counts.Duplicates++
		e.duplicate(key)
	}
	return cl
}

func (e *Emitter) duplicate(key string) {
	if e.core.watch != nil {
		e.core.watch.Duplicate(e.source, key)
	}
}

// Deliver hands the batch through the enrichment stage to the pipeline,
// and returns how many records the pipeline accepted: all of them, or
// none. Once accepted, accepted (may be nil) is called, then the events
// are committed, with the storage operations accepted returns (the
// poller's checkpoint) in the same transaction. When the pipeline refuses
// the batch, its events are released and the error is a PipelineError.
func (e *Emitter) Deliver(ctx context.Context, b *Batch, accepted func() []*storage.Operation) (int, error) {
	n := b.Len()
	if n == 0 {
		return 0, nil
	}
	c := e.core
	if c.enricher != nil {
		c.enricher.Enrich(ctx, b.records)
	}
	var watched func()
	if c.watch != nil {
		watched = c.watch.Delivering(e.source, b.items, b.records) // before the pipeline owns the records
	}
	opCtx := e.obs.StartLogsOp(ctx)
	err := c.next.ConsumeLogs(opCtx, b.logs)
	e.obs.EndLogsOp(opCtx, "json", n, err)
	if err != nil {
		c.dedup.Release(b.items)
		return 0, PipelineError{fmt.Errorf("the pipeline refused %d event(s): %w", n, err)}
	}
	metadata.AddWith(ctx, c.tel.GitlabAuditEventsEmitted, n, e.sourceAttr)
	var also []*storage.Operation
	if accepted != nil {
		also = accepted()
	}
	if watched != nil {
		watched()
	}
	expires := c.dedup.Commit(b.items)
	if c.store != nil {
		if err := c.store.Commit(ctx, b.items, expires, also...); err != nil {
			c.logger.Warn("Could not record emitted events in storage (de-duplication state, checkpoint); after a restart some of these events may be emitted again", zap.Error(err))
		}
	}
	if b.conflicts > 0 {
		metadata.Add(ctx, c.tel.GitlabAuditIDConflicts, b.conflicts, metadata.AttrSource, string(e.source))
		if c.conflictLogged.CompareAndSwap(false, true) {
			c.logger.Warn("An event id was delivered again with other content (created_at, author, entity or type); "+
				"it is emitted as a distinct event marked "+auditlog.AttrIDConflict+" (logged once; see otelcol_gitlab_audit_id_conflicts)",
				zap.String("source", string(e.source)))
		}
	}
	return n, nil
}

// Pending is an admitted event waiting for its de-duplication claim.
type Pending struct {
	Key    string
	Record plog.LogRecord
}

// EmitAll claims events, all at once, and hands the owned ones to the
// pipeline in one batch; duplicates are counted. Events that another
// delivery is emitting are waited for (at most wait) after this batch was
// handed over, then claimed again, so no two deliveries wait on each
// other. It returns how many events the pipeline accepted.
func (e *Emitter) EmitAll(ctx context.Context, counts *Counts, events []Pending, wait time.Duration) (accepted int, err error) {
	// A request holds one event (GitLab streams them one by one): its
	// item and claim stay on the stack.
	var itemBuf [1]Item
	var claimBuf [1]Claim
	for len(events) > 0 {
		items := itemBuf[:0]
		for _, ev := range events {
			items = append(items, Item{Key: ev.Key, FP: auditlog.FingerprintOf(ev.Record)})
		}
		claims := e.core.dedup.claimInto(claimBuf[:0], items)
		b := e.NewBatch()
		var waiting []Pending
		var waits []<-chan struct{}
		full := 0
		for i, c := range claims {
			switch c.State {
			case ClaimOwned:
				b.add(c, items[i].FP, events[i].Record)
			case ClaimDuplicate:
				counts.Duplicates++
				e.duplicate(items[i].Key)
			case ClaimInFlight:
				waiting = append(waiting, events[i])
				waits = append(waits, c.wait)
			case ClaimFull:
				full++
			}
		}
		n, err := e.Deliver(ctx, b, nil)
		accepted += n
		if err != nil {
			return accepted, err
		}
		if full > 0 {
			return accepted, fmt.Errorf("%d event(s) were not taken: the de-duplication set holds as many events in flight as it may (half of max_entries); send them again", full+len(waiting))
		}
		if len(waiting) == 0 {
			return accepted, nil
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		for _, ch := range waits {
			select {
			case <-ch:
			case <-wctx.Done():
				cancel()
				return accepted, fmt.Errorf("%d event(s) are still being delivered by another request; send them again", len(waiting))
			}
		}
		cancel()
		events = waiting
	}
	return accepted, nil
}

// PipelineError marks errors of the next consumer, as opposed to GitLab's.
type PipelineError struct{ error }

func (e PipelineError) Unwrap() error { return e.error }

// IsPipeline reports whether err is the pipeline's refusal.
func IsPipeline(err error) bool {
	var pe PipelineError
	return errors.As(err, &pe)
}
