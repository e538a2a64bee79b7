// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// TestPipeline is the processor side of receiver -> processor -> exporter:
// records built as the gitlab_audit receiver builds them (polled and
// streamed, several resources and scopes) go through the processor
// created by the factory into a consumertest sink.
func TestPipeline(t *testing.T) {
	p, sink := newTestProcessor(t, defaultConfig())

	type input struct {
		rule, name string
		want       []string
	}
	inputs := [][]input{
		{ // poll of group acme
			{"GLD-083", "rest: docs example, group marked for deletion", []string{"GLD-083"}},
			{"GLD-040", "rest: member created as Developer", nil},
			{"GLD-022", "rest: ordinary user with password", nil},
			{"GLD-041", "rest: Developer to Default role: Maintainer", []string{"GLD-041"}},
			{"GLD-007", "rest: docs example, committers prevented from approving", nil},
		},
		{ // streamed
			{"GLD-033", "stream: archive download", nil},
			{"GLD-016", "stream: legacy instance destination destroyed", []string{"GLD-016"}},
			{"GLD-013", "stream: ordinary push", nil},
			{"GLD-044", "legacy: streamed as audit_operation", []string{"GLD-044"}},
		},
	}
	ld := plog.NewLogs()
	var want [][]string
	var ids []string
	for i, batch := range inputs {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("vcs.provider.name", "gitlab")
		rl.Resource().Attributes().PutStr("server.address", "gitlab.example.com")
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver")
		for _, in := range batch {
			lr := appendEvent(t, sl.LogRecords(), fixtureEvent(t, in.rule, in.name), viaReceiver)
			ids = append(ids, attrStr(lr, "gitlab.audit.event.id"))
			want = append(want, in.want)
		}
		if i == 1 {
			// A record that is not a GitLab event at all.
			other := sl.LogRecords().AppendEmpty()
			other.Body().SetStr("health check ok")
			ids = append(ids, "")
			want = append(want, nil)
		}
	}
	in := plog.NewLogs()
	ld.CopyTo(in)
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))

	require.Len(t, sink.AllLogs(), 1)
	out := sink.AllLogs()[0]
	require.Equal(t, in.ResourceLogs().Len(), out.ResourceLogs().Len())
	recs := allRecords(sink)
	require.Len(t, recs, len(want), "records are never dropped")
	for i, lr := range recs {
		assert.Equal(t, ids[i], attrStr(lr, "gitlab.audit.event.id"), "records keep their order")
		assert.Equal(t, want[i], ruleIDs(lr), "record %d (%s)", i, attrStr(lr, attrEventType))
		assert.NotEmpty(t, attrStr(lr, attrCategory), "every record has a category")
	}
	health := recs[len(recs)-1]
	assert.Equal(t, "Other", attrStr(health, attrCategory))
	_, hasType := health.Attributes().Get(attrEventType)
	assert.False(t, hasType, "no event type is made up for non-GitLab records")
	assert.Equal(t, "health check ok", health.Body().Str())
}

func TestBodyOnlyRecordsGetTheEventType(t *testing.T) {
	lr := processOne(t, defaultConfig(), fixtureEvent(t, "GLD-080", "legacy: remove project"), viaBodyString)
	assert.Equal(t, "project_destroyed", attrStr(lr, attrEventType))
	assert.Equal(t, "inferred", attrStr(lr, attrEventTypeSource))
	assert.Equal(t, "Repository", attrStr(lr, attrCategory))
	assert.Equal(t, []string{"GLD-080"}, ruleIDs(lr))

	// The receiver's attributes are left alone.
	lr = processOne(t, defaultConfig(), fixtureEvent(t, "GLD-080", "legacy: remove project"), viaReceiver)
	assert.Equal(t, "project_destroyed", attrStr(lr, attrEventType))
	assert.Equal(t, "inferred", attrStr(lr, attrEventTypeSource))
}

