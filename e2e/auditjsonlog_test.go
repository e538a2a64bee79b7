// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// windowedRules are the stateful rules of gitlab_detect (GLD-100 to
// GLD-103): they depend on what the same processor saw before, which a
// restart of the collector resets on one path and not the other.
var windowedRules = map[string]bool{"GLD-100": true, "GLD-101": true, "GLD-102": true, "GLD-103": true}

// statelessTags are the tags of a record that depend on the event alone.
func statelessTags(r sinkRecord) (string, bool) {
	var rules []string
	windowed := false
	if v, ok := r.record.Attributes().Get("gitlab.detect.rule_ids"); ok {
		for _, id := range v.Slice().AsRaw() {
			s := fmt.Sprint(id)
			if windowedRules[s] {
				windowed = true
				continue
			}
			rules = append(rules, s)
		}
	}
	return fmt.Sprintf("event_type=%s category=%s rules=%s",
		attr(r.record, "gitlab.audit.event_type"), attr(r.record, "gitlab.audit.category"), strings.Join(rules, ",")), windowed
}

func appendLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	require.NoError(t, err)
	for _, l := range lines {
		_, err = f.Write(l) // one write per line, as GitLab's logger
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer func() { _ = src.Close() }()
	dst, err := os.Create(to)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}

// TestAuditJSONLog runs config/audit-json-log.yaml on an audit_json.log that
// GitLab appends to and rotates during the test (logrotate's rename, then
// its copytruncate, the Linux package default), across a restart of the
// collector: every line arrives exactly once, and is tagged as the same
// event is when polled from the REST API (a second pipeline of the same
// collector polls the simulator).
func TestAuditJSONLog(t *testing.T) {
	bin := collectorBinary(t)
	sim := gitlabsim.New(gitlabsim.Options{
		Tokens:        map[string]gitlabsim.Token{apiToken: {UserID: 1, Admin: true}},
		Seed:          1717,
		SecurityShare: 0.4,
		LegacyShare:   0.2,
	})
	sim.Populate(3, 6)
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	defer func() { _ = sim.Close() }()
	now := time.Now()
	const total = 300
	events := sim.GenerateWith(gitlabsim.GenerateOptions{Count: total, From: now.Add(-50 * time.Minute), To: now.Add(-time.Minute), SavedOnly: true, NoStream: true})
	require.Len(t, events, total)
	lines := make([][]byte, total)
	eventOf := map[string]gitlabsim.StoredEvent{} // correlation id -> event
	for i, e := range events {
		corr := fmt.Sprintf("e2e-corr-%04d", i)
		line, err := gitlabsim.AuditJSONLogLine(e, corr)
		require.NoError(t, err)
		lines[i] = line
		eventOf[corr] = e
	}

	dir := t.TempDir()
	logPath := filepath.Join(dir, "audit_json.log")
	fileSink, pollSink := newLogsSink(t), newLogsSink(t)
	health := freePort(t)
	cfg := shippedConfig(t, "audit-json-log.yaml", map[string]any{
		"extensions::health_check::endpoint":         fmt.Sprintf("127.0.0.1:%d", health),
		"exporters::otlp_http::sending_queue::batch": map[string]any{"flush_timeout": "200ms", "min_size": 50, "max_size": 2000},
		"receivers::gitlab_audit": map[string]any{
			"endpoint": simSrv.URL, "token": apiToken, "poll_interval": "10s", "initial_lookback": "1h",
			"collect": map[string]any{"instance": true}, "storage": "file_storage",
			// audit_json.log lines are not looked up: the polled copy is
			// not either, so both are tagged from the same facts (with
			// lookups, GLD-061/074/099 decide what GLD-050/072/090 leave open).
			"enrich": map[string]any{"enabled": false},
		},
		"exporters::otlp_http/poll": map[string]any{"endpoint": pollSink.srv.URL, "compression": "none"},
		"service::pipelines::logs/poll": map[string]any{
			"receivers": []any{"gitlab_audit"}, "processors": []any{"memory_limiter", "gitlab_detect"}, "exporters": []any{"otlp_http/poll"},
		},
		"service::telemetry::metrics::level": "none",
	})
	col := newCollector(t, bin, cfg, map[string]string{
		"GITLAB_AUDIT_LOG":    logPath,
		"OTLP_ENDPOINT":       fileSink.srv.URL,
		"OTLP_API_KEY":        "backend-key",
		"OTELCOL_STORAGE_DIR": filepath.Join(dir, "storage"),
	}, health)

	waitFor := func(n int, what string) {
		t.Helper()
		require.Eventually(t, func() bool { return fileSink.count() >= n }, 60*time.Second, 50*time.Millisecond,
			"%s: %d of %d lines exported; collector log:\n%s", what, fileSink.count(), n, col.log())
	}

	// History already in the file when the collector first starts.
	appendLines(t, logPath, lines[:100])
	col.start()
	waitFor(100, "history")

	// Live appends, then logrotate's rename: the last lines of the old file
	// are written just before it is renamed to audit_json.log.1.
	for i := 100; i < 150; i += 10 {
		appendLines(t, logPath, lines[i:i+10])
		time.Sleep(30 * time.Millisecond)
	}
	appendLines(t, logPath, lines[150:170])
	require.NoError(t, os.Rename(logPath, logPath+".1"))
	appendLines(t, logPath, lines[170:200])
	waitFor(200, "rename rotation")

	// A restart: GitLab goes on writing while the collector is down; the
	// stored offsets say where to resume.
	col.stop()
	appendLines(t, logPath, lines[200:230])
	col.start()

	// logrotate's copytruncate: .1 is shifted away (compressed to .2.gz,
	// not read), the file is copied to .1 and truncated in place, and
	// GitLab writes on at the start of the same file.
	appendLines(t, logPath, lines[230:250])
	require.NoError(t, os.Remove(logPath+".1"))
	copyFile(t, logPath, logPath+".1")
	require.NoError(t, os.Truncate(logPath, 0))
	appendLines(t, logPath, lines[250:total])
	waitFor(total, "copytruncate rotation")
	time.Sleep(2 * time.Second) // anything late would be a duplicate

	// Every line exactly once.
	seen := map[string]int{}
	byCorr := map[string]sinkRecord{}
	for _, r := range fileSink.records() {
		corr := ""
		if r.record.Body().Type().String() == "Map" {
			if v, ok := r.record.Body().Map().Get("correlation_id"); ok {
				corr = v.Str()
			}
		}
		require.NotEmpty(t, corr, "a record without a parsed line: %s", recordText(t, r))
		seen[corr]++
		byCorr[corr] = r
	}
	for corr := range eventOf {
		assert.Equal(t, 1, seen[corr], "line %s exported %d times", corr, seen[corr])
	}
	assert.Len(t, seen, total)

	// Tagged like the same event polled from the API.
	require.Eventually(t, func() bool { return pollSink.count() >= total }, 60*time.Second, 100*time.Millisecond,
		"every event polled; collector log:\n%s", col.log())
	polled := map[string]sinkRecord{}
	for _, r := range pollSink.records() {
		polled[attr(r.record, "gitlab.audit.event.id")] = r
	}
	detected, compared := 0, 0
	for corr, e := range eventOf {
		fileRec, pollRec := byCorr[corr], polled[fmt.Sprint(e.ID)]
		if !assert.NotNil(t, pollRec.record.Attributes(), "event %d polled", e.ID) {
			continue
		}
		fileTags, fileWindowed := statelessTags(fileRec)
		pollTags, pollWindowed := statelessTags(pollRec)
		assert.Equal(t, pollTags, fileTags, "event %d (%s): file line tagged as when polled", e.ID, e.Type)
		assert.Equal(t, pollRec.record.Timestamp(), fileRec.record.Timestamp(), "event %d: time of the event", e.ID)
		if !fileWindowed && !pollWindowed {
			compared++
			assert.Equal(t, pollRec.record.SeverityNumber(), fileRec.record.SeverityNumber(), "event %d severity", e.ID)
			assert.Equal(t, attr(pollRec.record, "gitlab.detect.indicator"), attr(fileRec.record, "gitlab.detect.indicator"), "event %d indicator", e.ID)
		}
		if attr(fileRec.record, "gitlab.detect.rule_ids") != "" {
			detected++
		}
	}
	assert.Positive(t, detected, "the file had security-relevant events")
	t.Logf("%d lines once each across 2 rotations and a restart; %d with detections; severity and indicator compared on %d", total, detected, compared)
}
