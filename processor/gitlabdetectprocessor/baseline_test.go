// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kyra-mdr/otelcol-gitlab/processor/gitlabdetectprocessor/internal/metadata"
)

// downloads returns n archive downloads of distinct repositories by one
// author, a second apart from at. extra fields go to details.
func downloads(t testing.TB, id int, name string, at time.Time, n int, extra map[string]any) [][]byte {
	var out [][]byte
	for i := 0; i < n; i++ {
		d := map[string]any{"entity_path": fmt.Sprintf("acme/repo-%02d", i), "custom_message": "Repository Download Started"}
		for k, v := range extra {
			d[k] = v
		}
		out = append(out, restEvent(t, "repository_download_operation", id, name, at.Add(time.Duration(i)*time.Second), d))
	}
	return out
}

// tagged runs one batch and returns, per record, the severity GLD-101
// left ("" when untagged) and the last record.
func tagged(t *testing.T, p processor.Logs, events [][]byte) ([]string, plog.LogRecord) {
	t.Helper()
	ld, lrs := newLogs()
	for _, raw := range events {
		appendEvent(t, lrs, raw, viaReceiver)
	}
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	var out []string
	for i := 0; i < lrs.Len(); i++ {
		sev := ""
		for _, id := range ruleIDs(lrs.At(i)) {
			if id == "GLD-101" {
				sev = attrStr(lrs.At(i), attrSeverity)
			}
		}
		out = append(out, sev)
	}
	return out, lrs.At(lrs.Len() - 1)
}

func count(ss []string, want string) int {
	n := 0
	for _, s := range ss {
		if s == want {
			n++
		}
	}
	return n
}

func TestBaselineLearnsUsualPeak(t *testing.T) {
	p, _ := newTestProcessor(t, defaultConfig())
	day := 24 * time.Hour

	// First burst: no history, so the threshold alone decides.
	sev, last := tagged(t, p, downloads(t, 7, "ci-mirror", t0, 25, nil))
	assert.Equal(t, 6, count(sev, "HIGH"), "events 20 to 25")
	assert.Contains(t, attrStr(last, attrNote), "25 distinct repositories downloaded, exported or cloned by this author within 5m; no history for this author")

	// The same burst the next day is this author's usual: kept at LOW.
	sev, last = tagged(t, p, downloads(t, 7, "ci-mirror", t0.Add(day), 25, nil))
	assert.Equal(t, 0, count(sev, "HIGH"))
	assert.Equal(t, 6, count(sev, "LOW"), "suppressed events keep the rule id at LOW")
	assert.Equal(t, "GLD-101", attrStr(last, attrRuleUUID))
	assert.Equal(t, IndicatorDataExposure, attrStr(last, attrIndicator))
	assert.Contains(t, attrStr(last, attrNote), "this author's usual peak is 25; kept at LOW: not above the usual peak × 1.5")

	// Beyond 1.5 × 25: an alert again, saying both numbers.
	sev, last = tagged(t, p, downloads(t, 7, "ci-mirror", t0.Add(2*day), 40, nil))
	assert.Equal(t, 3, count(sev, "HIGH"), "counts 38 to 40 exceed 37.5")
	assert.Contains(t, attrStr(last, attrNote), "40 distinct repositories downloaded, exported or cloned by this author within 5m; this author's usual peak is 25")

	// Another author with a small usual peak: 24 at once is an alert.
	tagged(t, p, downloads(t, 8, "alice", t0, 3, nil))
	sev, last = tagged(t, p, downloads(t, 8, "alice", t0.Add(day), 24, nil))
	assert.Equal(t, 5, count(sev, "HIGH"))
	assert.Contains(t, attrStr(last, attrNote), "24 distinct repositories downloaded, exported or cloned by this author within 5m; this author's usual peak is 3")
}

func TestBaselineForgetsOldDays(t *testing.T) {
	cfg := defaultConfig()
	cfg.Baseline.Days = 2
	p, _ := newTestProcessor(t, cfg)
	tagged(t, p, downloads(t, 7, "ci", t0, 25, nil))
	sev, _ := tagged(t, p, downloads(t, 7, "ci", t0.Add(5*24*time.Hour), 25, nil))
	assert.Equal(t, 6, count(sev, "HIGH"), "a peak older than baseline.days is forgotten")
}

func TestBaselineDisabled(t *testing.T) {
	cfg := defaultConfig()
	cfg.Baseline.Enabled = false
	p, _ := newTestProcessor(t, cfg)
	tagged(t, p, downloads(t, 7, "ci", t0, 25, nil))
	sev, last := tagged(t, p, downloads(t, 7, "ci", t0.Add(24*time.Hour), 25, nil))
	assert.Equal(t, 6, count(sev, "HIGH"))
	assert.Equal(t, "25 distinct repositories downloaded, exported or cloned by this author within 5m", attrStr(last, attrNote)[len("GLD-101: "):])
}

