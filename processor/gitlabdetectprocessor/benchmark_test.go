// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

const benchBatch = 1000

// processorKeys are the attributes the processor writes.
var processorKeys = map[string]bool{
	attrCategory: true, attrRuleUUID: true, attrRuleName: true, attrRuleCategory: true, attrRuleDescription: true,
	attrRuleReference: true, attrRulesetName: true, attrIndicator: true, attrSeverity: true, attrRuleIDs: true,
	attrIndicators: true, attrTechniques: true, attrNote: true, attrTacticIDs: true, attrTactics: true,
	attrGeoCountry: true, attrGeoLocality: true, attrGeoLat: true, attrGeoLon: true, attrASNumber: true, attrASOrg: true,
}

// benchEvent builds a receiver-shaped record body for the benchmark mix.
func benchEvent(b *testing.B, i int, typ string, stream bool, details map[string]any) []byte {
	at := time.Date(2024, 6, 6, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * 700 * time.Millisecond)
	author := 100 + i%97
	d := map[string]any{
		"author_name": fmt.Sprintf("user%d", author), "author_class": "User",
		"target_id": 7 + i%13, "target_type": "Project", "target_details": fmt.Sprintf("acme/repo-%d", i%13),
		"ip_address": "198.51.100.9", "entity_path": fmt.Sprintf("acme/repo-%d", i%13),
	}
	for k, v := range details {
		d[k] = v
	}
	ev := map[string]any{
		"id": 100000 + i, "author_id": author, "entity_id": 7 + i%13, "entity_type": "Project",
		"details": d, "created_at": at.Format(time.RFC3339Nano),
	}
	if stream {
		ev["event_type"] = typ
		for _, k := range []string{"author_name", "entity_path", "ip_address", "target_details", "target_id", "target_type"} {
			ev[k] = d[k]
		}
	} else {
		ev["event_name"] = typ
		d["event_name"] = typ
		d["author_email"] = fmt.Sprintf("user%d@example.com", author)
	}
	return eventJSON(b, ev)
}

// benchLogs builds a batch: mix "realistic" (about 5% of records match a
// rule; most carry a type some rule or window looks at) or "nomatch"
// (types no rule lists).
func benchLogs(b *testing.B, mix string) plog.Logs {
	ld, lrs := newLogs()
	for i := 0; i < benchBatch; i++ {
		var raw []byte
		switch {
		case mix == "nomatch":
			raw = benchEvent(b, i, noRuleTypes[i%len(noRuleTypes)], i%2 == 0, map[string]any{"custom_message": "Changed something"})
		case mix == "evaluated": // types with rules or windows, events that match none
			switch i % 5 {
			case 0:
				raw = benchEvent(b, i, "authenticated_with_password", i%2 == 0, map[string]any{"custom_message": "Signed in with password authentication", "target_type": "User"})
			case 1:
				raw = benchEvent(b, i, "repository_git_operation", true, map[string]any{"custom_message": map[string]any{"protocol": "ssh", "action": "git-receive-pack"}})
			case 2:
				raw = benchEvent(b, i, "member_created", false, map[string]any{"add": "user_access", "as": "Default role: Developer"})
			case 3:
				raw = benchEvent(b, i, "ci_variable_updated", false, map[string]any{"change": "value(hidden)"})
			default:
				raw = benchEvent(b, i, "project_visibility_level_updated", true, map[string]any{"change": "visibility_level", "from": "Public", "to": "Private"})
			}
		case i%20 == 0: // 5%: events that match
			switch (i / 20) % 4 {
			case 0:
				raw = benchEvent(b, i, "deploy_key_added", false, map[string]any{"add": "deploy_key", "custom_message": "Added deploy key"})
			case 1:
				raw = benchEvent(b, i, "project_visibility_level_updated", true, map[string]any{"change": "visibility_level", "from": "Private", "to": "Public"})
			case 2:
				raw = benchEvent(b, i, "personal_access_token_created", false, map[string]any{"custom_message": "Created personal access token with id 1"})
			default:
				raw = benchEvent(b, i, "member_created", false, map[string]any{"add": "user_access", "as": "Default role: Owner"})
			}
		case i%10 < 3: // successful sign-ins: the brute-force window looks them up
			raw = benchEvent(b, i, "authenticated_with_password", i%2 == 0, map[string]any{"custom_message": "Signed in with password authentication", "target_type": "User"})
		case i%10 < 5: // git pushes: the mass-download window looks at them
			raw = benchEvent(b, i, "repository_git_operation", true, map[string]any{"custom_message": map[string]any{"protocol": "ssh", "action": "git-receive-pack"}})
		case i%10 < 6: // membership changes that grant nothing privileged
			raw = benchEvent(b, i, "member_created", false, map[string]any{"add": "user_access", "as": "Default role: Developer"})
		case i%10 < 7: // variable value changes
			raw = benchEvent(b, i, "ci_variable_updated", false, map[string]any{"change": "value(hidden)"})
		default: // types no rule lists
			raw = benchEvent(b, i, "merge_request_merged", i%2 == 0, map[string]any{"custom_message": "Merged merge request"})
		}
		appendEvent(b, lrs, raw, viaReceiver)
	}
	return ld
}

