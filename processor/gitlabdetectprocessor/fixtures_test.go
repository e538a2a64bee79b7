// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// Fixtures: testdata/events/<rule id>.json holds, for a stateless rule,
// cases (one event each, expected to match the rule or not) and, for a
// windowed rule, sequences (events in batches, and which of them the rule
// must tag). Events are GitLab audit events in one of three shapes:
//
//   - rest: as the REST API returns them (event_name, details.event_name,
//     from/to as strings, author_email);
//   - stream: as audit event streaming posts them (top-level event_type,
//     author_name, entity_path, ip_address, target_*; raw from/to);
//   - legacy: without an event name (legacy AuditEventService, instances
//     older than 17.0, or streamed as event_type audit_operation).

type fixtureFile struct {
	Rule string `json:"rule"`
	// GeoIP runs the fixture with a database of testbed/geodb's World
	// (geoip_test.go).
	GeoIP     bool              `json:"geoip"`
	Cases     []fixtureCase     `json:"cases"`
	Sequences []fixtureSequence `json:"sequences"`
}

type fixtureCase struct {
	Name  string `json:"name"`
	Shape string `json:"shape"`
	Match bool   `json:"match"`
	// Enrichment holds record attributes the receiver's lookups would
	// write (gitlab.enrichment.status, gitlab.token.*, ...), set on the
	// record whatever the delivery.
	Enrichment map[string]any `json:"enrichment"`
	// Severity, when set, is the rule's expected severity on a match
	// (graded rules).
	Severity string          `json:"severity"`
	Event    json.RawMessage `json:"event"`
}

type fixtureSequence struct {
	Name    string              `json:"name"`
	Shape   string              `json:"shape"`
	Batches [][]json.RawMessage `json:"batches"`
	Tagged  [][2]int            `json:"tagged"`
}

var shapes = []string{"rest", "stream", "legacy"}

func loadFixture(t *testing.T, id string) fixtureFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "events", id+".json"))
	require.NoError(t, err, "every built-in rule needs a fixture file")
	var f fixtureFile
	require.NoError(t, json.Unmarshal(raw, &f))
	require.Equal(t, id, f.Rule)
	return f
}

// checkShape verifies that a fixture event really has the shape it claims.
func checkShape(t *testing.T, shape string, raw json.RawMessage) {
	t.Helper()
	var ev map[string]any
	require.NoError(t, json.Unmarshal(raw, &ev))
	details, _ := ev["details"].(map[string]any)
	require.NotNil(t, details, "GitLab events have details")
	_, hasEventName := ev["event_name"]
	_, hasDetailsName := details["event_name"]
	eventType, hasEventType := ev["event_type"]
	switch shape {
	case "rest":
		assert.True(t, hasEventName, "REST events carry event_name")
		assert.False(t, hasEventType, "REST events carry no event_type")
		assert.Contains(t, details, "author_email", "REST adds author_email")
		for _, k := range []string{"from", "to"} {
			if v, ok := details[k]; ok {
				assert.IsType(t, "", v, "REST renders %s as a string", k)
			}
		}
	case "stream":
		assert.True(t, hasEventType, "streamed events carry event_type")
		for _, k := range []string{"author_name", "entity_path", "ip_address", "target_type", "target_id", "target_details"} {
			assert.Contains(t, ev, k, "streamed events carry %s at the top level", k)
		}
		assert.NotContains(t, details, "author_email")
	case "legacy":
		assert.False(t, hasEventName, "legacy events carry no event_name")
		assert.False(t, hasDetailsName, "legacy events carry no details.event_name")
		if hasEventType {
			assert.Equal(t, auditevent.AuditOperation, eventType, "legacy streamed events are audit_operation")
		}
	default:
		t.Fatalf("unknown shape %q", shape)
	}
}

// restPossible reports whether some event type of the rule is saved to the
// database, so that the REST API can return it.
func restPossible(d ruleDef) bool {
	for _, typ := range d.EventTypes {
		if ti, ok := auditevent.Lookup(typ); !ok || ti.SavedToDatabase {
			return true
		}
	}
	return false
}

