// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package metadata

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The receiver's own metrics, declared in metadata.yaml (telemetry::metrics)
// and created here, in the shape of mdatagen's TelemetryBuilder (written by
// hand: mdatagen is not served here; TestTelemetryMatchesMetadata holds the
// two together). Prometheus adds _total to counters when it exposes them.
//
// Attribute keys of these metrics.
const (
	AttrFeed       = "feed"
	AttrStatusCode = "http.response.status_code"
	AttrReason     = "reason"
	AttrSource     = "source"
	AttrKind       = "kind"
	AttrStatus     = "status"
	AttrOrigin     = "origin"
	AttrResult     = "result"
	AttrClass      = "class"
	AttrAccess     = "access"
	AttrTokenID    = "token_id"
	AttrTokenName  = "token_name"
)

// TelemetryBuilder holds every instrument of the receiver.
type TelemetryBuilder struct {
	meter    metric.Meter
	declared []Declared

	mu            sync.Mutex
	registrations []metric.Registration

	GitlabAuditAPIRequests            metric.Int64Counter
	GitlabAuditAPIRateLimited         metric.Int64Counter
	GitlabAuditPollErrors             metric.Int64Counter
	GitlabAuditStreamRequestsRejected metric.Int64Counter
	GitlabAuditDuplicatesDropped      metric.Int64Counter
	GitlabAuditEventsFiltered         metric.Int64Counter
	GitlabAuditEventsInvalid          metric.Int64Counter
	GitlabAuditIDConflicts            metric.Int64Counter
	GitlabAuditEnrichmentLookups      metric.Int64Counter
	GitlabAuditStreamMissed           metric.Int64Counter
	GitlabAuditDiscoveryRuns          metric.Int64Counter
	GitlabAuditCheckpointLag          metric.Float64ObservableGauge
	GitlabAuditDedupEntries           metric.Int64ObservableGauge
	GitlabAuditDedupEvicted           metric.Int64ObservableCounter
	GitlabAuditClockSkewSeconds       metric.Float64ObservableGauge
	GitlabAuditPollSliceSeconds       metric.Float64ObservableGauge
	GitlabAuditFeeds                  metric.Int64ObservableGauge
	GitlabAuditFeedsCaughtUp          metric.Int64ObservableGauge
	GitlabAuditCatchupRemaining       metric.Float64ObservableGauge
	GitlabAuditFeedAccess             metric.Int64ObservableGauge
	GitlabAuditTokenExpirySeconds     metric.Float64ObservableGauge
	GitlabAuditStreamDestination      metric.Int64ObservableGauge
	GitlabAuditEventsEmitted          metric.Int64Counter
}

// Declared is one metric as the builder creates it, for the test that
// compares it with metadata.yaml.
type Declared struct {
	Name, Unit, Description string
	// Instrument is sum or gauge; Async is true for observable ones.
	Instrument string
	ValueType  string // int or double
	Monotonic  bool
	Async      bool
}