// noRuleTypes are event types no built-in rule lists.
var noRuleTypes = []string{"merge_request_merged", "project_path_updated", "merge_request_approval_operation", "project_archived", "group_created", "comment_deleted"}

func customRules(n int, indexed bool) []CustomRuleConfig {
	var out []CustomRuleConfig
	types := []string{"add_ssh_key", "member_created", "project_destroyed", "ci_variable_updated", "webhook_created"}
	for i := 0; i < n; i++ {
		r := CustomRuleConfig{
			ID: fmt.Sprintf("custom-%02d", i), Name: fmt.Sprintf("Custom %d", i), Indicator: "audit", Severity: "LOW",
			Conditions: []string{fmt.Sprintf(`log.attributes["user.name"] == "svc-%d" and log.attributes["gitlab.audit.event_type"] == %q`, i, types[i%len(types)])},
		}
		if indexed {
			r.EventTypes = []string{types[i%len(types)]}
		}
		out = append(out, r)
	}
	return out
}

// addSyntheticRules registers n more stateless rules, spread over the
// event types that no built-in rule lists, except those of the "nomatch"
// mix: the cost of the mix must not change.
func addSyntheticRules(p *detectProcessor, n int) {
	var types []string
	for typ, e := range p.index {
		if len(e.rules) == 0 && len(e.windows) == 0 && !slices.Contains(noRuleTypes, typ) {
			types = append(types, typ)
		}
	}
	sort.Strings(types)
	for i := 0; i < n && len(types) > 0; i++ {
		e := p.index[types[i%len(types)]]
		e.rules = append(e.rules, &statelessRule{
			meta:  &ruleMeta{id: fmt.Sprintf("SYN-%04d", i), severity: SeverityLow},
			match: func(*event, *ruleEnv) (bool, string) { return false, "" },
		})
	}
}

// BenchmarkProcessLogs measures the processor over batches of receiver
// records; ns/event and allocs/event exclude the copy of the input batch.
func BenchmarkProcessLogs(b *testing.B) {
	cases := []struct {
		name  string
		mix   string
		cfg   func() *Config
		extra int // synthetic rules added on event types absent from the mix
	}{
		{"nomatch", "nomatch", defaultConfig, 0},
		{"nomatch+1000rules", "nomatch", defaultConfig, 1000},
		{"evaluated_nomatch", "evaluated", defaultConfig, 0},
		{"builtin", "realistic", defaultConfig, 0},
		{"builtin+50custom", "realistic", func() *Config {
			c := defaultConfig()
			c.CustomRules = customRules(50, false)
			return c
		}, 0},
		{"builtin+50custom_indexed", "realistic", func() *Config {
			c := defaultConfig()
			c.CustomRules = customRules(50, true)
			return c
		}, 0},
		// Every record's public address located, the geo rules on.
		{"builtin+geoip", "realistic", func() *Config { return geoConfig(b) }, 0},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			p, err := newDetectProcessor(bc.cfg(), componenttest.NewNopTelemetrySettings())
			require.NoError(b, err)
			if p.geo != nil {
				p.geo.start()
				defer p.geo.shutdown()
			}
			addSyntheticRules(p, bc.extra)
			benchProcess(b, p, benchLogs(b, bc.mix))
		})
	}
}

// benchProcess runs p over the batch work, b.N times, and reports
// ns/event and allocs/event. Records are built as the receiver builds them
// (attributes added one by one, so their slices have the spare capacity
// append leaves) and reused: between iterations, outside the timer, what
// the processor wrote is removed again.
func benchProcess(b *testing.B, p *detectProcessor, work plog.Logs) {
	lrs := work.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	reset := func() {
		for i := 0; i < lrs.Len(); i++ {
			lr := lrs.At(i)
			lr.Attributes().RemoveIf(func(k string, _ pcommon.Value) bool { return processorKeys[k] || schemaAttrs[k] })
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
		}
	}
	var ms runtime.MemStats
	var mallocs uint64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		reset()
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		b.StartTimer()
		if _, err := p.processLogs(context.Background(), work); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
		b.StartTimer()
	}
	events := float64(b.N) * benchBatch
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
	b.ReportMetric(float64(mallocs)/events, "allocs/event")
}
