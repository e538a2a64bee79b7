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
// series per kind ("discovered:project"). per_feed_metrics gives every
// feed its own series of the metrics an operator watches per feed (Of:
// the checkpoint lag, poll errors); request counts, slice lengths and
// access stay folded (Folded): every series costs the collector memory at
// each collection (the SDK's exemplar storage, the exporter's copy), and
// 2,000 feeds' series of four metrics made a scrape every 5 s the largest
// part of the estate benchmark's memory.
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

// Of returns the metric label of a feed in the per-feed metrics.
func (l Labels) Of(f gitlabapi.Feed) string {
	if l.perFeed {
		return f.String()
	}
	return l.Folded(f)
}

// Folded returns the label of a feed in the metrics that fold discovered
// feeds whatever per_feed_metrics says.
func (l Labels) Folded(f gitlabapi.Feed) string {
	if l.configured[f.String()] {
		return f.String()
	}
	switch f.Kind {
	case gitlabapi.KindGroup, gitlabapi.KindProject:
		return originDiscovered + ":" + string(f.Kind)
	}
	return f.String()
}
