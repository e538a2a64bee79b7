// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"fmt"
	"time"
)

// Enrichment defaults and limits.
const (
	defaultEnrichTimeout    = 3 * time.Second
	defaultEnrichCacheSize  = 10_000
	defaultEnrichCacheTTL   = 10 * time.Minute
	maxEnrichTimeoutStream  = 5 * time.Second // GitLab abandons a streaming request after 8 s
	maxEnrichTimeoutPolling = time.Minute
)

// EnrichConfig configures the lookups of the objects events name (the
// token, the CI/CD variable, the deploy key or token) and of their authors.
type EnrichConfig struct {
	// Enabled turns the lookups on or off. Unset, they are on when endpoint
	// and token (or auth) are set.
	Enabled *bool `mapstructure:"enabled"`
	// Timeout bounds how long a batch of events waits for its lookups; a
	// lookup not answered by then leaves the status "timeout".
	Timeout time.Duration `mapstructure:"timeout"`
	// Lookups switches each kind of lookup on or off.
	Lookups EnrichLookupsConfig `mapstructure:"lookups"`
	// Cache sizes the cache of lookup results.
	Cache EnrichCacheConfig `mapstructure:"cache"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// EnrichLookupsConfig switches the kinds of lookup.
type EnrichLookupsConfig struct {
	// PersonalAccessTokens looks up the token of personal_access_token_created.
	PersonalAccessTokens bool `mapstructure:"personal_access_tokens"`
	// ResourceAccessTokens looks up the token of project_ and group_access_token_created.
	ResourceAccessTokens bool `mapstructure:"resource_access_tokens"`
	// CIVariables looks up the variable of ci_*variable_created and _updated.
	CIVariables bool `mapstructure:"ci_variables"`
	// DeployKeys looks up the key of deploy_key_added.
	DeployKeys bool `mapstructure:"deploy_keys"`
	// DeployTokens looks up the token of deploy_token_created and group_deploy_token_created.
	DeployTokens bool `mapstructure:"deploy_tokens"`
	// Authors looks up every author with a user id (GET /users/:id: bot or human).
	Authors bool `mapstructure:"authors"`
}

// EnrichCacheConfig bounds the cache of lookup results.
type EnrichCacheConfig struct {
	// MaxEntries bounds the number of objects remembered.
	MaxEntries int `mapstructure:"max_entries"`
	// TTL is how long a result serves later events about the same object.
	TTL time.Duration `mapstructure:"ttl"`
}

func defaultEnrichConfig() EnrichConfig {
	return EnrichConfig{
		Timeout: defaultEnrichTimeout,
		Lookups: EnrichLookupsConfig{
			PersonalAccessTokens: true, ResourceAccessTokens: true, CIVariables: true,
			DeployKeys: true, DeployTokens: true, Authors: true,
		},
		Cache: EnrichCacheConfig{MaxEntries: defaultEnrichCacheSize, TTL: defaultEnrichCacheTTL},
	}
}

// hasCredentials reports whether the receiver can call GitLab's API.
func (cfg *Config) hasCredentials() bool {
	return cfg.Endpoint != "" && (cfg.Token != "" || cfg.Auth.HasValue())
}

// enrichOn reports whether lookups are made: enrich::enabled, or by
// default when endpoint and token are set.
func (cfg *Config) enrichOn() bool {
	if cfg.Enrich.Enabled != nil {
		return *cfg.Enrich.Enabled
	}
	return cfg.hasCredentials()
}

// enrichOff says why lookups are not made, for the status "skipped".
func (cfg *Config) enrichOff() string {
	if cfg.Enrich.Enabled != nil && !*cfg.Enrich.Enabled {
		return "enrichment is off (enrich::enabled: false)"
	}
	return "enrichment needs GitLab's API: set endpoint and token"
}

func (cfg *Config) validateEnrich() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	e := cfg.Enrich
	if e.Enabled != nil && *e.Enabled && !cfg.hasCredentials() {
		add("enrich::enabled: the lookups need endpoint and token (an access token with the read_api scope)")
	}
	limit := maxEnrichTimeoutPolling
	if cfg.Stream.HasValue() {
		limit = maxEnrichTimeoutStream
	}
	if e.Timeout <= 0 || e.Timeout > limit {
		why := ""
		if cfg.Stream.HasValue() {
			why = ": streamed events are answered within GitLab's 8-second deadline"
		}
		add("enrich::timeout: %s is outside (0, %s]%s", e.Timeout, limit, why)
	}
	if e.Cache.MaxEntries < 1 {
		add("enrich::cache::max_entries: must be at least 1, got %d", e.Cache.MaxEntries)
	}
	if e.Cache.TTL <= 0 {
		add("enrich::cache::ttl: must be positive, got %s", e.Cache.TTL)
	}
	return errs
}