func TestEveryRuleHasFixtures(t *testing.T) {
	for _, d := range builtinRules {
		t.Run(d.ID, func(t *testing.T) {
			f := loadFixture(t, d.ID)
			want := []string{"stream"}
			if restPossible(d) {
				want = append(want, "rest")
			}
			if d.NoLegacy == "" {
				want = append(want, "legacy")
			}
			have := map[string]map[bool]bool{}
			note := func(shape string, match bool) {
				if have[shape] == nil {
					have[shape] = map[bool]bool{}
				}
				have[shape][match] = true
			}
			if d.Window != windowNone {
				require.Empty(t, f.Cases, "windowed rules use sequences")
				for _, s := range f.Sequences {
					note(s.Shape, len(s.Tagged) > 0)
				}
			} else {
				require.Empty(t, f.Sequences, "stateless rules use cases")
				for _, c := range f.Cases {
					note(c.Shape, c.Match)
				}
			}
			for _, shape := range want {
				assert.True(t, have[shape][true], "no positive %s fixture", shape)
				assert.True(t, have[shape][false], "no negative %s fixture", shape)
			}
			if d.NoLegacy != "" {
				assert.Empty(t, have["legacy"], "the rule says legacy events cannot match: %s", d.NoLegacy)
			}
		})
	}
}

func TestRuleFixtures(t *testing.T) {
	for _, d := range builtinRules {
		if d.Window != windowNone {
			continue
		}
		f := loadFixture(t, d.ID)
		for _, c := range f.Cases {
			for _, dv := range deliveries {
				t.Run(fmt.Sprintf("%s/%s/%s", d.ID, c.Name, dv.name), func(t *testing.T) {
					checkShape(t, c.Shape, c.Event)
					p, sink := newTestProcessor(t, defaultConfig())
					ld, lrs := newLogs()
					lr := appendEvent(t, lrs, c.Event, dv.d)
					for k, v := range c.Enrichment {
						require.NoError(t, lr.Attributes().PutEmpty(k).FromRaw(v))
					}
					require.NoError(t, p.ConsumeLogs(context.Background(), ld))
					recs := allRecords(sink)
					require.Len(t, recs, 1)
					ids := ruleIDs(recs[0])
					if c.Match {
						assert.Contains(t, ids, d.ID)
						assertDetection(t, recs[0])
						if c.Severity != "" {
							assert.Equal(t, c.Severity, severityOf(t, recs[0], d.ID), "severity of %s", d.ID)
						}
					} else {
						assert.NotContains(t, ids, d.ID)
					}
					assert.NotEmpty(t, attrStr(recs[0], attrCategory))
					typ := attrStr(recs[0], attrEventType)
					for _, other := range ids {
						assert.Contains(t, ruleTypes(other), typ, "rule %s matched an event type it does not list", other)
					}
				})
			}
		}
	}
}

func TestWindowedRuleFixtures(t *testing.T) {
	for _, d := range builtinRules {
		if d.Window == windowNone {
			continue
		}
		f := loadFixture(t, d.ID)
		for _, s := range f.Sequences {
			for _, dv := range deliveries {
				t.Run(fmt.Sprintf("%s/%s/%s", d.ID, s.Name, dv.name), func(t *testing.T) {
					cfg := defaultConfig()
					if f.GeoIP {
						cfg = geoConfig(t)
					}
					p, sink := newTestProcessor(t, cfg)
					for _, batch := range s.Batches {
						ld, lrs := newLogs()
						for _, raw := range batch {
							if s.Shape == "legacy" {
								// Windowed legacy sequences may mix named events in;
								// the events without a name must look legacy.
								checkLegacyIfUnnamed(t, raw)
							} else {
								checkShape(t, s.Shape, raw)
							}
							appendEvent(t, lrs, raw, dv.d)
						}
						require.NoError(t, p.ConsumeLogs(context.Background(), ld))
					}
					require.Len(t, sink.AllLogs(), len(s.Batches), "one output batch per input batch")
					tagged := [][2]int{}
					for b, ld := range sink.AllLogs() {
						lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
						require.Equal(t, len(s.Batches[b]), lrs.Len(), "records are never dropped")
						for i := 0; i < lrs.Len(); i++ {
							if slices.Contains(ruleIDs(lrs.At(i)), d.ID) {
								tagged = append(tagged, [2]int{b, i})
								assertDetection(t, lrs.At(i))
								assert.NotEmpty(t, attrStr(lrs.At(i), attrNote), "windowed detections explain themselves")
							}
						}
					}
					assert.Equal(t, append([][2]int{}, s.Tagged...), tagged)
				})
			}
		}
	}
}

