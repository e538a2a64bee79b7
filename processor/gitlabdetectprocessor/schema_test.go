// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// schemaEvent is a GitLab REST audit event (details hold the common keys).
func schemaEvent(t *testing.T, typ, entityType string, details map[string]any) []byte {
	t.Helper()
	d := map[string]any{
		"event_name": typ, "author_name": "Alice Nakamura", "ip_address": "198.51.100.7",
		"target_id": 5, "target_type": "Project", "target_details": "acme/api", "entity_path": "acme/api",
	}
	for k, v := range details {
		if v == nil {
			delete(d, k)
			continue
		}
		d[k] = v
	}
	return eventJSON(t, map[string]any{
		"id": 42, "author_id": 7, "entity_id": 3, "entity_type": entityType, "event_name": typ,
		"details": d, "created_at": "2026-06-01T10:00:00Z",
	})
}

// wantSchema is what a record must carry. Zero values of the optional
// attributes mean absent.
type wantSchema struct {
	class, activity, severity, status int
	activityName                      string
	outcome                           string
	users                             []string
	ip                                string
	framework                         bool
}

func checkSchema(t *testing.T, lr plog.LogRecord, w wantSchema, action string) {
	t.Helper()
	attrs := lr.Attributes()
	intAttr := func(key string) (int64, bool) {
		v, ok := attrs.Get(key)
		if !ok {
			return 0, false
		}
		return v.Int(), true
	}
	for key, want := range map[string]int{
		auditevent.AttrOCSFClassUID:    w.class,
		auditevent.AttrOCSFCategoryUID: w.class / 1000,
		auditevent.AttrOCSFActivityID:  w.activity,
		auditevent.AttrOCSFTypeUID:     w.class*100 + w.activity,
		auditevent.AttrOCSFSeverityID:  w.severity,
	} {
		got, ok := intAttr(key)
		assert.True(t, ok, "%s is written", key)
		assert.Equal(t, int64(want), got, key)
	}
	status, ok := intAttr(auditevent.AttrOCSFStatusID)
	assert.Equal(t, w.status != 0, ok, "status_id only where the event says")
	assert.Equal(t, int64(w.status), status)
	assert.Equal(t, auditevent.OCSFVersion, attrStr(lr, auditevent.AttrOCSFVersion))
	assert.Equal(t, w.activityName, attrStr(lr, auditevent.AttrOCSFActivityName))

	assert.Equal(t, action, attrStr(lr, auditevent.AttrEventAction))
	assert.Equal(t, w.outcome, attrStr(lr, auditevent.AttrEventOutcome))
	assert.Equal(t, w.users, sliceAttr(lr, auditevent.AttrRelatedUser))
	assert.Equal(t, w.ip, attrStr(lr, auditevent.AttrRelatedIP))
	if w.framework {
		assert.Equal(t, "MITRE ATT&CK", attrStr(lr, auditevent.AttrThreatFramework))
		assert.NotEmpty(t, sliceAttr(lr, attrTechniques))
	} else {
		assert.Empty(t, attrStr(lr, auditevent.AttrThreatFramework))
	}
}

