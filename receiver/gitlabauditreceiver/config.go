// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/poll"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/stream"
)

// Token types: how the token is sent to GitLab.
const (
	// TokenTypePrivate sends the token in the PRIVATE-TOKEN header
	// (personal, project, group and service account access tokens).
	TokenTypePrivate = "private_token"
	// TokenTypeBearer sends "Authorization: Bearer <token>" (OAuth tokens).
	TokenTypeBearer = "bearer"
)

// Limits and defaults.
const (
	minPollInterval    = 10 * time.Second
	maxPageSize        = 100
	defaultStreamAddr  = "localhost:8443"
	defaultStreamPath  = "/webhook/gitlab-audit"
	defaultHealthPath  = "/health"
	defaultMaxBodySize = 10 << 20
)

// Config is the configuration of the gitlab_audit receiver.
type Config struct {
	// ClientConfig is the HTTP client to GitLab: endpoint (the GitLab base
	// URL, e.g. https://gitlab.example.com), tls, proxy_url, timeout,
	// headers, auth, compression. Only needed when collect is set.
	confighttp.ClientConfig `mapstructure:",squash"`

	// Token authenticates the poller: an access token with the read_api scope.
	Token configopaque.String `mapstructure:"token"`
	// TokenType is private_token (PRIVATE-TOKEN header, the default) or
	// bearer (Authorization: Bearer, for OAuth tokens).
	TokenType string `mapstructure:"token_type"`

	// PollInterval is the time between two polls of each scope.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// IdlePollInterval is the longest time between two polls of a feed that
	// found nothing in its recent polls (default 5m); any event brings it
	// back to poll_interval.
	IdlePollInterval time.Duration `mapstructure:"idle_poll_interval"`
	// PerFeedMetrics gives every discovered feed its own series in the
	// per-feed metrics (default false: discovered feeds are folded into one
	// series per kind; configured feeds always have their own).
	PerFeedMetrics bool `mapstructure:"per_feed_metrics"`
	// InitialLookback is how far back the very first poll of a scope reads.
	InitialLookback time.Duration `mapstructure:"initial_lookback"`
	// Overlap is how far before its checkpoint each poll starts reading again,
	// to catch events committed late; events already emitted are skipped.
	Overlap time.Duration `mapstructure:"overlap"`
	// PageSize is the number of events per API page (1 to 100).
	PageSize int `mapstructure:"page_size"`
	// MaxRequestsPerMinute caps the API requests of all scopes together; 0 means no cap.
	MaxRequestsPerMinute int `mapstructure:"max_requests_per_minute"`
	// MaxConcurrentRequests caps the API requests in flight at once.
	MaxConcurrentRequests int `mapstructure:"max_concurrent_requests"`

	// Collect says which audit event feeds to poll.
	Collect CollectConfig `mapstructure:"collect"`
	// EventTypes filters events by type, on both paths.
	EventTypes EventTypesConfig `mapstructure:"event_types"`
	// Storage is the ID of a storage extension (e.g. file_storage) that keeps
	// checkpoints and the de-duplication state across restarts.
	Storage *component.ID `mapstructure:"storage"`
	// BackOff is the retry policy for 5xx answers, timeouts and connection errors.
	BackOff configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	// Dedup sizes the set of recently emitted event ids shared by both paths.
	Dedup DedupConfig `mapstructure:"dedup"`
	// Stream enables the audit event streaming endpoint. Absent means off.
	Stream configoptional.Optional[StreamConfig] `mapstructure:"stream"`
	// Enrich looks up the objects security events name (config_enrich.go).
	Enrich EnrichConfig `mapstructure:"enrich"`
	// AccessCheck finds out what the token can see in each feed, and
	// follows its expiry.
	AccessCheck AccessCheckConfig `mapstructure:"access_check"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// AccessCheckConfig configures the access self-check: at start and after
// each discovery, who the token is, its role on each configured group and
// project, and so whether each feed shows every event, only the token
// user's own, or nothing; and the token's expiry.
type AccessCheckConfig struct {
	// Enabled turns the check on (default true; it needs endpoint and token).
	Enabled bool `mapstructure:"enabled"`
	// TokenExpiryWarning is how long before the token expires the receiver
	// warns, once a day (default 336h: 14 days).
	TokenExpiryWarning time.Duration `mapstructure:"token_expiry_warning"`
}

// CollectConfig lists the audit event feeds to poll.
type CollectConfig struct {
	// Instance polls /api/v4/audit_events (self-managed and Dedicated, administrator token).
	Instance bool `mapstructure:"instance"`
	// Groups polls /api/v4/groups/:id/audit_events for each group: a numeric id or a full path.
	Groups []string `mapstructure:"groups"`
	// Projects polls /api/v4/projects/:id/audit_events for each project: a numeric id or a full path.
	Projects []string `mapstructure:"projects"`
	// Discovery polls every subgroup and project of the configured groups.
	Discovery DiscoveryConfig `mapstructure:"discovery"`
	// Shard splits the feeds between replicas.
	Shard ShardConfig `mapstructure:"shard"`
}

// EventTypesConfig filters events by their (canonical) type. Entries are
// exact names or globs (path.Match syntax, e.g. "ci_*_variable_*").
type EventTypesConfig struct {
	// Include keeps only matching events; empty keeps all.
	Include []string `mapstructure:"include"`
	// Exclude drops matching events, even when included.
	Exclude []string `mapstructure:"exclude"`
}

// DedupConfig sizes the de-duplication set.
type DedupConfig struct {
	// MaxEntries bounds the number of remembered event ids.
	MaxEntries int `mapstructure:"max_entries"`
	// TTL is how long an emitted event id is remembered.
	TTL time.Duration `mapstructure:"ttl"`
}

// StreamConfig is the audit event streaming endpoint (GitLab's HTTP destination).
type StreamConfig struct {
	// ServerConfig is the HTTP server: endpoint (default localhost:8443),
	// tls, max_request_body_size, auth, cors, compression, timeouts.
	confighttp.ServerConfig `mapstructure:",squash"`
	// Path receives the events (default /webhook/gitlab-audit).
	Path string `mapstructure:"path"`
	// HealthPath answers 200 without a token, for load balancers (default /health).
	HealthPath string `mapstructure:"health_path"`
	// VerificationTokens are the accepted X-Gitlab-Event-Streaming-Token
	// values: one per destination, or old and new while rotating.
	VerificationTokens []configopaque.String `mapstructure:"verification_tokens"`
	// RequiredHeaders are custom header name/value pairs that must also match.
	RequiredHeaders map[string]configopaque.String `mapstructure:"required_headers"`
	// PublicURL is the address GitLab's streaming destination posts to,
	// as configured there (e.g. https://collector.example.com:8443/webhook/gitlab-audit):
	// with it, the receiver finds the destination (as the Owner of the
	// top-level group, or an administrator), reports what it streams, and
	// the stream watch expects only that.
	PublicURL string `mapstructure:"public_url"`
}

var _ confmap.Unmarshaler = (*CollectConfig)(nil)

// Unmarshal accepts group and project entries given as numbers or strings.
func (c *CollectConfig) Unmarshal(conf *confmap.Conf) error {
	raw := conf.ToStringMap()
	for k, v := range raw {
		switch k {
		case "instance":
			if v == nil {
				continue
			}
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("collect::instance: expected true or false, got %v", v)
			}
			c.Instance = b
		case "groups", "projects":
			refs, err := scopeRefs(k, v)
			if err != nil {
				return err
			}
			if k == "groups" {
				c.Groups = refs
			} else {
				c.Projects = refs
			}
		case "discovery", "shard":
			sub, err := conf.Sub(k)
			if err != nil {
				return fmt.Errorf("collect::%s: %w", k, err)
			}
			if k == "shard" {
				if err := c.Shard.unmarshal(sub); err != nil {
					return err // the errors name their fields
				}
				continue
			}
			if err := sub.Unmarshal(&c.Discovery); err != nil {
				return fmt.Errorf("collect::discovery: %w", err)
			}
		default:
			return fmt.Errorf("collect: unknown key %q (expected instance, groups, projects, discovery, shard)", k)
		}
	}
	return nil
}

func scopeRefs(key string, v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("collect::%s: expected a list of ids or full paths, got %v", key, v)
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		switch x := e.(type) {
		case string:
			out = append(out, x)
		case int:
			out = append(out, strconv.Itoa(x))
		case int64:
			out = append(out, strconv.FormatInt(x, 10))
		case uint64:
			out = append(out, strconv.FormatUint(x, 10))
		case float64:
			if x != math.Trunc(x) || x > math.MaxInt64 {
				return nil, fmt.Errorf("collect::%s::%d: %v is not an id", key, i, x)
			}
			out = append(out, strconv.FormatInt(int64(x), 10))
		default:
			return nil, fmt.Errorf("collect::%s::%d: expected an id or a full path, got %v", key, i, e)
		}
	}
	return out, nil
}

// HasScopes reports whether any feed is to be polled.
func (c CollectConfig) HasScopes() bool {
	return c.Instance || len(c.Groups) > 0 || len(c.Projects) > 0
}

// feeds returns the configured audit event feeds.
func (c CollectConfig) feeds() []gitlabapi.Feed {
	var feeds []gitlabapi.Feed
	if c.Instance {
		feeds = append(feeds, gitlabapi.Feed{Kind: gitlabapi.KindInstance})
	}
	for _, g := range c.Groups {
		feeds = append(feeds, gitlabapi.Feed{Kind: gitlabapi.KindGroup, Ref: g})
	}
	for _, pr := range c.Projects {
		feeds = append(feeds, gitlabapi.Feed{Kind: gitlabapi.KindProject, Ref: pr})
	}
	return feeds
}

// feedLabels names feeds in metrics: discovered feeds folded unless
// per_feed_metrics.
func feedLabels(cfg *Config) poll.Labels {
	return poll.NewLabels(cfg.PerFeedMetrics, cfg.Collect.feeds())
}

// pathSegment is what GitLab accepts in a group or project path segment.
var pathSegment = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]*$`)

