// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

const skewConfig = `
extensions:
  health_check:
    endpoint: 127.0.0.1:%[1]d
receivers:
  gitlab_audit:
    endpoint: %[2]s
    token: %[3]s
    poll_interval: 10s
    initial_lookback: 2h
    overlap: 1m
    collect:
      instance: true
exporters:
  otlp_http:
    endpoint: %[4]s
service:
  extensions: [health_check]
  pipelines:
    logs: {receivers: [gitlab_audit], exporters: [otlp_http]}
  telemetry:
    metrics:
      level: none
`

// TestPollingFollowsGitLabsClock runs the built collector against a GitLab
// whose clock is 20 minutes behind the host's, far more than overlap (1m),
// while GitLab records new events: every event arrives, once. (With
// windows on the collector's clock, every event after the first poll was
// lost.)
func TestPollingFollowsGitLabsClock(t *testing.T) {
	bin := collectorBinary(t)
	const skew = -20 * time.Minute
	sim := gitlabsim.New(gitlabsim.Options{
		Tokens: map[string]gitlabsim.Token{apiToken: {UserID: 1, Admin: true}},
		Seed:   7,
		Now:    func() time.Time { return time.Now().Add(skew) },
	})
	sim.Populate(2, 4)
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	defer func() { _ = sim.Close() }()
	sink := newOTLPSink(t)
	sim.GenerateWith(gitlabsim.GenerateOptions{Count: 200, From: sim.Now().Add(-time.Hour), To: sim.Now(), SavedOnly: true, NoStream: true})

	health := freePort(t)
	col := newCollector(t, bin, fmt.Sprintf(skewConfig, health, simSrv.URL, apiToken, sink.srv.URL), nil, health)
	col.start()

	// GitLab keeps recording across two polls.
	for end := time.Now().Add(22 * time.Second); time.Now().Before(end); {
		now := sim.Now()
		sim.GenerateWith(gitlabsim.GenerateOptions{Count: 3, From: now.Add(-time.Second), To: now, SavedOnly: true, NoStream: true})
		time.Sleep(200 * time.Millisecond)
	}
	want := map[string]bool{}
	for _, e := range sim.Events() {
		want[strconv.FormatInt(e.ID, 10)] = true
	}
	require.Eventually(t, func() bool {
		seen := map[string]bool{}
		for _, r := range sink.all() {
			seen[r.id] = true
		}
		for id := range want {
			if !seen[id] {
				return false
			}
		}
		return true
	}, 40*time.Second, 200*time.Millisecond, "every event arrives (%d of %d); collector log:\n%s", sink.count(), len(want), col.log())
	count := map[string]int{}
	for _, r := range sink.all() {
		count[r.id]++
	}
	for id, n := range count {
		assert.Equal(t, 1, n, "event %s exported %d times", id, n)
	}
	assert.Contains(t, col.log(), "GitLab's clock and the collector's differ", "warned about the skew")
}