// TestSchemaPerClass runs one or more events of each OCSF class and
// activity through the processor, in each shape an event arrives in, and
// checks the OCSF and ECS attributes; the severity is the detection's.
func TestSchemaPerClass(t *testing.T) {
	alice, ip := []string{"Alice Nakamura"}, "198.51.100.7"
	tests := []struct {
		name, typ, entity string
		details           map[string]any
		want              wantSchema
	}{
		{"sign-in", "authenticated_with_password", "User",
			map[string]any{"with": "standard", "target_type": "User", "target_details": "Alice Nakamura"},
			wantSchema{class: 3002, activity: 1, severity: 1, status: 1, outcome: "success", users: alice, ip: ip}},
		{"failed sign-in", "login_failed_with_standard_authentication", "User",
			map[string]any{"author_name": "alice", "target_type": "User", "target_details": "alice"},
			wantSchema{class: 3002, activity: 1, severity: 1, status: 2, outcome: "failure", users: []string{"alice"}, ip: ip, framework: true}},
		{"impersonation", "user_impersonation", "User",
			map[string]any{"custom_message": "Started Impersonation", "target_type": "User", "target_details": "Bob Okafor"},
			wantSchema{class: 3002, activity: 7, severity: 3, users: []string{"Alice Nakamura", "Bob Okafor"}, ip: ip, framework: true}},
		{"2FA off", "user_disable_two_factor", "User",
			map[string]any{"custom_message": "Disabled two-factor authentication", "target_type": "User", "target_details": "Bob Okafor"},
			wantSchema{class: 3001, activity: 11, severity: 4, users: []string{"Alice Nakamura", "Bob Okafor"}, ip: ip, framework: true}},
		{"password reset", "password_reset_requested", "User",
			map[string]any{"custom_message": "Ask for password reset", "target_type": "User", "target_details": "Alice Nakamura"},
			wantSchema{class: 3001, activity: 4, severity: 1, users: alice, ip: ip}},
		{"failed token creation", "personal_access_token_created", "User",
			map[string]any{"custom_message": "Attempted to create personal access token but failed with message: Name can't be blank"},
			wantSchema{class: 3001, activity: 99, activityName: "personal_access_token_created", severity: 1, status: 2, outcome: "failure", users: alice, ip: ip}},
		{"group member added as Owner", "member_created", "Group",
			map[string]any{"add": "user_access", "as": "Default role: Owner", "target_type": "User", "target_details": "Bob Okafor"},
			wantSchema{class: 3006, activity: 3, severity: 4, users: []string{"Alice Nakamura", "Bob Okafor"}, ip: ip, framework: true}},
		{"project member added", "member_created", "Project",
			map[string]any{"add": "user_access", "as": "Default role: Developer", "target_type": "User", "target_details": "Bob Okafor"},
			wantSchema{class: 3005, activity: 1, severity: 1, users: []string{"Alice Nakamura", "Bob Okafor"}, ip: ip}},
		{"project member removed", "member_destroyed", "Project",
			map[string]any{"remove": "user_access", "target_type": "User", "target_details": "Bob Okafor"},
			wantSchema{class: 3005, activity: 2, severity: 1, users: []string{"Alice Nakamura", "Bob Okafor"}, ip: ip}},
		{"group shared", "group_share_with_group_link_removed", "Group",
			map[string]any{"target_type": "Group", "target_details": "acme/ops"},
			wantSchema{class: 3006, activity: 2, severity: 1, users: alice, ip: ip}},
		{"project deleted", "project_destroyed", "Group",
			map[string]any{"remove": "project", "custom_message": "Project destroyed"},
			wantSchema{class: 3004, activity: 4, severity: 4, users: alice, ip: ip, framework: true}},
		{"project renamed", "project_path_updated", "Project",
			map[string]any{"change": "path", "from": "api", "to": "api2"},
			wantSchema{class: 3004, activity: 5, severity: 1, users: alice, ip: ip}},
		{"variable read", "variable_viewed_api", "Project",
			map[string]any{"target_type": "Ci::Variable", "target_details": "TOKEN"},
			wantSchema{class: 3004, activity: 2, severity: 2, users: alice, ip: ip, framework: true}},
		{"runner registered", "ci_runner_registered", "Project",
			map[string]any{"custom_message": "Registered project CI runner", "target_type": "Ci::Runner"},
			wantSchema{class: 3004, activity: 6, severity: 3, users: alice, ip: ip, framework: true}},
		{"merge request merged", "merge_request_merged", "Project",
			map[string]any{"custom_message": "Merged merge request"},
			wantSchema{class: 6003, activity: 3, severity: 1, users: alice, ip: ip}},
		{"archive download", "repository_download_operation", "Project",
			map[string]any{"custom_message": "Repository Download Started"},
			wantSchema{class: 6003, activity: 2, severity: 1, users: alice, ip: ip}},
		{"clone", "repository_git_operation", "Project",
			map[string]any{"custom_message": map[string]any{"protocol": "ssh", "action": "git-upload-pack"}},
			wantSchema{class: 6003, activity: 2, severity: 1, users: alice, ip: ip}},
		{"push", "repository_git_operation", "Project",
			map[string]any{"custom_message": map[string]any{"protocol": "http", "action": "git-receive-pack"}},
			wantSchema{class: 6003, activity: 3, severity: 1, users: alice, ip: ip}},
		{"policy violation", "security_policy_violations_detected", "Project",
			map[string]any{"ip_address": nil},
			wantSchema{class: 6003, activity: 99, activityName: "security_policy_violations_detected", severity: 1, users: alice}},
		{"failed sign-in with an e-mail address", "login_failed_with_standard_authentication", "User",
			map[string]any{"author_name": "alice@example.com", "target_type": "User", "target_details": "alice@example.com"},
			wantSchema{class: 3002, activity: 1, severity: 1, status: 2, outcome: "failure", ip: ip, framework: true}},
		{"password reset for a list of addresses", "password_reset_requested", "User",
			map[string]any{"author_name": "An unauthenticated user", "custom_message": "Ask for password reset", "target_type": "User", "target_details": `["erin@example.com","attacker@example.net"]`},
			wantSchema{class: 3001, activity: 4, severity: 5, users: []string{"An unauthenticated user"}, ip: ip, framework: true}}, // GLD-092: two addresses
		{"address that is not an IP", "project_created", "Project",
			map[string]any{"ip_address": "unknown", "author_name": nil},
			wantSchema{class: 3004, activity: 1, severity: 1}},
	}
	for _, tc := range tests {
		for _, d := range deliveries {
			t.Run(tc.name+"/"+d.name, func(t *testing.T) {
				raw := schemaEvent(t, tc.typ, tc.entity, tc.details)
				lr := processOne(t, defaultConfig(), raw, d.d)
				// The severity is the one gitlab_detect wrote.
				if sev := attrStr(lr, attrSeverity); sev != "" {
					s, err := ParseSeverity(sev)
					require.NoError(t, err)
					require.Equal(t, tc.want.severity, int(s), "detected %s", sev)
				}
				checkSchema(t, lr, tc.want, tc.typ)
			})
		}
	}
}

