// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/poll"
)

// Defaults and limits of discovery and scheduling.
const (
	defaultDiscoveryInterval = time.Hour
	minDiscoveryInterval     = time.Minute
	defaultIdlePollInterval  = 5 * time.Minute
	defaultForgetAfter       = 7 * 24 * time.Hour
	maxShardCount            = 1024
)

// DiscoveryConfig finds the subgroups and projects of every configured
// group and polls each as its own feed: GitLab's group feed holds only the
// group's own events.
type DiscoveryConfig struct {
	// Enabled turns discovery on (default true).
	Enabled bool `mapstructure:"enabled"`
	// Subgroups polls every descendant group (default true).
	Subgroups bool `mapstructure:"subgroups"`
	// Projects polls every project of the group and its subgroups (default true).
	Projects bool `mapstructure:"projects"`
	// Interval is the time between two listings of the estate (default 1h).
	// A feed answering 404 also triggers a listing.
	Interval time.Duration `mapstructure:"interval"`
	// Exclude leaves out the groups and projects whose full path matches a
	// glob: "*" matches within a path segment, "**" across segments
	// ("acme/sandbox/**", "**/archive-*").
	Exclude []string `mapstructure:"exclude"`
	// Archived polls archived projects too (default true: they still get
	// audit events).
	Archived bool `mapstructure:"archived"`
	// ForgetAfter is how long the stored checkpoint of a feed that left the
	// estate is kept (default 168h: GitLab restores deleted projects for 7
	// days; a project that comes back within it resumes where it was).
	ForgetAfter time.Duration `mapstructure:"forget_after"`
}

// ShardConfig splits the feeds between the replicas of a StatefulSet:
// each replica polls the feeds whose stable hash falls in its shard.
type ShardConfig struct {
	// Index is this replica's shard, 0..count-1; a pod name such as
	// "otelcol-gitlab-2" is accepted and gives its ordinal 2.
	Index int `mapstructure:"index"`
	// Count is the number of shards; 0 or 1 means no sharding.
	Count int `mapstructure:"count"`
}

func defaultDiscoveryConfig() DiscoveryConfig {
	return DiscoveryConfig{Enabled: true, Subgroups: true, Projects: true, Interval: defaultDiscoveryInterval, Archived: true, ForgetAfter: defaultForgetAfter}
}

// unmarshal reads collect::shard: an index may be a StatefulSet pod name.
func (s *ShardConfig) unmarshal(sub *confmap.Conf) error {
	raw := sub.ToStringMap()
	for k, v := range raw {
		switch k {
		case "count":
			n, err := intOf(v)
			if err != nil {
				return fmt.Errorf("collect::shard::count: %w", err)
			}
			s.Count = n
		case "index":
			n, err := shardIndexOf(v)
			if err != nil {
				return fmt.Errorf("collect::shard::index: %w", err)
			}
			s.Index = n
		default:
			return fmt.Errorf("collect::shard: unknown key %q (expected index, count)", k)
		}
	}
	return nil
}

func intOf(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case uint64:
		return int(x), nil
	case float64:
		if x == float64(int(x)) {
			return int(x), nil
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("expected an integer, got %v", v)
}

// podOrdinal is the ordinal at the end of a StatefulSet pod name.
var podOrdinal = regexp.MustCompile(`-([0-9]+)$`)

// shardIndexOf accepts a number or a StatefulSet pod name ending in its ordinal.
func shardIndexOf(v any) (int, error) {
	if n, err := intOf(v); err == nil {
		return n, nil
	}
	if s, ok := v.(string); ok {
		if m := podOrdinal.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
			return strconv.Atoi(m[1])
		}
	}
	return 0, fmt.Errorf("expected a shard number or a StatefulSet pod name ending in its ordinal (name-N), got %v", v)
}

// validate checks collect::discovery.
func (d DiscoveryConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.Enabled {
		if d.Interval < minDiscoveryInterval {
			add("collect::discovery::interval: %s is below the minimum of %s", d.Interval, minDiscoveryInterval)
		}
		if !d.Subgroups && !d.Projects {
			add("collect::discovery: subgroups and projects are both false; set enabled: false to turn discovery off")
		}
	}
	if d.ForgetAfter < 0 {
		add("collect::discovery::forget_after: must not be negative, got %s", d.ForgetAfter)
	}
	for i, p := range d.Exclude {
		if _, err := poll.CompileGlob(p); err != nil {
			add("collect::discovery::exclude::%d: %w", i, err)
		}
	}
	return errs
}

// validate checks collect::shard.
func (s ShardConfig) validate() error {
	switch {
	case s.Count < 0 || s.Count > maxShardCount:
		return fmt.Errorf("collect::shard::count: %d is outside 0..%d", s.Count, maxShardCount)
	case s.Index < 0 || (s.Count > 0 && s.Index >= s.Count) || (s.Count == 0 && s.Index != 0):
		return fmt.Errorf("collect::shard::index: %d is outside 0..%d", s.Index, max(s.Count-1, 0))
	}
	return nil
}
