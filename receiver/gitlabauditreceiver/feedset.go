// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// feedLabels names feeds in metrics. Configured feeds keep their own
// series; discovered feeds (thousands on a large estate) are folded into
// one series per kind ("discovered:project") unless per_feed_metrics is set.
type feedLabels struct {
	perFeed    bool
	configured map[string]bool // feed strings of the configured feeds
}

func newFeedLabels(cfg *Config) feedLabels {
	l := feedLabels{perFeed: cfg.PerFeedMetrics, configured: map[string]bool{}}
	for _, f := range feedsOf(cfg.Collect) {
		l.configured[f.String()] = true
	}
	return l
}

// of returns the metric label of a feed.
func (l feedLabels) of(f gitlabapi.Feed) string {
	if l.perFeed || l.configured[f.String()] {
		return f.String()
	}
	switch f.Kind {
	case gitlabapi.KindGroup, gitlabapi.KindProject:
		return originDiscovered + ":" + string(f.Kind)
	}
	return f.String()
}

// emittedKey carries a per-poll counter of the records the pipeline
// accepted, so the scheduler learns whether a poll found new events
// without the emitter knowing about scheduling.
type emittedKey struct{}

func withEmittedCounter(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, emittedKey{}, n)
}

// countingConsumer counts the records the next consumer accepted into the
// counter of the context, when there is one.
type countingConsumer struct {
	consumer.Logs
}

func countEmitted(next consumer.Logs) consumer.Logs {
	return countingConsumer{Logs: next}
}

func (c countingConsumer) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	n, _ := ctx.Value(emittedKey{}).(*atomic.Int64)
	var records int
	if n != nil {
		records = ld.LogRecordCount() // before the pipeline may take the data over
	}
	err := c.Logs.ConsumeLogs(ctx, ld)
	if err == nil && n != nil {
		n.Add(int64(records))
	}
	return err
}
