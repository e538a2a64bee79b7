// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

// Self-observability metric names, as exposed by the collector's own
// telemetry (Prometheus adds _total to counters).
const (
	metricAPIRequests     = "otelcol_gitlab_audit_api_requests"
	metricRateLimited     = "otelcol_gitlab_audit_api_rate_limited"
	metricPollErrors      = "otelcol_gitlab_audit_poll_errors"
	metricCheckpointLag   = "otelcol_gitlab_audit_checkpoint_lag"
	metricStreamRejected  = "otelcol_gitlab_audit_stream_requests_rejected"
	metricDuplicates      = "otelcol_gitlab_audit_duplicates_dropped"
	metricFiltered        = "otelcol_gitlab_audit_events_filtered"
	metricInvalid         = "otelcol_gitlab_audit_events_invalid"
	metricDedupEntries    = "otelcol_gitlab_audit_dedup_entries"
	metricDedupEvicted    = "otelcol_gitlab_audit_dedup_evicted"
	metricIDConflicts     = "otelcol_gitlab_audit_id_conflicts"
	metricEnrichLookups   = "otelcol_gitlab_audit_enrichment_lookups"
	attrKind              = "kind"
	attrStatus            = "status"
	metricClockSkew       = "otelcol_gitlab_audit_clock_skew_seconds"
	metricPollSlice       = "otelcol_gitlab_audit_poll_slice_seconds"
	metricStreamMissed    = "otelcol_gitlab_audit_stream_missed"
	attrFeed              = "feed"
	attrStatusCode        = "http.response.status_code"
	attrReason            = "reason"
	attrSource            = "source"
	reasonAuth            = "auth"
	reasonMalformed       = "malformed"
	reasonTooLarge        = "too_large"
	reasonOverloaded      = "overloaded"
	reasonMethod          = "method"
	reasonPipelineFailure = "pipeline_failure"
	reasonTooManyEvents   = "too_many_events"
)

// telemetry holds the receiver's own metrics.
type telemetry struct {
	apiRequests    metric.Int64Counter
	rateLimited    metric.Int64Counter
	pollErrors     metric.Int64Counter
	streamRejected metric.Int64Counter
	duplicates     metric.Int64Counter
	filtered       metric.Int64Counter
	invalid        metric.Int64Counter
	idConflicts    metric.Int64Counter
	enrichLookups  metric.Int64Counter
	lag            metric.Float64ObservableGauge
	dedupEntries   metric.Int64ObservableGauge
	dedupEvicted   metric.Int64ObservableCounter
	clockSkew      metric.Float64ObservableGauge
	pollSlice      metric.Float64ObservableGauge
	streamMissed   metric.Int64Counter
	registrations  []metric.Registration
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter(metadata.ScopeName)
	t := &telemetry{}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	t.apiRequests, err = m.Int64Counter(metricAPIRequests, metric.WithUnit("{request}"),
		metric.WithDescription("GitLab API requests made by the poller, by feed and HTTP status (0: no answer)."))
	add(err)
	t.rateLimited, err = m.Int64Counter(metricRateLimited, metric.WithUnit("{response}"),
		metric.WithDescription("GitLab API answers 429 Too Many Requests, by feed."))
	add(err)
	t.pollErrors, err = m.Int64Counter(metricPollErrors, metric.WithUnit("{poll}"),
		metric.WithDescription("Polls that failed, by feed and reason."))
	add(err)
	t.streamRejected, err = m.Int64Counter(metricStreamRejected, metric.WithUnit("{request}"),
		metric.WithDescription("Streaming requests refused, by reason (auth, malformed, too_large, too_many_events, overloaded, method)."))
	add(err)
	t.duplicates, err = m.Int64Counter(metricDuplicates, metric.WithUnit("{event}"),
		metric.WithDescription("Events not emitted because they were already emitted, by source (poll, stream)."))
	add(err)
	t.filtered, err = m.Int64Counter(metricFiltered, metric.WithUnit("{event}"),
		metric.WithDescription("Events dropped by the event_types filter, by source."))
	add(err)
	t.invalid, err = m.Int64Counter(metricInvalid, metric.WithUnit("{event}"),
		metric.WithDescription("Events that could not be decoded (no id, no created_at, malformed JSON), by source."))
	add(err)
	t.idConflicts, err = m.Int64Counter(metricIDConflicts, metric.WithUnit("{event}"),
		metric.WithDescription("Events emitted although their id was emitted before, because their content differs (marked gitlab.audit.id_conflict), by source."))
	add(err)
	t.dedupEvicted, err = m.Int64ObservableCounter(metricDedupEvicted, metric.WithUnit("{event}"),
		metric.WithDescription("Event ids evicted from the de-duplication set before they expired, to keep it within max_entries: their redelivery would be emitted again."))
	add(err)
	t.enrichLookups, err = m.Int64Counter(metricEnrichLookups, metric.WithUnit("{record}"),
		metric.WithDescription("Records enriched with a GitLab API lookup, by kind (personal_access_token, ci_variable, deploy_key, user, ...) and status (ok, not_found, forbidden, error, timeout, skipped)."))
	add(err)
	t.lag, err = m.Float64ObservableGauge(metricCheckpointLag, metric.WithUnit("s"),
		metric.WithDescription("How far each feed's checkpoint is behind now."))
	add(err)
	t.dedupEntries, err = m.Int64ObservableGauge(metricDedupEntries, metric.WithUnit("{event}"),
		metric.WithDescription("Event ids remembered for de-duplication."))
	add(err)
	t.clockSkew, err = m.Float64ObservableGauge(metricClockSkew, metric.WithUnit("s"),
		metric.WithDescription("GitLab's clock minus the collector's, measured from the Date header of GitLab's answers."))
	add(err)
	t.pollSlice, err = m.Float64ObservableGauge(metricPollSlice, metric.WithUnit("s"),
		metric.WithDescription("Length of the created_at time slices each feed is read in; shorter after failures, back to 30 days after successes."))
	add(err)
	t.streamMissed, err = m.Int64Counter(metricStreamMissed, metric.WithUnit("{event}"),
		metric.WithDescription("Events polling emitted first although the stream delivers their kind, that the stream had not delivered 30 s after they were created."))
	add(err)
	return t, errors.Join(errs...)
}

