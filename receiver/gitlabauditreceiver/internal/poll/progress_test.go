// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

func TestCatchUpProgressIsLoggedLikeAProgressBar(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(500, clk.Now().Add(-20*time.Hour), clk.Now().Add(-time.Minute))
	cfg := pollConfig(srv.URL)
	cfg.Projects = []string{"acme/platform/api"}
	r, logs := newTestPoller(t, cfg, new(consumertest.LogsSink), clk)

	p := r
	p.progress.report()
	l := logs.FilterMessage("Catching up with GitLab's audit events").All()
	require.Len(t, l, 1)
	assert.EqualValues(t, 0, l[0].ContextMap()["feeds_caught_up"])
	assert.EqualValues(t, 2, l[0].ContextMap()["feeds"])
	assert.Equal(t, 24*time.Hour, l[0].ContextMap()["behind"], "the oldest checkpoint is initial_lookback ago")

	feeds := p.snapshot()
	p.pollFeed(context.Background(), feeds[0])
	p.progress.report()
	l = logs.FilterMessage("Catching up with GitLab's audit events").All()
	require.Len(t, l, 2)
	assert.EqualValues(t, 1, l[1].ContextMap()["feeds_caught_up"])
	assert.Positive(t, l[1].ContextMap()["events_read"])
	assert.Contains(t, l[1].ContextMap(), "estimated_time_left")

	p.pollFeed(context.Background(), feeds[1])
	p.progress.report()
	p.progress.report()
	require.Len(t, logs.FilterMessage("Every feed has caught up with GitLab's audit events").All(), 1, "said once")
	assert.Len(t, logs.FilterMessage("Catching up with GitLab's audit events").All(), 2)
}
