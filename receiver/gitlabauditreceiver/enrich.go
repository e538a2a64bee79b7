// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/enrich"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// startEnrich builds the API client, when the receiver polls or enriches,
// and the enricher that the emitters of both paths run on each batch
// (see emitter.beforeConsume).
func (r *auditReceiver) startEnrich(ctx context.Context, host component.Host) error {
	on := r.cfg.enrichOn()
	if r.cfg.Collect.HasScopes() || (on && r.cfg.Endpoint != "") {
		api, err := r.newAPIClient(ctx, host)
		if err != nil {
			return err
		}
		r.api = api
	}
	s := enrich.Settings{
		Off: r.cfg.enrichOff(),
		Switches: enrich.Switches{
			PersonalAccessTokens: r.cfg.Enrich.Lookups.PersonalAccessTokens,
			ResourceAccessTokens: r.cfg.Enrich.Lookups.ResourceAccessTokens,
			CIVariables:          r.cfg.Enrich.Lookups.CIVariables,
			DeployKeys:           r.cfg.Enrich.Lookups.DeployKeys,
			DeployTokens:         r.cfg.Enrich.Lookups.DeployTokens,
			Authors:              r.cfg.Enrich.Lookups.Authors,
		},
		Timeout:      r.cfg.Enrich.Timeout,
		CacheEntries: r.cfg.Enrich.Cache.MaxEntries,
		CacheTTL:     r.cfg.Enrich.Cache.TTL,
		Logger:       r.set.Logger,
		Now:          r.now,
		Observe: func(kind enrich.Kind, status string) {
			r.tel.enrichLookup(context.Background(), string(kind), status)
		},
	}
	if on && r.api != nil {
		s.Client = r.api
		r.set.Logger.Info("Looking up the objects of security events in GitLab's API (enrichment)",
			zap.Duration("timeout", r.cfg.Enrich.Timeout), zap.Int("cache_entries", r.cfg.Enrich.Cache.MaxEntries))
	} else {
		fields := []zap.Field{}
		if r.cfg.Enrich.Enabled == nil {
			fields = append(fields, zap.String("what_to_do", "set endpoint and token (read_api) to look up CI/CD variables, tokens and deploy keys"))
		}
		r.set.Logger.Info("Not enriching security events: "+s.Off+"; their records carry gitlab.enrichment.status=skipped", fields...)
	}
	r.enricher = enrich.New(s)
	return nil
}

// newAPIClient returns the GitLab API client of the receiver: one request
// budget, concurrency limit and rate-limit pause for the polls and the
// lookups.
func (r *auditReceiver) newAPIClient(ctx context.Context, host component.Host) (*gitlabapi.Client, error) {
	httpClient, err := r.cfg.ToClient(ctx, host.GetExtensions(), r.set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("creating the GitLab API client: %w", err)
	}
	base, err := url.Parse(r.cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	base.Path = ""
	tel := r.tel
	labels := newFeedLabels(r.cfg) // discovered feeds folded unless per_feed_metrics
	return gitlabapi.New(gitlabapi.Options{
		HTTPClient:        httpClient,
		BaseURL:           base,
		Token:             string(r.cfg.Token),
		Bearer:            r.cfg.TokenType == TokenTypeBearer,
		PerPage:           r.cfg.PageSize,
		RequestsPerMinute: r.cfg.MaxRequestsPerMinute,
		MaxConcurrent:     r.cfg.MaxConcurrentRequests,
		BackOff:           r.cfg.BackOff,
		Logger:            r.set.Logger,
		Clock:             r.clock,
		OnResponse: func(f gitlabapi.Feed, status int) {
			tel.apiResponse(context.Background(), labels.of(f), status)
		},
		OnRateLimited: func(f gitlabapi.Feed, _ time.Duration) {
			tel.count(context.Background(), tel.rateLimited, 1, attrFeed, labels.of(f))
		},
	}), nil
}
