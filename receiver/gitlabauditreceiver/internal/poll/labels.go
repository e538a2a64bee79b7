// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"

// Origins of a feed: listed in the configuration, or found by discovery.
const (
	originConfigured = "configured"
	originDiscovered = "discovered"
)

// Labels names feeds in metrics. Configured feeds keep their own series;
// discovered feeds (thousands on a large estate) are folded into one
// series per kind ("discovered:project") unless per_feed_metrics is set.
type Labels struct {
	perFeed    bool
	configured map[string]bool // feed strings of the configured feeds
}

// NewLabels returns the labels of an estate whose configured feeds are
// configured.
func NewLabels(perFeed bool, configured []gitlabapi.Feed) Labels {
	l := Labels{perFeed: perFeed, configured: map[string]bool{}}
	for _, f := range configured {
		l.configured[f.String()] = true
	}
	return l
}

// Of returns the metric label of a feed.
func (l Labels) Of(f gitlabapi.Feed) string {
	if l.perFeed || l.configured[f.String()] {
		return f.String()
	}
	switch f.Kind {
	case gitlabapi.KindGroup, gitlabapi.KindProject:
		return originDiscovered + ":" + string(f.Kind)
	}
	return f.String()
}