// TestSchemaNotAGitLabEvent: a record that is not a GitLab audit event is
// an OCSF Base Event, and gets no ECS field.
func TestSchemaNotAGitLabEvent(t *testing.T) {
	for name, prepare := range map[string]func(plog.LogRecord){
		"text body": func(lr plog.LogRecord) { lr.Body().SetStr("GET /health 200") },
		"map body":  func(lr plog.LogRecord) { lr.Body().SetEmptyMap().PutStr("msg", "hello") },
		"no body":   func(plog.LogRecord) {},
	} {
		t.Run(name, func(t *testing.T) {
			p, sink := newTestProcessor(t, defaultConfig())
			ld, lrs := newLogs()
			lr := lrs.AppendEmpty()
			lr.Attributes().PutStr("client.address", "198.51.100.7")
			prepare(lr)
			require.NoError(t, p.ConsumeLogs(context.Background(), ld))
			out := allRecords(sink)[0]
			checkSchema(t, out, wantSchema{class: 0, activity: 0, severity: 1}, "")
		})
	}
}

// TestSchemaSwitches: ocsf::enabled and ecs::enabled turn each set off;
// detection is unchanged.
func TestSchemaSwitches(t *testing.T) {
	raw := schemaEvent(t, "user_disable_two_factor", "User", map[string]any{"custom_message": "Disabled two-factor authentication"})
	tests := []struct {
		name      string
		yaml      string
		ocsf, ecs bool
	}{
		{"default", "{}", true, true},
		{"ocsf off", "{ocsf: {enabled: false}}", false, true},
		{"ecs off", "{ecs: {enabled: false}}", true, false},
		{"both off", "{ocsf: {enabled: false}, ecs: {enabled: false}}", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			require.NoError(t, os.WriteFile(path, []byte("gitlab_detect: "+tc.yaml+"\n"), 0o600))
			cm, err := confmaptest.LoadConf(path)
			require.NoError(t, err)
			sub, err := cm.Sub("gitlab_detect")
			require.NoError(t, err)
			cfg := defaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			lr := processOne(t, cfg, raw, viaReceiver)
			var ocsfKeys, ecsKeys []string
			for k := range lr.Attributes().All() {
				switch {
				case strings.HasPrefix(k, "ocsf."):
					ocsfKeys = append(ocsfKeys, k)
				case schemaAttrs[k]:
					ecsKeys = append(ecsKeys, k)
				}
			}
			sort.Strings(ocsfKeys)
			sort.Strings(ecsKeys)
			if tc.ocsf {
				assert.Equal(t, []string{"ocsf.activity_id", "ocsf.category_uid", "ocsf.class_uid", "ocsf.metadata.version", "ocsf.severity_id", "ocsf.type_uid"}, ocsfKeys)
			} else {
				assert.Empty(t, ocsfKeys)
			}
			if tc.ecs {
				assert.Equal(t, []string{"event.action", "related.ip", "related.user", "threat.framework"}, ecsKeys)
			} else {
				assert.Empty(t, ecsKeys)
			}
			assert.Equal(t, []string{"GLD-001"}, ruleIDs(lr), "detection unchanged")
		})
	}
}

