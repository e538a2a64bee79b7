// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

func val(v any) pcommon.Value {
	out := pcommon.NewValueEmpty()
	if err := out.FromRaw(v); err != nil {
		panic(err)
	}
	return out
}

func TestParseBool(t *testing.T) {
	tests := []struct {
		in     any
		want   bool
		wantOK bool
	}{
		{true, true, true}, {false, false, true},
		{"true", true, true}, {"FALSE", false, true}, {" True ", true, true},
		{int64(1), true, true}, {int64(0), false, true}, {int64(2), false, false},
		{"", false, false}, {"maybe", false, false}, {nil, false, false}, {1.5, false, false},
	}
	for _, tt := range tests {
		got, ok := parseBool(val(tt.in))
		assert.Equal(t, tt.wantOK, ok, "%#v", tt.in)
		assert.Equal(t, tt.want, got, "%#v", tt.in)
	}
}

func TestParseInt(t *testing.T) {
	for in, want := range map[any]int64{int64(48): 48, 720.0: 720, "96": 96, " 8 ": 8} {
		got, ok := parseInt(val(in))
		assert.True(t, ok, "%#v", in)
		assert.Equal(t, want, got)
	}
	for _, in := range []any{"x", 1.5, true, nil, ""} {
		_, ok := parseInt(val(in))
		assert.False(t, ok, "%#v", in)
	}
}