func TestAutomationThreshold(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*Config)
		id     int
		author string
		extra  map[string]any
		attrs  map[string]any
		why    string
	}{
		{"deploy token", nil, 0, "gitlab+deploy-token-4", map[string]any{"author_class": "DeployToken"}, nil, "author class DeployToken"},
		{"listed account", func(c *Config) { c.Automation.Accounts = []string{"Release-Bot"} }, 41, "release-bot", nil, nil, "listed in automation.accounts"},
		{"bot from enrichment", nil, 42, "svc", nil, map[string]any{"gitlab.author.bot": true}, "bot user"},
		{"service account from enrichment", nil, 43, "svc2", nil, map[string]any{"gitlab.author.user_type": "service_account"}, "user type service_account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			p, _ := newTestProcessor(t, cfg)
			run := func(at time.Time, n int) ([]string, plog.LogRecord) {
				ld, lrs := newLogs()
				for _, raw := range downloads(t, tt.id, tt.author, at, n, tt.extra) {
					lr := appendEvent(t, lrs, raw, viaReceiver)
					for k, v := range tt.attrs {
						require.NoError(t, lr.Attributes().PutEmpty(k).FromRaw(v))
					}
				}
				require.NoError(t, p.ConsumeLogs(context.Background(), ld))
				var out []string
				for i := 0; i < lrs.Len(); i++ {
					if attrStr(lrs.At(i), attrRuleUUID) == "GLD-101" {
						out = append(out, attrStr(lrs.At(i), attrSeverity))
					} else {
						out = append(out, "")
					}
				}
				return out, lrs.At(lrs.Len() - 1)
			}
			// 25 repositories, no history: below the automation threshold (100).
			sev, last := run(t0, 25)
			assert.Equal(t, 6, count(sev, "LOW"))
			assert.Equal(t, 0, count(sev, "HIGH"))
			assert.Contains(t, attrStr(last, attrNote), "automation account ("+tt.why+"), threshold 100; kept at LOW: below the automation threshold")
			// A burst beyond the account's own baseline alerts below the
			// automation threshold.
			sev, _ = run(t0.Add(24*time.Hour), 40)
			assert.Equal(t, 3, count(sev, "HIGH"))
			// At the automation threshold with no baseline margin left, an
			// unseen-before volume alerts too.
			sev, _ = run(t0.Add(48*time.Hour), 100)
			assert.Positive(t, count(sev, "HIGH"))
		})
	}
}

func TestBaselinePersistsInStorage(t *testing.T) {
	dir := t.TempDir()
	storageID := storagetest.NewStorageID("file_storage")
	cfg := defaultConfig()
	cfg.Storage = &storageID
	start := func() processor.Logs {
		host := storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", dir)
		p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, new(consumertest.LogsSink))
		require.NoError(t, err)
		require.NoError(t, p.Start(context.Background(), host))
		return p
	}
	p := start()
	tagged(t, p, downloads(t, 7, "ci", t0, 25, nil))
	require.NoError(t, p.Shutdown(context.Background()))

	p = start()
	sev, last := tagged(t, p, downloads(t, 7, "ci", t0.Add(24*time.Hour), 25, nil))
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, 0, count(sev, "HIGH"), "the baseline survived the restart")
	assert.Contains(t, attrStr(last, attrNote), "usual peak is 25")
}

func TestBaselineStorageMissing(t *testing.T) {
	id := component.MustNewID("file_storage")
	cfg := defaultConfig()
	cfg.Storage = &id
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	require.ErrorContains(t, p.Start(context.Background(), componenttest.NewNopHost()), `storage: extension "file_storage" is not configured`)
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestSuppressedMetric(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	p, err := NewFactory().CreateLogs(context.Background(), set, defaultConfig(), new(consumertest.LogsSink))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()
	tagged(t, p, downloads(t, 7, "ci", t0, 25, nil))
	tagged(t, p, downloads(t, 7, "ci", t0.Add(24*time.Hour), 25, nil))
	tagged(t, p, downloads(t, 0, "gitlab+deploy-token-1", t0, 21, map[string]any{"author_class": "DeployToken"}))

	m, err := tel.GetMetric(metricSuppressed)
	require.NoError(t, err)
	got := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		rule, _ := dp.Attributes.Value(attribute.Key(attrRule))
		reason, _ := dp.Attributes.Value(attribute.Key(attrReason))
		got[rule.AsString()+"/"+reason.AsString()] += dp.Value
	}
	assert.Equal(t, map[string]int64{"GLD-101/baseline": 6, "GLD-101/automation": 2}, got)
}