// TestSchemaEveryCataloguedType runs one event of every catalogued type
// through the processor: every record carries the catalogue's class, and
// an activity its class defines.
func TestSchemaEveryCataloguedType(t *testing.T) {
	p, sink := newTestProcessor(t, defaultConfig())
	ld, lrs := newLogs()
	types := auditevent.All()
	for _, ti := range types {
		appendEvent(t, lrs, schemaEvent(t, ti.Name, "Project", nil), viaReceiver)
	}
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	recs := allRecords(sink)
	require.Len(t, recs, len(types))
	for i, lr := range recs {
		ti := types[i]
		want := ti.OCSF
		class, _ := lr.Attributes().Get(auditevent.AttrOCSFClassUID)
		activity, _ := lr.Attributes().Get(auditevent.AttrOCSFActivityID)
		if want.Facts() == 0 {
			assert.Equal(t, int64(want.Class), class.Int(), ti.Name)
			assert.Equal(t, int64(want.Activity), activity.Int(), ti.Name)
		}
		_, ok := auditevent.OCSFActivityCaption(auditevent.OCSFClass(class.Int()), int(activity.Int()))
		assert.True(t, ok, "%s: activity %d of class %d", ti.Name, activity.Int(), class.Int())
		assert.Equal(t, auditevent.Canonical(ti.Name), attrStr(lr, auditevent.AttrEventAction), ti.Name)
	}
}

func TestREADMEDocumentsSchema(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	keys := []string{"ocsf.enabled", "ecs.enabled"}
	for k := range schemaAttrs {
		keys = append(keys, k)
	}
	for _, key := range keys {
		assert.Contains(t, string(raw), "| `"+key+"` |", "README.md does not document %s in a table", key)
	}
}

// ocsfCaption renders a classification for the README.
func ocsfCaption(o auditevent.OCSF) string {
	caption, _ := auditevent.OCSFActivityCaption(o.Class, o.Activity)
	return fmt.Sprintf("%d %s", o.Activity, caption)
}

// generateOCSFClasses renders the README's table of classes from the
// catalogue: how many types each class has, and the activities they use.
func generateOCSFClasses() string {
	var b strings.Builder
	b.WriteString("| `ocsf.class_uid` | `ocsf.category_uid` | Catalogued types | `ocsf.activity_id` used |\n")
	b.WriteString("|---|---|---|---|\n")
	count := map[auditevent.OCSFClass]int{}
	acts := map[auditevent.OCSFClass]map[int]string{}
	for _, ti := range auditevent.All() {
		if auditevent.Canonical(ti.Name) != ti.Name {
			continue // a deprecated twin
		}
		count[ti.OCSF.Class]++
		for _, o := range ti.OCSF.Variants() {
			if acts[o.Class] == nil {
				acts[o.Class] = map[int]string{}
			}
			acts[o.Class][o.Activity] = ocsfCaption(o)
		}
	}
	for _, c := range auditevent.OCSFClasses {
		var ids []int
		for id := range acts[c] {
			ids = append(ids, id)
		}
		sort.Ints(ids)
		var parts []string
		for _, id := range ids {
			parts = append(parts, acts[c][id])
		}
		if c == auditevent.OCSFBaseEvent {
			parts = []string{"0 Unknown: records that are not GitLab audit events"}
		}
		fmt.Fprintf(&b, "| %d %s | %d | %d | %s |\n", int(c), c, c.CategoryUID(), count[c], strings.Join(parts, ", "))
	}
	return b.String()
}

