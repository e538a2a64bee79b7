// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// shippedConfig returns a configuration of config/ with overrides merged in
// (maps key by key, lists replaced), as text the collector reads (JSON is
// YAML). What the overrides leave alone, the test runs as shipped.
func shippedConfig(t *testing.T, name string, overrides map[string]any) string {
	t.Helper()
	conf, err := confmaptest.LoadConf(filepath.Join(repoRoot(t), "config", name))
	require.NoError(t, err)
	require.NoError(t, conf.Merge(confmap.NewFromStringMap(overrides)))
	b, err := json.Marshal(conf.ToStringMap())
	require.NoError(t, err)
	return string(b)
}

// detectionAttrs are what gitlab_detect decides about a record.
func detectionAttrs(r sinkRecord) string {
	var parts []string
	for _, k := range []string{"gitlab.audit.event_type", "gitlab.audit.category", "security_rule.uuid", "gitlab.detect.indicator", "gitlab.detect.severity", "gitlab.detect.rule_ids", "gitlab.detect.indicators", "threat.technique.id"} {
		parts = append(parts, k+"="+attr(r.record, k))
	}
	parts = append(parts, fmt.Sprintf("severity=%d", r.record.SeverityNumber()))
	return strings.Join(parts, " ")
}

// recordText is everything a record carries, as JSON text.
func recordText(t *testing.T, r sinkRecord) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"resource":   r.resource.Resource().Attributes().AsRaw(),
		"attributes": r.record.Attributes().AsRaw(),
		"body":       r.record.Body().AsRaw(),
		"event_name": r.record.EventName(),
	})
	require.NoError(t, err)
	return string(b)
}

var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	ipv4RE  = regexp.MustCompile(`\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b`)
	hmacRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// TestPrivacyRedaction runs config/privacy.yaml against the simulator, with
// a second pipeline from the same receiver that has no redaction processor:
// no e-mail address or IP address of GitLab's events reaches the backend,
// user ids stay, and every detection is the same as without redaction.
func TestPrivacyRedaction(t *testing.T) {
	bin := collectorBinary(t)
	sim := gitlabsim.New(gitlabsim.Options{
		Tokens:        map[string]gitlabsim.Token{apiToken: {UserID: 1, Admin: true}},
		Seed:          4242,
		SecurityShare: 0.4,
		LegacyShare:   0.1,
	})
	sim.Populate(3, 6)
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	defer func() { _ = sim.Close() }()
	now := time.Now()
	events := sim.GenerateWith(gitlabsim.GenerateOptions{Count: 400, From: now.Add(-50 * time.Minute), To: now.Add(-time.Minute), SavedOnly: true, NoStream: true})

	// The personal data of the input.
	emails, ips := map[string]bool{}, map[string]bool{}
	for _, e := range events {
		for _, m := range emailRE.FindAllString(string(e.RESTJSON), -1) {
			emails[m] = true
		}
		for _, m := range ipv4RE.FindAllString(string(e.RESTJSON), -1) {
			ips[m] = true
		}
	}
	require.NotEmpty(t, emails, "the simulated events carry e-mail addresses")
	require.NotEmpty(t, ips, "the simulated events carry IP addresses")

	private, reference := newLogsSink(t), newLogsSink(t)
	health := freePort(t)
	cfg := shippedConfig(t, "privacy.yaml", map[string]any{
		"extensions::health_check::endpoint":         fmt.Sprintf("127.0.0.1:%d", health),
		"receivers::gitlab_audit::poll_interval":     "10s",
		"receivers::gitlab_audit::initial_lookback":  "1h",
		"receivers::gitlab_audit::collect":           map[string]any{"instance": true, "groups": []any{}, "projects": []any{}},
		"exporters::otlp_http::sending_queue::batch": map[string]any{"flush_timeout": "200ms", "min_size": 100, "max_size": 2000},
		"exporters::otlp_http/reference":             map[string]any{"endpoint": reference.srv.URL, "compression": "none"},
		"service::pipelines::logs/reference": map[string]any{
			"receivers": []any{"gitlab_audit"}, "processors": []any{"memory_limiter", "gitlab_detect"}, "exporters": []any{"otlp_http/reference"},
		},
		"service::telemetry::metrics::level": "none",
	})
	col := newCollector(t, bin, cfg, map[string]string{
		"GITLAB_URL": simSrv.URL, "GITLAB_TOKEN": apiToken,
		"OTLP_ENDPOINT": private.srv.URL, "OTLP_API_KEY": "backend-key",
		"OTELCOL_STORAGE_DIR": t.TempDir(),
		"REDACTION_HMAC_KEY":  "e2e-privacy-hmac-key-0123456789abcdef",
	}, health)
	col.start()

	require.Eventually(t, func() bool {
		return private.count() >= len(events) && reference.count() >= len(events)
	}, 60*time.Second, 100*time.Millisecond, "every event exported on both pipelines; collector log:\n%s", col.log())

	refByID := map[string]sinkRecord{}
	for _, r := range reference.records() {
		refByID[attr(r.record, "gitlab.audit.event.id")] = r
	}
	require.Len(t, refByID, len(events))

	hashOf := map[string]map[string]bool{} // user.id -> user.email hashes
	detected := 0
	for _, r := range private.records() {
		text := recordText(t, r)
		var leaked []string
		for _, m := range emailRE.FindAllString(text, -1) {
			if emails[m] {
				leaked = append(leaked, m)
			}
		}
		for _, m := range ipv4RE.FindAllString(text, -1) {
			if ips[m] {
				leaked = append(leaked, m)
			}
		}
		assert.Empty(t, leaked, "personal data of the input reached the backend: %s", text)

		id := attr(r.record, "gitlab.audit.event.id")
		ref, ok := refByID[id]
		if !assert.True(t, ok, "event %s", id) {
			continue
		}
		// Detections and everything but the hashed values are unchanged.
		assert.Equal(t, detectionAttrs(ref), detectionAttrs(r), "event %s", id)
		assert.Equal(t, attr(ref.record, "user.id"), attr(r.record, "user.id"), "user.id kept")
		assert.Equal(t, attr(ref.record, "gitlab.audit.entity.path"), attr(r.record, "gitlab.audit.entity.path"))
		assert.Equal(t, ref.record.Timestamp(), r.record.Timestamp())
		if attr(r.record, "gitlab.detect.rule_ids") != "" {
			detected++
		}
		for _, k := range []string{"user.email", "client.address"} {
			if v := attr(r.record, k); v != "" {
				assert.Regexp(t, hmacRE, v, "%s is an HMAC", k)
				assert.NotEqual(t, attr(ref.record, k), v)
			}
		}
		if v := attr(r.record, "user.email"); v != "" {
			uid := attr(r.record, "user.id")
			if hashOf[uid] == nil {
				hashOf[uid] = map[string]bool{}
			}
			hashOf[uid][v] = true
		}
	}
	assert.Positive(t, detected, "the flow had detections to compare")
	assert.NotEmpty(t, hashOf, "user.email attributes were hashed, not dropped")
	for uid, hashes := range hashOf {
		assert.Len(t, hashes, 1, "user %s: the same address always gives the same hash", uid)
	}
	t.Logf("%d events, %d with detections; %d e-mail and %d IP addresses in the input, none exported", len(events), detected, len(emails), len(ips))
}
