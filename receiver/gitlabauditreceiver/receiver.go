// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/enrich"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// stateCompactInterval is how often the state store drops expired
// segments when no segment closed in between.
const stateCompactInterval = 30 * time.Second

// auditReceiver is the gitlab_audit receiver: a poller, a stream endpoint,
// or both, sharing one de-duplication set.
type auditReceiver struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Logs
	now  func() time.Time

	tel     *telemetry
	dedup   *dedupCache
	filter  *typeFilter
	records *recordFactory
	status  *statusTracker

	storageClient storage.Client
	state         *stateStore // nil without a storage extension
	poller        *poller
	stream        *streamServer
	api           *gitlabapi.Client // polls and lookups; nil without endpoint
	enricher      *enrich.Enricher  // runs on every batch of both paths (enrich.go)
	clock         *gitlabapi.Clock  // GitLab's clock, learnt by the poller
	watch         *streamWatch      // polling and streaming together: see streamwatch.go

	cancel         context.CancelFunc
	wg             sync.WaitGroup
	conflictLogged atomic.Bool
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) (*auditReceiver, error) {
	r := &auditReceiver{
		cfg:    cfg,
		set:    set,
		next:   countEmitted(next),
		now:    time.Now,
		filter: newTypeFilter(cfg.EventTypes),
	}
	r.records = &recordFactory{version: set.BuildInfo.Version}
	if cfg.Endpoint != "" {
		if u, err := url.Parse(cfg.Endpoint); err == nil {
			r.records.serverAddress = u.Hostname()
		}
	}
	tel, err := newTelemetry(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r.tel = tel
	r.dedup = newDedupCache(cfg.Dedup.MaxEntries, cfg.Dedup.TTL, r.now)
	return r, nil
}

// Start resolves the storage extension, restores the state, opens the
// stream endpoint and starts polling. On error, whatever was started is
// stopped again.
func (r *auditReceiver) Start(ctx context.Context, host component.Host) (err error) {
	defer func() {
		if err != nil {
			_ = r.Shutdown(ctx)
		}
	}()
	runCtx, err := r.start(ctx, host)
	if err != nil {
		return err
	}
	r.startPolling(runCtx)
	return nil
}

// startPolling starts the scheduler that polls every feed, and discovery.
func (r *auditReceiver) startPolling(ctx context.Context) {
	if r.poller == nil {
		return
	}
	r.wg.Go(func() { r.poller.run(ctx) })
}

// start makes everything ready (state restored, stream endpoint open,
// poller built) but does not poll: it returns the context the poll loops
// run in.
func (r *auditReceiver) start(ctx context.Context, host component.Host) (context.Context, error) {
	r.status = newStatusTracker(host)
	client, err := r.storage(ctx, host)
	if err != nil {
		return nil, err
	}
	r.storageClient = client
	warnPersistence(r.set.Logger, r.cfg)
	if r.cfg.Storage != nil {
		r.state = newStateStore(client, r.set.Logger, r.now, r.cfg.Dedup.MaxEntries, r.cfg.Dedup.TTL)
		entries, lerr := r.state.load(ctx)
		if lerr != nil {
			r.set.Logger.Warn("Could not read all the stored de-duplication state; events delivered again may be emitted twice", zap.Error(lerr))
		}
		r.dedup.restore(entries)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.clock = gitlabapi.NewClock(r.now)
	if r.cfg.Stream.HasValue() && r.cfg.Collect.HasScopes() {
		r.watch = newStreamWatch(r.clock, streamGrace)
	}

	if err := r.startEnrich(ctx, host); err != nil {
		return nil, err
	}
	if r.cfg.Stream.HasValue() {
		obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
			ReceiverID: r.set.ID, Transport: "http", ReceiverCreateSettings: r.set,
		})
		if err != nil {
			return nil, err
		}
		r.stream = &streamServer{
			cfg: r.cfg.Stream.Get(), logger: r.set.Logger, emit: r.newEmitter(obs, auditlog.SourceStream),
			tel: r.tel, filter: r.filter, status: r.status, now: r.now,
		}
		r.stream.init()
		if err := r.stream.start(ctx, host, r.set.TelemetrySettings); err != nil {
			return nil, err
		}
	}

	if r.cfg.Collect.HasScopes() {
		p, err := r.newPoller(ctx)
		if err != nil {
			return nil, err
		}
		r.poller = p
		if err := r.tel.observePoller(r.set.TelemetrySettings, p); err != nil {
			return nil, err
		}
	}

	if err := r.tel.observe(r.set.TelemetrySettings, r.lag, r.dedup.Len, r.dedup.Evicted); err != nil {
		return nil, err
	}
	if r.state != nil {
		r.wg.Go(func() { r.compactLoop(runCtx) })
	}
	if r.watch != nil {
		r.wg.Go(func() { r.watchLoop(runCtx) })
	}
	return runCtx, nil
}