func TestFlatAuditJSONLogLine(t *testing.T) {
	// A line of audit_json.log, as a filelog receiver reads it.
	line := `{"severity":"INFO","time":"2024-06-01T10:00:00.123Z","correlation_id":"01HZ","author_id":1,"author_name":"Administrator","entity_id":7,"entity_type":"Project","change":"visibility","from":"Private","to":"Public","author_class":"User","target_id":7,"target_type":"Project","target_details":"acme/payments","ip_address":"198.51.100.7","entity_path":"acme/payments"}`
	lr := processOne(t, defaultConfig(), []byte(line), viaBodyString)
	assert.Equal(t, "project_visibility_level_updated", attrStr(lr, attrEventType))
	assert.Equal(t, []string{"GLD-030"}, ruleIDs(lr))
}

func TestEveryCatalogedTypeGetsItsCategory(t *testing.T) {
	p, err := newDetectProcessor(defaultConfig(), componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	ld, lrs := newLogs()
	all := auditevent.All()
	for _, ti := range all {
		lr := lrs.AppendEmpty()
		lr.Attributes().PutStr(attrEventType, ti.Name)
	}
	unknown := lrs.AppendEmpty()
	unknown.Attributes().PutStr(attrEventType, "some_future_runner_thing")
	_, err = p.processLogs(context.Background(), ld)
	require.NoError(t, err)
	for i, ti := range all {
		assert.Equal(t, string(ti.Category), attrStr(lrs.At(i), attrCategory), ti.Name)
	}
	assert.Equal(t, "CI/CD", attrStr(unknown, attrCategory), "uncatalogued types are categorised by their name")
}

// TestRulesAreIndexedByEventType checks that a record only meets the rules
// written for its own event type: lookup is one map access, whatever the
// number of rules.
func TestRulesAreIndexedByEventType(t *testing.T) {
	// With a GeoIP database, so that the geo rules are registered too.
	p, err := newDetectProcessor(geoConfig(t), componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	for typ, e := range p.index {
		for _, r := range e.rules {
			assert.Contains(t, ruleTypes(r.meta.id), typ, "%s indexed under %s", r.meta.id, typ)
		}
		for _, w := range e.windows {
			assert.Contains(t, ruleTypes(w.meta.id), typ, "%s indexed under %s", w.meta.id, typ)
		}
	}
	for _, d := range builtinRules {
		for _, typ := range d.EventTypes {
			e := p.index[typ]
			require.NotNil(t, e, typ)
			found := slices.ContainsFunc(e.rules, func(r *statelessRule) bool { return r.meta.id == d.ID }) ||
				slices.ContainsFunc(e.windows, func(w *windowRule) bool { return w.meta.id == d.ID })
			assert.True(t, found, "%s missing under %s", d.ID, typ)
		}
	}
	assert.Empty(t, p.index["project_created"].rules, "a type no rule lists meets no rule")
	assert.Empty(t, p.anyType)
}

func TestBuiltinCatalogueIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	indicators := []string{
		IndicatorSecurityDowngrade, IndicatorDataExposure, IndicatorPrivilegeEscalation, IndicatorPersistentAccess,
		IndicatorSecretExposure, IndicatorDataDestruction, IndicatorCredentialRisk,
	}
	covered := map[string]bool{}
	for _, d := range builtinRules {
		assert.Regexp(t, `^GLD-[0-9]{3}$`, d.ID)
		assert.False(t, seen[d.ID], "duplicate id %s", d.ID)
		seen[d.ID] = true
		assert.NotEmpty(t, d.Name, d.ID)
		assert.Contains(t, indicators, d.Indicator, d.ID)
		covered[d.Indicator] = true
		assert.True(t, d.Severity.valid(), d.ID)
		assert.NotEmpty(t, d.Techniques, d.ID)
		for _, tech := range d.Techniques {
			assert.Regexp(t, techniqueRE, tech, d.ID)
		}
		assert.NotEmpty(t, d.Description, d.ID)
		assert.NotEmpty(t, d.Condition, d.ID)
		assert.NotEmpty(t, d.Reference, d.ID)
		require.NotEmpty(t, d.EventTypes, d.ID)
		for _, typ := range d.EventTypes {
			assert.True(t, auditevent.Known(typ), "%s lists uncatalogued type %q", d.ID, typ)
			assert.Equal(t, typ, auditevent.Canonical(typ), "%s lists alias %q", d.ID, typ)
		}
		if d.Window != windowNone {
			assert.Nil(t, d.match, d.ID)
		}
	}
	for _, ind := range indicators {
		assert.True(t, covered[ind], "no rule for indicator %s", ind)
	}
}

// TestOddValuesNeverPanic replaces every value of every fixture event, one
// at a time, with values of other types (GitLab's fields change type
// between versions: target_id as a path, custom_message as an object,
// from/to as booleans or strings or lists).
func TestOddValuesNeverPanic(t *testing.T) {
	odd := []any{nil, true, int64(-3), 2.5, "", "Default role:", []any{"a", int64(1)}, map[string]any{"k": "v"}}
	p, err := newDetectProcessor(defaultConfig(), componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Join("testdata", "events"))
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		f := loadFixture(t, strings.TrimSuffix(e.Name(), ".json"))
		var events []json.RawMessage
		for _, c := range f.Cases {
			events = append(events, c.Event)
		}
		for _, s := range f.Sequences {
			events = append(events, s.Batches[0][0])
		}
		for _, raw := range events {
			base := decodeEvent(t, raw)
			var paths [][]string
			base.Range(func(k string, v pcommon.Value) bool {
				paths = append(paths, []string{k})
				if v.Type() == pcommon.ValueTypeMap {
					v.Map().Range(func(k2 string, _ pcommon.Value) bool {
						paths = append(paths, []string{k, k2})
						return true
					})
				}
				return true
			})
			for _, path := range paths {
				for _, o := range odd {
					for _, dv := range []delivery{viaReceiver, viaBodyMap} {
						ld, lrs := newLogs()
						lr := lrs.AppendEmpty()
						body := lr.Body().SetEmptyMap()
						base.CopyTo(body)
						m := body
						if len(path) == 2 {
							m = body.PutEmptyMap(path[0])
							orig, _ := base.Get(path[0])
							orig.Map().CopyTo(m)
						}
						require.NoError(t, m.PutEmpty(path[len(path)-1]).FromRaw(o))
						if dv == viaReceiver {
							setReceiverAttributes(lr)
						}
						require.NotPanics(t, func() {
							_, err := p.processLogs(context.Background(), ld)
							require.NoError(t, err)
						}, "%v = %#v", path, o)
						require.Equal(t, 1, ld.LogRecordCount())
						require.NotEmpty(t, attrStr(lrs.At(0), attrCategory))
						n++
					}
				}
			}
		}
	}
	t.Logf("%d mutated events processed", n)
}

func TestAliasAttributesAreResolved(t *testing.T) {
	p, err := newDetectProcessor(defaultConfig(), componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	ld, lrs := newLogs()
	for _, name := range []string{"admin_role_assigned_to_user", "project_group_link_create", "user_profile_visiblity_updated"} {
		lrs.AppendEmpty().Attributes().PutStr(attrEventType, name)
	}
	_, err = p.processLogs(context.Background(), ld)
	require.NoError(t, err)
	assert.Equal(t, []string{"GLD-043"}, ruleIDs(lrs.At(0)), "Datadog's alias name reaches the rule of the current name")
	assert.Equal(t, "Authorization", attrStr(lrs.At(1), attrCategory))
	assert.Equal(t, string(auditevent.CategoryOf("user_profile_visibility_updated")), attrStr(lrs.At(2), attrCategory))
	_, indexed := p.index["user_profile_visiblity_updated"]
	assert.False(t, indexed, "deprecated twins are not index keys")
}
