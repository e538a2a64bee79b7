// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/access"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/enrich"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/poll"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/stream"
)

// auditReceiver is the gitlab_audit receiver: it wires the paths together.
// A streamed event goes stream → emit; a polled page goes poll → emit;
// emit hands both through enrichment to the pipeline, once.
type auditReceiver struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Logs
	now  func() time.Time

	tel    *metadata.TelemetryBuilder
	status *statusTracker

	clock    *gitlabapi.Clock  // GitLab's clock, learnt from every answer
	api      *gitlabapi.Client // polls and lookups; nil without endpoint
	access   *access.Checker   // what the token sees; nil without api or when off
	enricher *enrich.Enricher
	watch    *stream.Watch // polling and streaming together
	core     *emit.Core    // what both paths share
	stream   *stream.Server
	dests    *stream.DestinationCheck // nil without api or stream
	poller   *poll.Poller

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) (*auditReceiver, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &auditReceiver{cfg: cfg, set: set, next: next, now: time.Now, tel: tel}, nil
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
	if p := r.poller; p != nil {
		r.wg.Go(func() { p.Run(runCtx) })
	}
	return nil
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
	advisePersistence(r.set.Logger, r.cfg)

	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.clock = gitlabapi.NewClock(r.now)
	polling, streaming := r.cfg.Collect.HasScopes(), r.cfg.Stream.HasValue()
	if polling || (r.cfg.enrichOn() && r.cfg.Endpoint != "") {
		if r.api, err = newAPIClient(ctx, host, r.cfg, r.set, r.tel, r.clock); err != nil {
			_ = closeStorage(ctx, client)
			return nil, err
		}
	}
	r.enricher = newEnricher(r.cfg, r.set.Logger, r.tel, r.api, r.now)
	if r.api != nil && r.cfg.AccessCheck.Enabled {
		r.access, err = access.New(access.Settings{
			Client: r.api, Telemetry: r.tel, Logger: r.set.Logger, Status: r.status.set,
			Label: feedLabels(r.cfg).Folded, ExpiryWarning: r.cfg.AccessCheck.TokenExpiryWarning,
		})
		if err != nil {
			_ = closeStorage(ctx, client)
			return nil, err
		}
	}

	set := emit.Settings{
		Next: r.next, MaxEntries: r.cfg.Dedup.MaxEntries, TTL: r.cfg.Dedup.TTL, Storage: client,
		EventTypes: emit.EventTypes{Include: r.cfg.EventTypes.Include, Exclude: r.cfg.EventTypes.Exclude},
		Enricher:   r.enricher, Telemetry: r.tel, Logger: r.set.Logger, Now: r.now,
		Version: r.set.BuildInfo.Version, ServerAddress: serverAddress(r.cfg.Endpoint),
	}
	if streaming && polling {
		r.watch = stream.NewWatch(r.clock, r.tel, r.set.Logger)
		set.Watcher = r.watch
	}
	if r.core, err = emit.NewCore(ctx, set); err != nil {
		return nil, err
	}

	if streaming {
		if err := r.startStream(ctx, host); err != nil {
			return nil, err
		}
		if r.api != nil {
			if r.dests, err = r.newDestinationCheck(); err != nil {
				return nil, err
			}
		}
	}
	if polling {
		if r.poller, err = r.newPoller(ctx); err != nil {
			return nil, err
		}
	}
	core, watch, acc, dests := r.core, r.watch, r.access, r.dests // Shutdown may give up waiting for these
	r.wg.Go(func() { core.RunCompaction(runCtx) })
	if watch != nil {
		r.wg.Go(func() { watch.Run(runCtx, r.cfg.PollInterval) })
	}
	if acc != nil {
		if r.poller == nil { // the poller checks its feeds; without one, the token alone
			r.wg.Go(func() { acc.Check(runCtx, nil) })
		}
		r.wg.Go(func() { acc.WatchExpiry(runCtx) })
	}
	if dests != nil {
		r.wg.Go(func() {
			if acc != nil { // the instance's destinations need to know whether the token is an administrator's
				select {
				case <-acc.Ready():
				case <-runCtx.Done():
					return
				}
			}
			dests.Run(runCtx)
		})
	}
	return runCtx, nil
}