// Meter returns the receiver's meter.
func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// NewTelemetryBuilder creates every instrument of the receiver.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	b := &TelemetryBuilder{meter: Meter(settings)}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		b.declared = append(b.declared, Declared{Name: name, Unit: unit, Description: desc, Instrument: "sum", ValueType: "int", Monotonic: true})
		c, err := b.meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	intGauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		b.declared = append(b.declared, Declared{Name: name, Unit: unit, Description: desc, Instrument: "gauge", ValueType: "int", Async: true})
		g, err := b.meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	floatGauge := func(name, unit, desc string) metric.Float64ObservableGauge {
		b.declared = append(b.declared, Declared{Name: name, Unit: unit, Description: desc, Instrument: "gauge", ValueType: "double", Async: true})
		g, err := b.meter.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}

	b.GitlabAuditAPIRequests = counter("otelcol_gitlab_audit_api_requests", "{request}",
		"GitLab API requests, by class (audit_events, listings, lookups, access_check, destinations), feed (configured feeds by name, discovered ones folded per kind; or listing, lookup) and HTTP status (0: no answer: a timeout, a transport error, or the slower copy of a hedged request).")
	b.GitlabAuditAPIRateLimited = counter("otelcol_gitlab_audit_api_rate_limited", "{response}",
		"GitLab API answers 429 Too Many Requests, by class and feed (or listing, lookup): a 429 pauses only its class unless GitLab's throttle counts every request.")
	b.GitlabAuditPollErrors = counter("otelcol_gitlab_audit_poll_errors", "{poll}",
		"Polls that failed, by feed.")
	b.GitlabAuditStreamRequestsRejected = counter("otelcol_gitlab_audit_stream_requests_rejected", "{request}",
		"Streaming requests refused, by reason (auth, malformed, too_large, too_many_events, overloaded, method, pipeline_failure).")
	b.GitlabAuditDuplicatesDropped = counter("otelcol_gitlab_audit_duplicates_dropped", "{event}",
		"Events not emitted because they were already emitted, by source (poll, stream).")
	b.GitlabAuditEventsFiltered = counter("otelcol_gitlab_audit_events_filtered", "{event}",
		"Events dropped by the event_types filter, by source.")
	b.GitlabAuditEventsInvalid = counter("otelcol_gitlab_audit_events_invalid", "{event}",
		"Events that could not be decoded (no id, no created_at, malformed JSON), by source.")
	b.GitlabAuditIDConflicts = counter("otelcol_gitlab_audit_id_conflicts", "{event}",
		"Events emitted although their id was emitted before, because their content differs (marked gitlab.audit.id_conflict), by source.")
	b.GitlabAuditEnrichmentLookups = counter("otelcol_gitlab_audit_enrichment_lookups", "{record}",
		"Records enriched with a GitLab API lookup, by kind (personal_access_token, ci_variable, deploy_key, user, ...) and status (ok, not_found, forbidden, error, timeout, skipped).")
	b.GitlabAuditStreamMissed = counter("otelcol_gitlab_audit_stream_missed", "{event}",
		"Events polling emitted first although the stream delivers their kind, that the stream had not delivered 30 s after they were created.")
	b.GitlabAuditDiscoveryRuns = counter("otelcol_gitlab_audit_discovery_runs", "{run}",
		"Listings of the subgroups and projects of the configured groups, by result (ok, failed).")
	b.GitlabAuditCheckpointLag = floatGauge("otelcol_gitlab_audit_checkpoint_lag", "s",
		"How far each feed's checkpoint is behind now.")
	b.GitlabAuditDedupEntries = intGauge("otelcol_gitlab_audit_dedup_entries", "{event}",
		"Event ids remembered for de-duplication.")
	b.declared = append(b.declared, Declared{Name: "otelcol_gitlab_audit_dedup_evicted", Unit: "{event}", Instrument: "sum", ValueType: "int", Monotonic: true, Async: true,
		Description: "Event ids evicted from the de-duplication set before they expired, to keep it within max_entries: their redelivery would be emitted again."})
	evicted, err := b.meter.Int64ObservableCounter("otelcol_gitlab_audit_dedup_evicted", metric.WithUnit("{event}"),
		metric.WithDescription(b.declared[len(b.declared)-1].Description))
	errs = append(errs, err)
	b.GitlabAuditDedupEvicted = evicted
	b.GitlabAuditClockSkewSeconds = floatGauge("otelcol_gitlab_audit_clock_skew_seconds", "s",
		"GitLab's clock minus the collector's, measured from the Date header of GitLab's answers.")
	b.GitlabAuditPollSliceSeconds = floatGauge("otelcol_gitlab_audit_poll_slice_seconds", "s",
		"Length of the created_at time slices each feed is read in; shorter after failures, back to 30 days after successes.")
	b.GitlabAuditFeeds = intGauge("otelcol_gitlab_audit_feeds", "{feed}",
		"Feeds polled by this replica, by kind (instance, group, project) and origin (configured, discovered).")
	b.GitlabAuditFeedsCaughtUp = intGauge("otelcol_gitlab_audit_feeds_caught_up", "{feed}",
		"Feeds whose polls have reached the present (the others are still reading their backlog).")
	b.GitlabAuditCatchupRemaining = floatGauge("otelcol_gitlab_audit_catchup_remaining", "s",
		"Estimated time until every feed has caught up; 0 when all have.")
	b.GitlabAuditEventsEmitted = counter("otelcol_gitlab_audit_events_emitted", "{event}",
		"Events the pipeline accepted from the receiver, by source (poll, stream): each event once, whichever path brought it first.")
	b.GitlabAuditFeedAccess = intGauge("otelcol_gitlab_audit_feed_access", "{feed}",
		"Feeds by what the token sees in them (access: all_events, own_events, refused, unknown); discovered feeds folded per kind.")
	b.GitlabAuditTokenExpirySeconds = floatGauge("otelcol_gitlab_audit_token_expiry_seconds", "s",
		"Seconds until the token expires (negative once expired), by token id and name; absent when it never expires or cannot be read.")
	b.GitlabAuditStreamDestination = intGauge("otelcol_gitlab_audit_stream_destination", "{destination}",
		"1 for the state of the streaming destination that delivers to stream::public_url (status: found, not_found, inactive, unchecked).")
	return b, errors.Join(errs...)
}

// Declared returns the metrics the builder created.
func (b *TelemetryBuilder) Declared() []Declared { return b.declared }

// RegisterCallback registers cb to observe instruments at each collection,
// until Shutdown.
func (b *TelemetryBuilder) RegisterCallback(cb metric.Callback, instruments ...metric.Observable) error {
	reg, err := b.meter.RegisterCallback(cb, instruments...)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.registrations = append(b.registrations, reg)
	return nil
}

// Shutdown unregisters every callback.
func (b *TelemetryBuilder) Shutdown() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.registrations {
		_ = r.Unregister()
	}
	b.registrations = nil
}

// Add adds n (when positive) to a counter, with one attribute.
func Add(ctx context.Context, c metric.Int64Counter, n int, key, value string) {
	if n > 0 {
		c.Add(ctx, int64(n), metric.WithAttributes(attribute.String(key, value)))
	}
}

// Attribute is one attribute made once, for a counter added to on every
// request: Add makes its attribute set at each call. It is the options
// slice Add takes, so that passing it makes none either.
func Attribute(key, value string) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(key, value)))}
}

// AddWith adds n (when positive) to a counter, with attributes made by
// Attribute.
func AddWith(ctx context.Context, c metric.Int64Counter, n int, attrs []metric.AddOption) {
	if n > 0 {
		c.Add(ctx, int64(n), attrs...)
	}
}