func validateScopeRef(field string, i int, ref string) error {
	if ref == "" {
		return fmt.Errorf("%s::%d: empty entry", field, i)
	}
	if strings.TrimSpace(ref) != ref {
		return fmt.Errorf("%s::%d: %q has surrounding spaces", field, i, ref)
	}
	if _, err := strconv.ParseUint(ref, 10, 63); err == nil {
		if ref == "0" || strings.HasPrefix(ref, "0") {
			return fmt.Errorf("%s::%d: %q is not a valid id", field, i, ref)
		}
		return nil
	}
	for _, seg := range strings.Split(ref, "/") {
		if !pathSegment.MatchString(seg) {
			return fmt.Errorf("%s::%d: %q is neither a numeric id nor a full path like group/subgroup/project", field, i, ref)
		}
	}
	return nil
}

// Validate checks the configuration; every error names its field.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	polling := cfg.Collect.HasScopes()
	if !polling && !cfg.Stream.HasValue() {
		add("nothing to collect: set collect (instance, groups, projects) to poll the API, and/or stream to receive audit event streaming")
	}

	if polling || (cfg.Endpoint != "" && cfg.enrichOn()) {
		if cfg.Endpoint == "" {
			add("endpoint: missing; set the GitLab base URL, e.g. https://gitlab.example.com")
		} else if u, err := url.Parse(cfg.Endpoint); err != nil {
			add("endpoint: %q is not a URL: %w", cfg.Endpoint, err)
		} else {
			switch {
			case u.Scheme != "http" && u.Scheme != "https":
				add("endpoint: %q must start with https:// (or http://)", cfg.Endpoint)
			case u.Host == "":
				add("endpoint: %q has no host", cfg.Endpoint)
			case u.Path != "" && u.Path != "/":
				add("endpoint: %q must be the GitLab base URL without a path (got path %q); the receiver adds /api/v4/...", cfg.Endpoint, u.Path)
			case u.RawQuery != "" || u.Fragment != "":
				add("endpoint: %q must not have a query or fragment", cfg.Endpoint)
			}
		}
		if cfg.Token == "" && !cfg.Auth.HasValue() {
			add("token: missing; create an access token with the read_api scope (or configure an auth extension)")
		}
	}
	if cfg.TokenType != TokenTypePrivate && cfg.TokenType != TokenTypeBearer {
		add("token_type: %q is not %q or %q", cfg.TokenType, TokenTypePrivate, TokenTypeBearer)
	}
	if cfg.PollInterval < minPollInterval {
		add("poll_interval: %s is below the minimum of %s", cfg.PollInterval, minPollInterval)
	}
	if cfg.InitialLookback <= 0 {
		add("initial_lookback: must be positive, got %s", cfg.InitialLookback)
	}
	if cfg.Overlap < 0 {
		add("overlap: must not be negative, got %s", cfg.Overlap)
	} else if cfg.Overlap >= poll.MaxWindow {
		add("overlap: %s must be shorter than GitLab's 30-day query window", cfg.Overlap)
	}
	if cfg.PageSize < 1 || cfg.PageSize > maxPageSize {
		add("page_size: %d is outside 1..%d", cfg.PageSize, maxPageSize)
	}
	if cfg.MaxRequestsPerMinute < 0 {
		add("max_requests_per_minute: must not be negative, got %d", cfg.MaxRequestsPerMinute)
	}
	if cfg.MaxConcurrentRequests < 1 {
		add("max_concurrent_requests: must be at least 1, got %d", cfg.MaxConcurrentRequests)
	}

	seen := map[string]bool{}
	eachItem(map[string][]string{"collect::groups": cfg.Collect.Groups, "collect::projects": cfg.Collect.Projects}, func(field string, i int, ref string) {
		if err := validateScopeRef(field, i, ref); err != nil {
			errs = append(errs, err)
			return
		}
		if seen[field+"/"+ref] {
			add("%s::%d: %q is listed twice", field, i, ref)
		}
		seen[field+"/"+ref] = true
	})
	eachItem(map[string][]string{"event_types::include": cfg.EventTypes.Include, "event_types::exclude": cfg.EventTypes.Exclude}, func(field string, i int, p string) {
		if p == "" {
			add("%s::%d: empty pattern", field, i)
		} else if _, err := path.Match(p, ""); err != nil {
			add("%s::%d: %q is not a valid pattern: %w", field, i, p, err)
		}
	})

	if cfg.Dedup.MaxEntries < 1 {
		add("dedup::max_entries: must be at least 1, got %d", cfg.Dedup.MaxEntries)
	}
	if cfg.Dedup.TTL <= 0 {
		add("dedup::ttl: must be positive, got %s", cfg.Dedup.TTL)
	}

	errs = append(errs, cfg.Collect.Discovery.validate()...)
	if err := cfg.Collect.Shard.validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.IdlePollInterval < cfg.PollInterval {
		add("idle_poll_interval: %s must not be shorter than poll_interval (%s)", cfg.IdlePollInterval, cfg.PollInterval)
	}
	if cfg.Stream.HasValue() {
		errs = append(errs, cfg.Stream.Get().validate()...)
	}
	errs = append(errs, cfg.validateEnrich()...)
	if cfg.AccessCheck.TokenExpiryWarning < 0 {
		add("access_check::token_expiry_warning: must not be negative, got %s", cfg.AccessCheck.TokenExpiryWarning)
	}
	return errors.Join(errs...)
}

