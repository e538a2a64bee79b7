// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kyra-mdr/otelcol-gitlab/processor/gitlabdetectprocessor/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

const pipelineToken = "pipeline-stream-token-0123"

// startPipeline starts the real gitlab_audit receiver feeding the
// gitlab_detect processor feeding a sink, as in a collector pipeline.
func startPipeline(t *testing.T, configure func(*gitlabauditreceiver.Config)) (*consumertest.LogsSink, string) {
	t.Helper()
	sink := new(consumertest.LogsSink)
	proc, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, proc.Shutdown(context.Background())) })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	rf := gitlabauditreceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig().(*gitlabauditreceiver.Config)
	s := rcfg.Stream.GetOrInsertDefault()
	s.NetAddr.Endpoint = addr
	s.VerificationTokens = []configopaque.String{pipelineToken}
	if configure != nil {
		configure(rcfg)
	}
	rcv, err := rf.CreateLogs(context.Background(), receivertest.NewNopSettings(rf.Type()), rcfg, proc)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, rcv.Shutdown(context.Background())) })
	return sink, "http://" + addr + "/webhook/gitlab-audit"
}

// TestPipelineReceiverToProcessor streams every fixture case of every
// stateless built-in rule (REST, stream and legacy shapes) through the
// real receiver into the processor: each is tagged, or not, exactly as the
// processor alone decides on the same event.
func TestPipelineReceiverToProcessor(t *testing.T) {
	sink, url := startPipeline(t, nil)

	type want struct {
		rule  string
		name  string
		match bool
	}
	wants := map[string]want{}
	next := 900000
	for _, d := range builtinRules {
		if d.Window != windowNone {
			continue // windowed rules are exercised over batches in window_test.go
		}
		for _, c := range loadFixture(t, d.ID).Cases {
			if c.Enrichment != nil {
				// The facts come from the receiver's lookups in GitLab's
				// API, which a stream-only receiver does not make.
				continue
			}
			var ev map[string]any
			require.NoError(t, json.Unmarshal(c.Event, &ev))
			next++
			id := fmt.Sprint(next) // unique, so the receiver does not drop it as a duplicate
			ev["id"] = id
			body, err := json.Marshal(ev)
			require.NoError(t, err)
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("X-Gitlab-Event-Streaming-Token", pipelineToken)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s", d.ID, c.Name)
			wants[id] = want{rule: d.ID, name: c.Name, match: c.Match}
		}
	}
	require.NotEmpty(t, wants)

	got := map[string]plog.LogRecord{}
	for _, lr := range allRecords(sink) {
		got[attrStr(lr, "gitlab.audit.event.id")] = lr
	}
	require.Len(t, got, len(wants))
	for id, w := range wants {
		lr := got[id]
		assert.NotEmpty(t, attrStr(lr, "gitlab.audit.category"), "%s %s", w.rule, w.name)
		assert.Equal(t, "stream", attrStr(lr, "gitlab.audit.source"))
		assert.Equal(t, w.match, slices.Contains(ruleIDs(lr), w.rule), "%s %s: rule ids %v", w.rule, w.name, ruleIDs(lr))
		if w.match {
			assert.GreaterOrEqual(t, lr.SeverityNumber(), plog.SeverityNumberInfo)
			assert.NotEmpty(t, attrStr(lr, "security_rule.uuid"))
		}
	}
}

// TestPipelinePolledAndStreamedTaggedAlike polls a simulated GitLab and
// streams the same events: every event is emitted once, categorised, and
// the security-relevant ones are tagged.
func TestPipelinePolledAndStreamedTaggedAlike(t *testing.T) {
	sim := gitlabsim.New(gitlabsim.Options{
		Tokens:        map[string]gitlabsim.Token{"glpat-pipeline": {UserID: 1, Admin: true}},
		Seed:          11,
		SecurityShare: 0.5,
	})
	sim.Populate(3, 6)
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer func() { _ = sim.Close() }()
	evs := sim.GenerateWith(gitlabsim.GenerateOptions{Count: 400, From: time.Now().Add(-time.Hour), To: time.Now().Add(-time.Minute)})

	sink, url := startPipeline(t, func(c *gitlabauditreceiver.Config) {
		c.Endpoint = srv.URL
		c.Token = "glpat-pipeline"
		c.Collect.Instance = true
	})
	_, err := (&gitlabsim.Streamer{URL: url, Token: pipelineToken, DuplicateRatio: 0.2, Seed: 3}).Send(context.Background(), evs[:200])
	require.NoError(t, err)

	want := 0
	for _, e := range evs {
		if e.SavedToDatabase {
			want++
		} else if slices.ContainsFunc(evs[:200], func(x gitlabsim.StoredEvent) bool { return x.StreamID == e.StreamID }) {
			want++
		}
	}
	require.Eventually(t, func() bool { return sink.LogRecordCount() == want }, 20*time.Second, 20*time.Millisecond)
	seen := map[string]bool{}
	tagged := map[string]int{}
	for _, lr := range allRecords(sink) {
		key := attrStr(lr, "gitlab.audit.entity.type") + "/" + attrStr(lr, "gitlab.audit.event.id")
		assert.False(t, seen[key], "emitted twice: %s", key)
		seen[key] = true
		assert.NotEmpty(t, attrStr(lr, "gitlab.audit.category"))
		if ind := attrStr(lr, "gitlab.detect.indicator"); ind != "" {
			tagged[attrStr(lr, "gitlab.audit.source")]++
		}
	}
	assert.Positive(t, tagged["poll"], "polled events are tagged")
	assert.Positive(t, tagged["stream"], "streamed events are tagged")
}