func TestParseVisibility(t *testing.T) {
	tests := map[any]visibility{
		"Public": visPublic, "public": visPublic, "PUBLIC": visPublic, int64(20): visPublic, "20": visPublic, 20.0: visPublic,
		"Internal": visInternal, int64(10): visInternal,
		"private": visPrivate, int64(0): visPrivate,
		"": visUnknown, "secret": visUnknown, int64(30): visUnknown, nil: visUnknown,
	}
	for in, want := range tests {
		assert.Equal(t, want, parseVisibility(val(in)), "%#v", in)
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in     string
		want   role
		wantOK bool
	}{
		{"Default role: Owner", role{name: "owner", level: 50}, true},
		{"default role: maintainer", role{name: "maintainer", level: 40}, true},
		{"Owner", role{name: "owner", level: 50}, true},
		{" Developer ", role{name: "developer", level: 30}, true},
		{"Minimal Access", role{name: "minimal access", level: 5}, true},
		{"40", role{name: "maintainer", level: 40}, true},
		{"Custom role: Security Admin", role{name: "security admin", custom: true}, true},
		{"Release Manager", role{name: "release manager", custom: true}, true},
		{"Default role:", role{}, false},
		{"", role{}, false},
		{"99", role{}, false},
	}
	for _, tt := range tests {
		got, ok := parseRole(tt.in)
		assert.Equal(t, tt.wantOK, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestPromotedTo(t *testing.T) {
	r := func(s string) role { x, _ := parseRole(s); return x }
	assert.True(t, promotedTo(role{}, false, r("Owner")), "new member")
	assert.True(t, promotedTo(r("Developer"), true, r("Default role: Maintainer")), "formats differ")
	assert.True(t, promotedTo(r("Maintainer"), true, r("Default role: Owner")))
	assert.False(t, promotedTo(r("Maintainer"), true, r("Default role: Maintainer")), "expiry change only")
	assert.False(t, promotedTo(r("Owner"), true, r("Default role: Maintainer")), "demotion")
	assert.True(t, promotedTo(r("Developer"), true, r("Custom role: Security Admin")), "custom roles compare by name")
	assert.False(t, promotedTo(r("Custom role: Security Admin"), true, r("Custom role: security admin")))
}

func TestDistinctEmails(t *testing.T) {
	assert.Equal(t, 2, distinctEmails(`["victim@example.com", "attacker@evil.example"]`))
	assert.Equal(t, 1, distinctEmails(`["victim@example.com","Victim@Example.com"]`))
	assert.Equal(t, 2, distinctEmails("victim@example.com", "", "other@example.org"))
	assert.Equal(t, 0, distinctEmails("Andreas", "not an email@"))
}

func eventOf(t *testing.T, lr plog.LogRecord) *event {
	t.Helper()
	e := &event{}
	e.init(lr)
	e.typ, _, _, _ = e.resolveType()
	return e
}

func TestFieldOrder(t *testing.T) {
	lr := plog.NewLogRecord()
	require.NoError(t, lr.Body().SetEmptyMap().FromRaw(map[string]any{
		"author_name": "top-level",
		"details":     map[string]any{"author_name": "details", "target_type": "User", "ip_address": "192.0.2.1", "change": "visibility"},
		"change":      "ignored-when-details-has-it",
		"from":        "Private",
	}))
	e := eventOf(t, lr)
	assert.Equal(t, "top-level", e.str(fieldAuthorName), "top level before details")
	assert.Equal(t, "User", e.str(fieldTargetType), "details when the top level lacks it")
	assert.Equal(t, "visibility", e.detailStr("change"), "details keys come from details")
	assert.Empty(t, e.detailStr("from"), "the top level is not read for details keys when details exist")

	flat := plog.NewLogRecord()
	require.NoError(t, flat.Body().SetEmptyMap().FromRaw(map[string]any{"change": "visibility", "from": "Private"}))
	assert.Equal(t, "Private", eventOf(t, flat).detailStr("from"), "flat shape: details keys at the top level")

	lr.Attributes().PutStr(auditevent.AttrUserName, "attribute")
	lr.Attributes().PutStr(auditevent.AttrClientAddress, "")
	e = eventOf(t, lr)
	assert.Equal(t, "attribute", e.str(fieldAuthorName), "attributes first")
	assert.Equal(t, "192.0.2.1", e.str(fieldClientAddress), "empty attributes are skipped")
}

func TestChangeValuesFromMessage(t *testing.T) {
	lr := plog.NewLogRecord()
	require.NoError(t, lr.Body().SetEmptyMap().FromRaw(map[string]any{
		"details": map[string]any{"custom_message": "Changed visibility_level from Private to Public"},
	}))
	from, to := eventOf(t, lr).changeValues()
	assert.Equal(t, "Private", from.Str())
	assert.Equal(t, "Public", to.Str())

	lr.Body().Map().PutEmptyMap("details").PutStr("custom_message", "Changed require user password to approve from true to false")
	e := eventOf(t, lr)
	from, to = e.changeValues()
	assert.Equal(t, "true", from.Str())
	assert.Equal(t, "false", to.Str())
	from2, _ := e.changeValues()
	assert.Equal(t, from, from2, "computed once")
}

func TestStringBodies(t *testing.T) {
	lr := plog.NewLogRecord()
	lr.Body().SetStr(` {"entity_type":"Project","change":"visibility","from":"Private","to":"Public","author_id":5,"created_at":"2024-06-01T10:00:00Z"}`)
	e := eventOf(t, lr)
	assert.True(t, e.hasBody)
	assert.Equal(t, "project_visibility_level_updated", e.typ)
	assert.Equal(t, "5", e.str(fieldAuthorID), "integers stay integers")

	lr.Body().SetStr("Started Impersonation")
	e = eventOf(t, lr)
	assert.False(t, e.hasBody)
	assert.Empty(t, e.typ)

	lr.Body().SetStr(`{"broken": `)
	assert.False(t, eventOf(t, lr).hasBody)
}

func TestResolveTypePrefersAttribute(t *testing.T) {
	lr := plog.NewLogRecord()
	require.NoError(t, lr.Body().SetEmptyMap().FromRaw(map[string]any{"event_type": "add_ssh_key", "details": map[string]any{}}))
	lr.Attributes().PutStr(attrEventType, "project_group_link_create")
	e := &event{}
	e.init(lr)
	typ, fromBody, _, _ := e.resolveType()
	assert.Equal(t, "project_group_link_create", typ, "the attribute wins; the processor resolves aliases on an index miss")
	assert.False(t, fromBody)

	lr.Attributes().Clear()
	e = &event{}
	e.init(lr)
	typ, fromBody, src, gitlab := e.resolveType()
	assert.Equal(t, "add_ssh_key", typ)
	assert.True(t, fromBody)
	assert.Equal(t, auditevent.SourceEventType, src)
	assert.True(t, gitlab)

	require.NoError(t, lr.Body().SetEmptyMap().FromRaw(map[string]any{"level": "info", "msg": "hello"}))
	e = &event{}
	e.init(lr)
	typ, _, src, gitlab = e.resolveType()
	assert.Equal(t, auditevent.AuditOperation, typ)
	assert.Equal(t, auditevent.SourceDefault, src)
	assert.False(t, gitlab, "not a GitLab event")
}

func TestEventTime(t *testing.T) {
	created := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
	observed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lr := plog.NewLogRecord()
	require.NoError(t, lr.Body().SetEmptyMap().FromRaw(map[string]any{"created_at": "2024-06-01T10:00:00.000Z", "details": map[string]any{}}))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(observed))
	assert.Equal(t, created.UnixNano(), eventOf(t, lr).eventTime(), "created_at when there is no Timestamp")

	lr.SetTimestamp(pcommon.NewTimestampFromTime(created.Add(time.Minute)))
	assert.Equal(t, created.Add(time.Minute).UnixNano(), eventOf(t, lr).eventTime(), "Timestamp first")

	lr.SetTimestamp(0)
	lr.Body().Map().Remove("created_at")
	lr.Body().Map().PutStr("time", "not a time")
	assert.Equal(t, observed.UnixNano(), eventOf(t, lr).eventTime(), "ObservedTimestamp next")

	lr.SetObservedTimestamp(0)
	before := time.Now().UnixNano()
	assert.GreaterOrEqual(t, eventOf(t, lr).eventTime(), before, "now last")
}

func TestSeverityLevels(t *testing.T) {
	for s := SeverityInfo; s <= SeverityCritical; s++ {
		parsed, err := ParseSeverity(s.String())
		require.NoError(t, err)
		assert.Equal(t, s, parsed)
		if s > SeverityInfo {
			assert.Greater(t, s.Number(), (s - 1).Number(), "numbers grow with the level")
			assert.GreaterOrEqual(t, s.Number(), plog.SeverityNumberWarn)
		}
		assert.Equal(t, strings.ToUpper(s.Number().String()), s.Text(), "text is the data model's short name")
	}
	sev, err := ParseSeverity(" high ")
	require.NoError(t, err)
	assert.Equal(t, SeverityHigh, sev)
	_, err = ParseSeverity("SEVERE")
	require.ErrorContains(t, err, `unknown severity "SEVERE"`)
	assert.Equal(t, "Severity(9)", Severity(9).String())
	assert.Equal(t, plog.SeverityNumberUnspecified, Severity(0).Number())
	assert.Empty(t, Severity(0).Text())
}