// eachItem calls fn on every item of the lists, named by field, fields in
// sorted order (so that errors come in the same order every time).
func eachItem(lists map[string][]string, fn func(field string, i int, item string)) {
	for _, field := range slices.Sorted(maps.Keys(lists)) {
		for i, item := range lists[field] {
			fn(field, i, item)
		}
	}
}

// headerName is the token syntax of HTTP header names (RFC 9110).
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,255}$")

func (s *StreamConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.NetAddr.Endpoint == "" {
		add("stream::endpoint: missing; e.g. 0.0.0.0:8443")
	}
	if !strings.HasPrefix(s.Path, "/") {
		add("stream::path: %q must start with /", s.Path)
	}
	if !strings.HasPrefix(s.HealthPath, "/") {
		add("stream::health_path: %q must start with /", s.HealthPath)
	} else if s.HealthPath == s.Path {
		add("stream::health_path: %q must differ from stream::path", s.HealthPath)
	}
	if len(s.VerificationTokens) == 0 && !s.Auth.HasValue() {
		add("stream::verification_tokens: missing; set the destination's verification token (GitLab sends it as %s), or configure stream::auth with an authenticator extension", stream.TokenHeader)
	}
	for i, tok := range s.VerificationTokens {
		if tok == "" {
			add("stream::verification_tokens::%d: empty token", i)
		}
	}
	for name, value := range s.RequiredHeaders {
		switch {
		case !headerName.MatchString(name):
			add("stream::required_headers: %q is not a valid header name", name)
		case strings.EqualFold(name, stream.TokenHeader):
			add("stream::required_headers: %q is the verification token header; use stream::verification_tokens", name)
		case value == "":
			add("stream::required_headers: %q has an empty value", name)
		}
	}
	if s.MaxRequestBodySize < 0 {
		add("stream::max_request_body_size: must not be negative")
	}
	if s.PublicURL != "" {
		if u, err := url.Parse(s.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("stream::public_url: %q must be the absolute http(s) URL GitLab's destination posts to", s.PublicURL)
		}
	}
	return errs
}
