// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return cfg, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, TokenTypePrivate, cfg.TokenType)
	assert.Equal(t, 60*time.Second, cfg.PollInterval)
	assert.Equal(t, 24*time.Hour, cfg.InitialLookback)
	assert.Equal(t, 10*time.Minute, cfg.Overlap)
	assert.Equal(t, 100, cfg.PageSize)
	assert.Equal(t, 0, cfg.MaxRequestsPerMinute)
	assert.Equal(t, 4, cfg.MaxConcurrentRequests)
	assert.Equal(t, 30*time.Second, cfg.Timeout)
	assert.True(t, cfg.BackOff.Enabled)
	assert.Equal(t, 2*time.Minute, cfg.BackOff.MaxElapsedTime)
	assert.Equal(t, 100_000, cfg.Dedup.MaxEntries)
	assert.Equal(t, time.Hour, cfg.Dedup.TTL)
	assert.False(t, cfg.Stream.HasValue(), "streaming is off unless configured")
	assert.Nil(t, cfg.Storage)
	// The empty default config collects nothing, and says so.
	require.ErrorContains(t, confmap.Validate(cfg), "nothing to collect")
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(t, "defaults")
	require.NoError(t, err)
	assert.Equal(t, "https://gitlab.example.com", cfg.Endpoint)
	assert.Equal(t, configopaque.String("glpat-example"), cfg.Token)
	assert.True(t, cfg.Collect.Instance)
	assert.False(t, cfg.Stream.HasValue())

	cfg, err = loadConfig(t, "full")
	require.NoError(t, err)
	assert.Equal(t, TokenTypeBearer, cfg.TokenType)
	assert.Equal(t, 20*time.Second, cfg.Timeout)
	assert.Equal(t, "/etc/ssl/gitlab-ca.pem", cfg.TLS.CAFile)
	assert.Equal(t, 5*time.Minute, cfg.PollInterval)
	assert.Equal(t, 720*time.Hour, cfg.InitialLookback)
	assert.Equal(t, 15*time.Minute, cfg.Overlap)
	assert.Equal(t, 50, cfg.PageSize)
	assert.Equal(t, 600, cfg.MaxRequestsPerMinute)
	assert.Equal(t, 2, cfg.MaxConcurrentRequests)
	assert.Equal(t, CollectConfig{Instance: true, Groups: []string{"acme", "42", "acme/platform"}, Projects: []string{"acme/platform/api", "1234"},
		Discovery: defaultDiscoveryConfig()}, cfg.Collect)
	assert.Equal(t, []string{"repository_git_operation", "comment_*"}, cfg.EventTypes.Exclude)
	require.NotNil(t, cfg.Storage)
	assert.Equal(t, component.MustNewID("file_storage"), *cfg.Storage)
	assert.Equal(t, 10*time.Minute, cfg.BackOff.MaxElapsedTime)
	assert.Equal(t, DedupConfig{MaxEntries: 50000, TTL: 2 * time.Hour}, cfg.Dedup)
	require.True(t, cfg.Stream.HasValue())
	s := cfg.Stream.Get()
	assert.Equal(t, "0.0.0.0:8443", s.NetAddr.Endpoint)
	assert.Equal(t, "/webhook/gitlab-audit", s.Path)
	assert.Equal(t, "/healthz", s.HealthPath)
	assert.Equal(t, []configopaque.String{"token-a", "token-b"}, s.VerificationTokens)
	assert.Equal(t, map[string]configopaque.String{"X-Kyra-Tenant": "acme"}, s.RequiredHeaders)
	assert.Equal(t, int64(1048576), s.MaxRequestBodySize)

	cfg, err = loadConfig(t, "stream_only")
	require.NoError(t, err)
	require.True(t, cfg.Stream.HasValue())
	s = cfg.Stream.Get()
	assert.Equal(t, "localhost:8443", s.NetAddr.Endpoint, "stream defaults apply to a partial section")
	assert.Equal(t, "/webhook/gitlab-audit", s.Path)
	assert.Equal(t, "/health", s.HealthPath)
	assert.Equal(t, int64(10<<20), s.MaxRequestBodySize)
	assert.Empty(t, cfg.Endpoint, "no endpoint is needed to only listen")
}

func TestConfigValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"nothing", []string{"nothing to collect"}},
		{"invalid", []string{
			`endpoint: "https://gitlab.example.com/gitlab" must be the GitLab base URL without a path`,
			`token: missing`,
			`token_type: "oauth" is not`,
			`poll_interval: 5s is below the minimum of 10s`,
			`initial_lookback: must be positive`,
			`overlap: must not be negative`,
			`page_size: 101 is outside 1..100`,
			`max_requests_per_minute: must not be negative`,
			`max_concurrent_requests: must be at least 1`,
			`collect::groups::0: empty entry`,
			`collect::groups::1: " spaced" has surrounding spaces`,
			`collect::groups::3: "acme" is listed twice`,
			`collect::groups::4: "bad path!" is neither a numeric id nor a full path`,
			`collect::groups::5: "/leading" is neither`,
			`collect::groups::6: "007" is not a valid id`,
			`collect::projects::0: "a//b" is neither`,
			`event_types::include::0: "[unclosed" is not a valid pattern`,
			`event_types::exclude::0: empty pattern`,
			`dedup::max_entries: must be at least 1`,
			`dedup::ttl: must be positive`,
			`stream::endpoint: missing`,
			`stream::path: "webhook" must start with /`,
			`stream::health_path: "webhook" must start with /`,
			`stream::verification_tokens: missing`,
			`stream::required_headers: "Bad Header" is not a valid header name`,
			`stream::required_headers: "X-Gitlab-Event-Streaming-Token" is the verification token header`,
			`stream::required_headers: "X-Empty" has an empty value`,
		}},
		{"no_endpoint", []string{"endpoint: missing"}},
		{"bad_scheme", []string{`endpoint: "ftp://gitlab.example.com" must start with https://`}},
		{"no_host", []string{`endpoint: "https://" has no host`}},
		{"no_token", []string{"token: missing"}},
		{"stream_no_token", []string{"stream::verification_tokens: missing", "auth"}},
		{"stream_empty_token", []string{"stream::verification_tokens::0: empty token"}},
		{"collect_unknown_key", []string{`collect: unknown key "users"`}},
		{"collect_bad_list", []string{"collect::groups: expected a list"}},
		{"collect_float", []string{"collect::groups::0: 1.5 is not an id"}},
		{"estate_invalid", []string{
			"collect::discovery::interval: 10s is below the minimum of 1m0s",
			"collect::discovery: subgroups and projects are both false",
			"collect::discovery::exclude::0: empty pattern",
			`collect::discovery::exclude::1: "/acme/x" must be a full path pattern`,
			"collect::shard::index: 3 is outside 0..2",
			"idle_poll_interval: 30s must not be shorter than poll_interval (1m0s)",
		}},
		{"shard_bad_index", []string{"collect::shard::index: expected a shard number or a StatefulSet pod name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(t, tt.name)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			if tt.name == "invalid" {
				assert.Len(t, strings.Split(err.Error(), "\n"), len(tt.want), "one line per problem:\n%s", err)
			}
		})
	}
}

func TestLoadEstateConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, 5*time.Minute, cfg.IdlePollInterval)
	assert.False(t, cfg.PerFeedMetrics)
	assert.Equal(t, DiscoveryConfig{Enabled: true, Subgroups: true, Projects: true, Interval: time.Hour, Archived: true, ForgetAfter: 7 * 24 * time.Hour}, cfg.Collect.Discovery)

	cfg, err := loadConfig(t, "estate")
	require.NoError(t, err)
	assert.Equal(t, 10*time.Minute, cfg.IdlePollInterval)
	assert.True(t, cfg.PerFeedMetrics)
	assert.Equal(t, DiscoveryConfig{Enabled: true, Subgroups: false, Projects: true, Interval: 30 * time.Minute,
		Exclude: []string{"acme/sandbox/**", "**/archive-*"}, Archived: false, ForgetAfter: 7 * 24 * time.Hour}, cfg.Collect.Discovery)
	assert.Equal(t, ShardConfig{Index: 2, Count: 3}, cfg.Collect.Shard, "the ordinal of a StatefulSet pod name")
}

func TestSecretsAreOpaque(t *testing.T) {
	cfg, err := loadConfig(t, "full")
	require.NoError(t, err)
	conf := confmap.New()
	require.NoError(t, conf.Marshal(cfg))
	out := conf.ToStringMap()
	assert.Equal(t, "[REDACTED]", out["token"])
	stream := out["stream"].(map[string]any)
	assert.Equal(t, []any{"[REDACTED]", "[REDACTED]"}, stream["verification_tokens"])
}

func TestDefaultConfigBoundsStreamReads(t *testing.T) {
	s := createDefaultConfig().(*Config).Stream.GetOrInsertDefault()
	assert.Equal(t, defaultStreamReadTimeout, s.ReadTimeout)
	assert.Equal(t, defaultStreamReadTimeout, s.ReadHeaderTimeout)
	for _, d := range []time.Duration{s.ReadTimeout, s.ReadHeaderTimeout} {
		assert.Positive(t, d)
		assert.Less(t, d, 8*time.Second, "GitLab gives a whole delivery 8 seconds")
	}
}