// generateOCSFFeatures renders the README's table of GitLab feature
// categories: the class of their types that no name classifies, and the
// classes their types get.
func generateOCSFFeatures() string {
	var b strings.Builder
	b.WriteString("| GitLab feature category | Class of its other types | Its types, by class |\n")
	b.WriteString("|---|---|---|\n")
	byFeature := map[string]map[auditevent.OCSFClass]int{}
	for _, ti := range auditevent.All() {
		if auditevent.Canonical(ti.Name) != ti.Name {
			continue
		}
		if byFeature[ti.FeatureCategory] == nil {
			byFeature[ti.FeatureCategory] = map[auditevent.OCSFClass]int{}
		}
		byFeature[ti.FeatureCategory][ti.OCSF.Class]++
	}
	for _, fc := range sortedKeys(byFeature) {
		var parts []string
		for _, c := range auditevent.OCSFClasses {
			if n := byFeature[fc][c]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", c, n))
			}
		}
		def := auditevent.OCSFFeatureClass(fc)
		fmt.Fprintf(&b, "| `%s` | %d %s | %s |\n", fc, int(def), def, strings.Join(parts, ", "))
	}
	return b.String()
}

// generateOCSFNotable renders the README's table of the types classified
// by name.
func generateOCSFNotable() string {
	var b strings.Builder
	b.WriteString("| Event type | `ocsf.class_uid` | `ocsf.activity_id` | `ocsf.status_id` | Depends on the event |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, name := range auditevent.OCSFNotableTypes() {
		o := auditevent.OCSFOf(name)
		status := "–"
		if o.Status != auditevent.OCSFStatusUnknown {
			status = fmt.Sprintf("%d %s", int(o.Status), o.Status)
		}
		refinement := "–"
		if r := o.Refinement(); r != "" {
			refinement = cell(r)
		}
		fmt.Fprintf(&b, "| `%s` | %d %s | %s | %s | %s |\n", name, int(o.Class), o.Class, ocsfCaption(o), status, refinement)
	}
	return b.String()
}

func init() {
	generatedSections["ocsf-classes"] = generateOCSFClasses
	generatedSections["ocsf-features"] = generateOCSFFeatures
	generatedSections["ocsf-notable"] = generateOCSFNotable
}

// BenchmarkSchema measures what the OCSF and ECS attributes add to a
// record, on the "evaluated" mix of BenchmarkProcessLogs (types with rules
// and windows, nothing matches) and on the "realistic" one: the same
// batches with both schemas on (the default), OCSF only, ECS only, and
// both off.
func BenchmarkSchema(b *testing.B) {
	for _, mix := range []string{"evaluated", "realistic"} {
		for _, sc := range []struct {
			name      string
			ocsf, ecs bool
		}{{"both", true, true}, {"ocsf", true, false}, {"ecs", false, true}, {"off", false, false}} {
			b.Run(mix+"/"+sc.name, func(b *testing.B) {
				cfg := defaultConfig()
				cfg.OCSF.Enabled, cfg.ECS.Enabled = sc.ocsf, sc.ecs
				p, err := newDetectProcessor(cfg, componenttest.NewNopTelemetrySettings())
				require.NoError(b, err)
				benchProcess(b, p, benchLogs(b, mix))
			})
		}
	}
}

// TestCustomRulesReadTheSchema: the classification and ECS fields are
// written before the rules, so a custom rule can test them; the severity
// follows the detection, the custom rule's included.
func TestCustomRulesReadTheSchema(t *testing.T) {
	cfg := defaultConfig()
	cfg.CustomRules = []CustomRuleConfig{{
		ID: "acme-failed-logon", Name: "Failed logon", Indicator: "credential_risk", Severity: "HIGH", Techniques: []string{"T1110"},
		Conditions: []string{`log.attributes["ocsf.class_uid"] == 3002 and log.attributes["event.outcome"] == "failure"`},
	}}
	failed := processOne(t, cfg, schemaEvent(t, "login_failed_with_otp_authentication", "User", nil), viaReceiver)
	assert.Equal(t, []string{"acme-failed-logon", "GLD-095"}, ruleIDs(failed))
	severity, _ := failed.Attributes().Get(auditevent.AttrOCSFSeverityID)
	assert.Equal(t, int64(4), severity.Int(), "HIGH, from the custom rule")

	success := processOne(t, cfg, schemaEvent(t, "authenticated_with_password", "User", nil), viaReceiver)
	assert.Empty(t, ruleIDs(success))
}