// newPoller builds the poller and loads the feeds' checkpoints.
func (r *auditReceiver) newPoller(ctx context.Context) (*poller, error) {
	base, err := url.Parse(r.cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: r.set.ID, Transport: base.Scheme, ReceiverCreateSettings: r.set,
	})
	if err != nil {
		return nil, err
	}
	api := r.api
	labels := newFeedLabels(r.cfg)
	p := &poller{
		cfg: r.cfg, logger: r.set.Logger, emit: r.newEmitter(obs, auditlog.SourcePoll), tel: r.tel,
		client: api, state: r.state, filter: r.filter, status: r.status, now: r.now,
		spillThreshold: defaultSpillThreshold, labels: labels,
	}
	p.sched = newScheduler(r.cfg.PollInterval, r.cfg.IdlePollInterval, r.cfg.MaxConcurrentRequests)
	p.sched.poll = p.pollOnce
	p.sched.stopped = p.removeFeed
	p.progress = newCatchUp(p)
	if r.cfg.Collect.Discovery.Enabled && len(r.cfg.Collect.Groups) > 0 {
		p.estate = newEstate(p)
	}
	if p.etel, err = newEstateTelemetry(r.set.TelemetrySettings, r.tel, p); err != nil {
		return nil, err
	}
	p.load(ctx)
	return p, nil
}

// newEmitter returns an emitter for one path (each path reports its own
// transport through obs); all share the de-duplication set.
func (r *auditReceiver) newEmitter(obs *receiverhelper.ObsReport, src auditlog.Source) *emitter {
	e := &emitter{
		next: r.next, obs: obs, dedup: r.dedup, state: r.state, records: r.records,
		tel: r.tel, logger: r.set.Logger, source: src, conflictLogged: &r.conflictLogged,
		watch: r.watch,
	}
	if r.enricher != nil {
		e.beforeConsume = r.enricher.Enrich
	}
	return e
}

// storage returns the configured storage extension's client, or a client
// that stores nothing.
func (r *auditReceiver) storage(ctx context.Context, host component.Host) (storage.Client, error) {
	if r.cfg.Storage == nil {
		return storage.NewNopClient(), nil
	}
	ext, ok := host.GetExtensions()[*r.cfg.Storage]
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not configured in the service's extensions", r.cfg.Storage)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not a storage extension", r.cfg.Storage)
	}
	client, err := se.GetClient(ctx, component.KindReceiver, r.set.ID, "")
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return client, nil
}

func (r *auditReceiver) lag(observe func(feed string, seconds float64)) {
	if r.poller != nil {
		r.poller.lag(observe)
	}
}

// compactLoop compacts the stored state when a segment closed, and every
// stateCompactInterval, off the commit path.
func (r *auditReceiver) compactLoop(ctx context.Context) {
	t := time.NewTicker(stateCompactInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.state.compactNow:
		}
		r.compact(ctx)
	}
}

func (r *auditReceiver) compact(ctx context.Context) {
	if r.state == nil {
		return
	}
	if err := r.state.compact(ctx); err != nil && ctx.Err() == nil {
		r.set.Logger.Warn("Could not compact the stored de-duplication state", zap.Error(err))
	}
}

// Shutdown stops accepting streamed events, stops polling, stores the
// de-duplication state and closes the storage client. It is safe to call
// without Start.
func (r *auditReceiver) Shutdown(ctx context.Context) error {
	var errs []error
	if r.stream != nil {
		if err := r.stream.shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if r.cancel != nil {
		r.cancel()
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("waiting for the pollers to stop: %w", ctx.Err()))
	}
	if r.enricher != nil {
		r.enricher.Shutdown() // stops the lookups still in flight
	}
	r.tel.shutdown()
	if r.storageClient != nil {
		r.compact(ctx)
		if err := r.storageClient.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		r.storageClient = nil
	}
	return errors.Join(errs...)
}
