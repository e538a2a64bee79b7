// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnrichConfig(t *testing.T) {
	def := createDefaultConfig().(*Config)
	assert.Nil(t, def.Enrich.Enabled, "on when endpoint and token are set")
	assert.Equal(t, 3*time.Second, def.Enrich.Timeout)
	assert.Equal(t, EnrichLookupsConfig{PersonalAccessTokens: true, ResourceAccessTokens: true, CIVariables: true, DeployKeys: true, DeployTokens: true, Authors: true}, def.Enrich.Lookups)
	assert.Equal(t, EnrichCacheConfig{MaxEntries: 10_000, TTL: 10 * time.Minute}, def.Enrich.Cache)
	assert.False(t, def.enrichOn(), "no endpoint, no token")

	cfg, err := loadConfig(t, "enrich")
	require.NoError(t, err)
	assert.True(t, cfg.enrichOn())
	assert.Equal(t, 2*time.Second, cfg.Enrich.Timeout)
	assert.False(t, cfg.Enrich.Lookups.Authors)
	assert.False(t, cfg.Enrich.Lookups.DeployKeys)
	assert.True(t, cfg.Enrich.Lookups.CIVariables)
	assert.Equal(t, EnrichCacheConfig{MaxEntries: 500, TTL: 30 * time.Minute}, cfg.Enrich.Cache)

	cfg, err = loadConfig(t, "enrich_stream_only")
	require.NoError(t, err)
	assert.True(t, cfg.enrichOn(), "a stream-only receiver with endpoint and token enriches")

	cfg, err = loadConfig(t, "stream_only")
	require.NoError(t, err)
	assert.False(t, cfg.enrichOn(), "a stream-only receiver without a token does not")
	assert.Contains(t, cfg.enrichOff(), "set endpoint and token")

	off := false
	cfg.Enrich.Enabled = &off
	assert.Contains(t, cfg.enrichOff(), "enrich::enabled: false")
}

func TestEnrichConfigInvalid(t *testing.T) {
	_, err := loadConfig(t, "enrich_invalid")
	require.Error(t, err)
	for _, want := range []string{
		"enrich::enabled: the lookups need endpoint and token",
		"enrich::timeout: 6s is outside (0, 5s]: streamed events are answered within GitLab's 8-second deadline",
		"enrich::cache::max_entries: must be at least 1, got 0",
		"enrich::cache::ttl: must be positive, got 0s",
	} {
		require.ErrorContains(t, err, want)
	}
	_, err = loadConfig(t, "enrich_bad_endpoint")
	assert.ErrorContains(t, err, "endpoint: \"https://gitlab.example.com/gitlab\" must be the GitLab base URL without a path")
}
