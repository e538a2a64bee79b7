// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
)

// siemSection returns the "Send to your SIEM" section of docs/deployment.md.
func siemSection(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "deployment.md"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?s)\n## Send to your SIEM\n(.*?)\n## `).FindStringSubmatch(string(raw))
	require.NotNil(t, m, "docs/deployment.md has a section \"Send to your SIEM\"")
	return m[1]
}

func mapAt(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m, _ = m[k].(map[string]any)
	}
	return m
}

// TestSIEMGatewayConfigs checks the gateway configurations of "Send to
// your SIEM" without an otelcol-contrib to run them (none is on these
// machines): one per target, every component a pipeline names is
// defined, every exporter queues on storage (the gateway answers our
// exporter only once a batch is on its disk), the extensions components
// use are listed, and the OTTL of the transform processors parses and
// does what the text says, run with the contrib OTTL library on a record
// as gitlab_detect writes it.
func TestSIEMGatewayConfigs(t *testing.T) {
	section := siemSection(t)
	targets := map[string]bool{}
	var transforms []map[string]any
	for i, block := range yamlBlocks(section) {
		for _, cfg := range collectorConfigs(block) {
			name := fmt.Sprintf("block %d", i+1)
			service := mapAt(cfg, "service")
			extensions := strList(service["extensions"])
			defined := func(kind, id string) map[string]any {
				c, ok := mapAt(cfg, kind)[id]
				assert.True(t, ok, "%s: %s %q is not defined", name, kind, id)
				m, _ := c.(map[string]any)
				return m
			}
			usesExtension := func(what, id string) {
				defined("extensions", id)
				assert.Contains(t, extensions, id, "%s: %s uses extension %q, not listed in service::extensions", name, what, id)
			}
			pipelines := mapAt(service, "pipelines")
			require.NotEmpty(t, pipelines, name)
			for pname, p := range pipelines {
				pl, _ := p.(map[string]any)
				for _, id := range strList(pl["receivers"]) {
					rc := defined("receivers", id)
					for _, proto := range mapAt(rc, "protocols") {
						if auth, _ := mapAt(proto.(map[string]any), "auth")["authenticator"].(string); auth != "" {
							usesExtension("receiver "+id, auth)
						}
					}
				}
				for _, id := range strList(pl["processors"]) {
					pc := defined("processors", id)
					if typeOf(id) == "transform" {
						transforms = append(transforms, pc)
					}
				}
				exporters := strList(pl["exporters"])
				require.NotEmpty(t, exporters, "%s: pipeline %s", name, pname)
				for _, id := range exporters {
					ec := defined("exporters", id)
					targets[typeOf(id)] = true
					q := mapAt(ec, "sending_queue")
					assert.Equal(t, true, q["enabled"], "%s: exporter %s queues", name, id)
					if storage, _ := q["storage"].(string); assert.NotEmpty(t, storage, "%s: exporter %s queues on disk", name, id) {
						usesExtension("exporter "+id, storage)
					}
				}
			}
		}
	}
	for _, want := range []string{"splunk_hec", "elasticsearch", "syslog", "awss3", "chronicle"} {
		assert.True(t, targets[want], "a gateway configuration exports with %s", want)
	}
	assert.Equal(t, "ecs", mapAt(gatewayExporter(t, section, "elasticsearch"), "mapping")["mode"], "Elasticsearch in ECS mapping mode")
	syslog := gatewayExporter(t, section, "syslog")
	assert.Equal(t, "rfc5424", syslog["protocol"])
	assert.Equal(t, false, mapAt(syslog, "tls")["insecure"], "syslog over TLS")

	require.Len(t, transforms, 1, "the syslog gateway builds its message with a transform processor")
	checkSyslogTransform(t, transforms[0])
}

// gatewayExporter returns the configuration of the exporter of that type
// in the section's gateway configurations.
func gatewayExporter(t *testing.T, section, typ string) map[string]any {
	t.Helper()
	for _, block := range yamlBlocks(section) {
		for _, cfg := range collectorConfigs(block) {
			for id, c := range mapAt(cfg, "exporters") {
				if typeOf(id) == typ {
					m, _ := c.(map[string]any)
					return m
				}
			}
		}
	}
	t.Fatalf("no gateway exports with %s", typ)
	return nil
}

// checkSyslogTransform runs the syslog gateway's OTTL statements on a
// record as this distribution exports it.
func checkSyslogTransform(t *testing.T, transform map[string]any) {
	t.Helper()
	groups, _ := transform["log_statements"].([]any)
	require.Len(t, groups, 1)
	group, _ := groups[0].(map[string]any)
	assert.Equal(t, "log", group["context"])
	statements := strList(group["statements"])
	require.NotEmpty(t, statements)

	set := componenttest.NewNopTelemetrySettings()
	parser, err := ottllog.NewParser(ottlfuncs.StandardFuncs[*ottllog.TransformContext](), set, ottllog.EnablePathContextNames())
	require.NoError(t, err)
	parsed, err := parser.ParseStatements(statements)
	require.NoError(t, err, "the OTTL of the syslog gateway parses")
	seq := ottllog.NewStatementSequence(parsed, set, ottllog.WithStatementSequenceErrorMode(ottl.PropagateError))

	for _, tc := range []struct {
		severity plog.SeverityNumber
		priority int64
	}{
		{plog.SeverityNumberInfo4, 110}, // no detection: facility 13, informational
		{plog.SeverityNumberWarn3, 108}, // MEDIUM: warning
		{plog.SeverityNumberError, 107}, // HIGH: error
		{plog.SeverityNumberFatal, 106}, // CRITICAL: critical
	} {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("server.address", "gitlab.example.com")
		sl := rl.ScopeLogs().AppendEmpty()
		lr := sl.LogRecords().AppendEmpty()
		lr.SetSeverityNumber(tc.severity)
		lr.Attributes().PutStr("gitlab.audit.event_type", "user_disable_two_factor")
		lr.Attributes().PutInt("ocsf.class_uid", 3001)
		require.NoError(t, lr.Body().SetEmptyMap().FromRaw(map[string]any{
			"id": 1, "event_name": "user_disable_two_factor", "details": map[string]any{"custom_message": "Disabled two-factor\nauthentication"},
		}))
		require.NoError(t, seq.Execute(context.Background(), ottllog.NewTransformContext(rl, sl, lr)))

		attrs := lr.Attributes()
		priority, _ := attrs.Get("priority")
		assert.Equal(t, tc.priority, priority.Int(), "severity %s", tc.severity)
		appname, _ := attrs.Get("appname")
		assert.Equal(t, "gitlab-audit", appname.Str())
		hostname, _ := attrs.Get("hostname")
		assert.Equal(t, "gitlab.example.com", hostname.Str())
		message, _ := attrs.Get("message")
		assert.NotContains(t, message.Str(), "\n", "one line")
		var decoded map[string]any
		require.NoError(t, json.Unmarshal([]byte(message.Str()), &decoded), "the message is JSON: %s", message.Str())
		assert.Equal(t, "user_disable_two_factor", decoded["gitlab.audit.event_type"])
		assert.InDelta(t, 3001, decoded["ocsf.class_uid"], 0)
		body, _ := decoded["body"].(map[string]any)
		assert.Equal(t, "user_disable_two_factor", body["event_name"], "the GitLab event is in the message")
		assert.NotContains(t, decoded, "message", "the message holds the attributes as they were, not the syslog fields")
	}
}