// newDestinationCheck builds the check of the streaming destination that
// delivers to stream::public_url; it runs at start and every discovery
// interval.
func (r *auditReceiver) newDestinationCheck() (*stream.DestinationCheck, error) {
	acc := r.access
	return stream.NewDestinationCheck(stream.DestinationSettings{
		Client: r.api, PublicURL: r.cfg.Stream.Get().PublicURL, Groups: r.cfg.Collect.Groups,
		Admin: func() (bool, bool) {
			if acc == nil {
				return false, false
			}
			id := acc.Identity()
			return id.Admin, id.Known
		},
		Watch: r.watch, Interval: r.cfg.Collect.Discovery.Interval, Telemetry: r.tel, Logger: r.set.Logger,
	})
}

// startStream opens the audit event streaming endpoint.
func (r *auditReceiver) startStream(ctx context.Context, host component.Host) error {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: r.set.ID, Transport: "http", ReceiverCreateSettings: r.set,
	})
	if err != nil {
		return err
	}
	sc := r.cfg.Stream.Get()
	r.stream = stream.New(stream.Settings{
		Server: sc.ServerConfig, Path: sc.Path, HealthPath: sc.HealthPath,
		Tokens: sc.VerificationTokens, RequiredHeaders: sc.RequiredHeaders,
		Emitter: r.core.Emitter(auditlog.SourceStream, obs), Telemetry: r.tel, Logger: r.set.Logger,
		Fatal: r.status.fatal, Now: r.now,
	})
	return r.stream.Start(ctx, host, r.set.TelemetrySettings)
}

// newPoller builds the poller and loads the feeds' checkpoints.
func (r *auditReceiver) newPoller(ctx context.Context) (*poll.Poller, error) {
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
	c := r.cfg
	d := c.Collect.Discovery
	return poll.New(ctx, poll.Settings{
		Client: r.api, Emitter: r.core.Emitter(auditlog.SourcePoll, obs), Store: r.core.Store(), Access: r.access,
		Telemetry: r.tel, Logger: r.set.Logger, Status: r.status.set, Now: r.now,
		Feeds: c.Collect.feeds(), Groups: c.Collect.Groups, Projects: c.Collect.Projects,
		PollInterval: c.PollInterval, IdlePollInterval: c.IdlePollInterval, InitialLookback: c.InitialLookback,
		Overlap: c.Overlap, RequestsPerMinute: c.MaxRequestsPerMinute, Workers: c.MaxConcurrentRequests,
		Discovery: poll.Discovery{
			Enabled: d.Enabled, Subgroups: d.Subgroups, Projects: d.Projects, Archived: d.Archived,
			Interval: d.Interval, ForgetAfter: d.ForgetAfter, Exclude: d.Exclude,
		},
		Shard:  poll.Shard{Index: c.Collect.Shard.Index, Count: c.Collect.Shard.Count},
		Labels: feedLabels(c),
	})
}

// serverAddress is the GitLab host, for the resource of every record.
func serverAddress(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil && endpoint != "" {
		return u.Hostname()
	}
	return ""
}

// storage returns the configured storage extension's client; nil without
// storage.
func (r *auditReceiver) storage(ctx context.Context, host component.Host) (storage.Client, error) {
	if r.cfg.Storage == nil {
		return nil, nil
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

func closeStorage(ctx context.Context, c storage.Client) error {
	if c == nil {
		return nil
	}
	return c.Close(ctx)
}

// Shutdown stops accepting streamed events, stops polling, stores the
// de-duplication state and closes the storage client. It is safe to call
// without Start.
func (r *auditReceiver) Shutdown(ctx context.Context) error {
	var errs []error
	if r.stream != nil {
		if err := r.stream.Shutdown(ctx); err != nil {
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
	r.tel.Shutdown()
	if r.core != nil {
		if err := r.core.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		r.core = nil
	}
	return errors.Join(errs...)
}