// observePoller registers the callback of the poller's gauges.
func (t *telemetry) observePoller(set component.TelemetrySettings, p *poller) error {
	m := set.MeterProvider.Meter(metadata.ScopeName)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		p.clockSkew(func(seconds float64) { o.ObserveFloat64(t.clockSkew, seconds) })
		p.slices(func(feed string, seconds float64) {
			o.ObserveFloat64(t.pollSlice, seconds, metric.WithAttributes(attribute.String(attrFeed, feed)))
		})
		return nil
	}, t.clockSkew, t.pollSlice)
	if err != nil {
		return err
	}
	t.registrations = append(t.registrations, reg)
	return nil
}

// observe registers the callbacks of the gauges.
func (t *telemetry) observe(set component.TelemetrySettings, lag func(func(feed string, seconds float64)), dedupLen func() int, dedupEvicted func() int64) error {
	m := set.MeterProvider.Meter(metadata.ScopeName)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		lag(func(feed string, seconds float64) {
			o.ObserveFloat64(t.lag, seconds, metric.WithAttributes(attribute.String(attrFeed, feed)))
		})
		o.ObserveInt64(t.dedupEntries, int64(dedupLen()))
		o.ObserveInt64(t.dedupEvicted, dedupEvicted())
		return nil
	}, t.lag, t.dedupEntries, t.dedupEvicted)
	if err != nil {
		return err
	}
	t.registrations = append(t.registrations, reg)
	return nil
}

func (t *telemetry) shutdown() {
	for _, r := range t.registrations {
		_ = r.Unregister()
	}
	t.registrations = nil
}

func (t *telemetry) apiResponse(ctx context.Context, feed string, status int) {
	t.apiRequests.Add(ctx, 1, metric.WithAttributes(attribute.String(attrFeed, feed), attribute.Int(attrStatusCode, status)))
}

func (t *telemetry) enrichLookup(ctx context.Context, kind, status string) {
	t.enrichLookups.Add(ctx, 1, metric.WithAttributes(attribute.String(attrKind, kind), attribute.String(attrStatus, status)))
}

func (t *telemetry) count(ctx context.Context, c metric.Int64Counter, n int, key, value string) {
	if n > 0 {
		c.Add(ctx, int64(n), metric.WithAttributes(attribute.String(key, value)))
	}
}
