// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

// NewFactory returns the factory of the gitlab_audit receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithLogs(createLogs, metadata.LogsStability),
	)
}

// defaultStreamReadTimeout is the default stream.read_timeout and
// stream.read_header_timeout: well under the 8 seconds GitLab gives a
// whole delivery.
const defaultStreamReadTimeout = 5 * time.Second

// defaultTokenExpiryWarning: warn two weeks before the token expires.
const defaultTokenExpiryWarning = 14 * 24 * time.Hour

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = 30 * time.Second

	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = defaultStreamAddr
	server.MaxRequestBodySize = defaultMaxBodySize
	// GitLab gives a delivery 8 seconds in all; a sender that takes longer
	// to send its request only holds a connection and its buffer.
	server.ReadHeaderTimeout = defaultStreamReadTimeout
	server.ReadTimeout = defaultStreamReadTimeout

	backOff := configretry.NewDefaultBackOffConfig()
	backOff.MaxElapsedTime = 2 * time.Minute

	return &Config{
		ClientConfig:          client,
		TokenType:             TokenTypePrivate,
		PollInterval:          60 * time.Second,
		IdlePollInterval:      defaultIdlePollInterval,
		Collect:               CollectConfig{Discovery: defaultDiscoveryConfig()},
		InitialLookback:       24 * time.Hour,
		Overlap:               10 * time.Minute,
		PageSize:              maxPageSize,
		MaxConcurrentRequests: 4,
		BackOff:               backOff,
		Dedup: DedupConfig{
			MaxEntries: 100_000,
			TTL:        time.Hour,
		},
		Stream: configoptional.Default(StreamConfig{
			ServerConfig: server,
			Path:         defaultStreamPath,
			HealthPath:   defaultHealthPath,
		}),
		Enrich:      defaultEnrichConfig(),
		AccessCheck: AccessCheckConfig{Enabled: true, TokenExpiryWarning: defaultTokenExpiryWarning},
	}
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return newReceiver(cfg.(*Config), set, next)
}
