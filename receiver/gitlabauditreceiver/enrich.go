// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/enrich"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

// newEnricher returns the enrichment stage both paths' batches go
// through (emit.Enricher), looking objects up through the API client when
// enrichment is on; off, it marks records gitlab.enrichment.status=skipped.
func newEnricher(cfg *Config, logger *zap.Logger, tel *metadata.TelemetryBuilder, api *gitlabapi.Client, now func() time.Time) *enrich.Enricher {
	on := cfg.enrichOn()
	s := enrich.Settings{
		Off: cfg.enrichOff(),
		Switches: enrich.Switches{
			PersonalAccessTokens: cfg.Enrich.Lookups.PersonalAccessTokens,
			ResourceAccessTokens: cfg.Enrich.Lookups.ResourceAccessTokens,
			CIVariables:          cfg.Enrich.Lookups.CIVariables,
			DeployKeys:           cfg.Enrich.Lookups.DeployKeys,
			DeployTokens:         cfg.Enrich.Lookups.DeployTokens,
			Authors:              cfg.Enrich.Lookups.Authors,
		},
		Timeout:      cfg.Enrich.Timeout,
		CacheEntries: cfg.Enrich.Cache.MaxEntries,
		CacheTTL:     cfg.Enrich.Cache.TTL,
		Logger:       logger,
		Now:          now,
		Observe: func(kind enrich.Kind, status string) {
			tel.GitlabAuditEnrichmentLookups.Add(context.Background(), 1, metric.WithAttributes(
				attribute.String(metadata.AttrKind, string(kind)), attribute.String(metadata.AttrStatus, status)))
		},
	}
	if on && api != nil {
		s.Client = api
		logger.Info("Looking up the objects of security events in GitLab's API (enrichment)",
			zap.Duration("timeout", cfg.Enrich.Timeout), zap.Int("cache_entries", cfg.Enrich.Cache.MaxEntries))
	} else {
		fields := []zap.Field{}
		if cfg.Enrich.Enabled == nil {
			fields = append(fields, zap.String("what_to_do", "set endpoint and token (read_api) to look up CI/CD variables, tokens and deploy keys"))
		}
		logger.Info("Not enriching security events: "+s.Off+"; their records carry gitlab.enrichment.status=skipped", fields...)
	}
	return enrich.New(s)
}
