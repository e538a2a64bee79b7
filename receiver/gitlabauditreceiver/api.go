// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

// newAPIClient returns the GitLab API client of the receiver: one request
// budget, concurrency limit and rate-limit pause for the polls, the
// listings and the lookups, on GitLab's clock.
func newAPIClient(ctx context.Context, host component.Host, cfg *Config, set receiver.Settings, tel *metadata.TelemetryBuilder, clock *gitlabapi.Clock) (*gitlabapi.Client, error) {
	httpClient, err := cfg.ToClient(ctx, host.GetExtensions(), set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("creating the GitLab API client: %w", err)
	}
	base, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	base.Path = ""
	labels := feedLabels(cfg)
	label := func(t gitlabapi.Target) string {
		switch t.Class {
		case gitlabapi.ClassAuditEvents:
			return labels.Folded(t.Feed)
		case gitlabapi.ClassAccessCheck, gitlabapi.ClassDestinations:
			return string(t.Class) + ":" + t.Name // one series per kind of check, not per feed or group
		}
		return t.String()
	}
	return gitlabapi.New(gitlabapi.Options{
		HTTPClient:        httpClient,
		BaseURL:           base,
		Token:             string(cfg.Token),
		Bearer:            cfg.TokenType == TokenTypeBearer,
		PerPage:           cfg.PageSize,
		RequestsPerMinute: cfg.MaxRequestsPerMinute,
		MaxConcurrent:     cfg.MaxConcurrentRequests,
		BackOff:           cfg.BackOff,
		Logger:            set.Logger,
		Clock:             clock,
		OnResponse: func(t gitlabapi.Target, status int) {
			tel.GitlabAuditAPIRequests.Add(context.Background(), 1, metric.WithAttributes(attribute.String(metadata.AttrClass, string(t.Class)),
				attribute.String(metadata.AttrFeed, label(t)), attribute.Int(metadata.AttrStatusCode, status)))
		},
		OnRateLimited: func(t gitlabapi.Target, _ time.Duration) {
			tel.GitlabAuditAPIRateLimited.Add(context.Background(), 1, metric.WithAttributes(attribute.String(metadata.AttrClass, string(t.Class)),
				attribute.String(metadata.AttrFeed, label(t))))
		},
	}), nil
}
