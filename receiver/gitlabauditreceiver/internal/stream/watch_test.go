// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

// TestWatchAsksTheDestinationLearnedLater: events polled while the
// destination was not known yet (its check at start still under way, or
// failed until a later one found it) are counted missed only if the
// destination streams them. A destination of acme filtered to
// acme/platform does not stream acme/security's events
// (ee/app/models/concerns/audit_events/externally_streamable.rb), so
// polling them first is no miss.
func TestWatchAsksTheDestinationLearnedLater(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := gitlabapi.NewClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	})
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	w := newWatch(clock, Grace, tb, zap.NewNop())

	created := now.Add(time.Second) // after the stream endpoint opened
	polled := func(key, path string) watched {
		return watched{key: key, ev: event{typ: "member_created", entityType: "Group", entityPath: path}, deadline: created.Add(Grace)}
	}
	w.accepted(auditlog.SourcePoll, []watched{polled("Group/1", "acme/platform"), polled("Group/2", "acme/security")})
	w.Expect(NewExpectation([]gitlabapi.Destination{{Category: "http", Active: true, Group: "acme", Namespaces: []string{"acme/platform"}}}))

	mu.Lock()
	now = created.Add(Grace + time.Second)
	mu.Unlock()
	assert.Equal(t, 1, w.missed(), "only acme/platform's event was the stream's to deliver")
}