func checkLegacyIfUnnamed(t *testing.T, raw json.RawMessage) {
	var ev map[string]any
	require.NoError(t, json.Unmarshal(raw, &ev))
	_, named := ev["event_name"]
	if et, ok := ev["event_type"]; ok && et != auditevent.AuditOperation {
		named = true
	}
	if !named {
		checkShape(t, "legacy", raw)
	}
}

// assertDetection checks the attributes every matching record carries.
func assertDetection(t *testing.T, lr plog.LogRecord) {
	t.Helper()
	ids := ruleIDs(lr)
	require.NotEmpty(t, ids)
	assert.Equal(t, ids[0], attrStr(lr, attrRuleUUID), "the top rule comes first")
	assert.NotEmpty(t, attrStr(lr, attrRuleName))
	assert.NotEmpty(t, attrStr(lr, attrRuleReference))
	assert.Equal(t, defaultRulesetName, attrStr(lr, attrRulesetName))
	assert.Equal(t, attrStr(lr, attrIndicator), attrStr(lr, attrRuleCategory))
	tech, ok := lr.Attributes().Get(attrTechniques)
	require.True(t, ok)
	assert.Positive(t, tech.Slice().Len())
	sev, err := ParseSeverity(attrStr(lr, attrSeverity))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, lr.SeverityNumber(), sev.Number(), "severity raised to the rule's level")
	assert.NotEmpty(t, lr.SeverityText())
}

func ruleTypes(id string) []string {
	for _, d := range builtinRules {
		if d.ID == id {
			return d.EventTypes
		}
	}
	return nil
}

func TestFixtureNamesMentionShape(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "events"))
	require.NoError(t, err)
	for _, e := range entries {
		f := loadFixture(t, strings.TrimSuffix(e.Name(), ".json"))
		for _, c := range f.Cases {
			assert.True(t, strings.HasPrefix(c.Name, c.Shape+":"), "%s: case %q should start with its shape", f.Rule, c.Name)
			assert.Contains(t, shapes, c.Shape)
		}
		for _, s := range f.Sequences {
			assert.True(t, strings.HasPrefix(s.Name, s.Shape+":"), "%s: sequence %q should start with its shape", f.Rule, s.Name)
			assert.Contains(t, shapes, s.Shape)
		}
	}
}

// fixtureEvent returns the event of a named fixture case.
func fixtureEvent(t testing.TB, rule, name string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "events", rule+".json"))
	require.NoError(t, err)
	var f fixtureFile
	require.NoError(t, json.Unmarshal(raw, &f))
	for _, c := range f.Cases {
		if c.Name == name {
			return c.Event
		}
	}
	t.Fatalf("%s has no case %q", rule, name)
	return nil
}

// severityOf returns the severity a rule has on a record: the record's
// when the rule is the top rule, else the rule's own.
func severityOf(t *testing.T, lr plog.LogRecord, id string) string {
	t.Helper()
	if attrStr(lr, attrRuleUUID) == id {
		return attrStr(lr, attrSeverity)
	}
	for _, d := range builtinRules {
		if d.ID == id {
			return d.Severity.String()
		}
	}
	t.Fatalf("unknown rule %s", id)
	return ""
}
