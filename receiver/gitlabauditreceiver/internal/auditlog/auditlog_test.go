// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditlog

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", name))
	require.NoError(t, err)
	return string(b)
}

func elements(t *testing.T, src string) []string {
	t.Helper()
	var out []string
	isArray, err := jsonpdata.ScanArray(src, nil, func(_, _ int, e string) error { out = append(out, e); return nil })
	require.NoError(t, err)
	require.True(t, isArray)
	return out
}

var observed = pcommon.NewTimestampFromTime(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))

func fill(t *testing.T, obj string, src Source, hint string) (plog.LogRecord, Event) {
	t.Helper()
	lr := plog.NewLogRecord()
	ev, err := Fill(lr, obj, src, hint, observed)
	require.NoError(t, err)
	return lr, ev
}

func attrs(lr plog.LogRecord) map[string]any { return lr.Attributes().AsRaw() }

func TestFillRESTMemberCreated(t *testing.T) {
	obj := fixture(t, "rest_member_created.json")
	lr, ev := fill(t, obj, SourcePoll, "")

	assert.Equal(t, Event{
		ID: "1234", Key: "G:1234", Type: "member_created",
		CreatedAt: time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC),
	}, Event{ID: ev.ID, Key: ev.Key, Type: ev.Type, CreatedAt: ev.CreatedAt.UTC()})
	assert.Equal(t, map[string]any{
		AttrEventID:         "1234",
		AttrEventType:       "member_created",
		AttrEventTypeSource: "event_name",
		AttrSource:          "poll",
		AttrScope:           "group",
		AttrEntityType:      "Group",
		AttrEntityID:        "60",
		AttrEntityPath:      "flightjs",
		AttrUserID:          "1",
		AttrUserName:        "Administrator",
		AttrUserEmail:       "admin@example.com",
		AttrAuthorClass:     "User",
		AttrTargetType:      "User",
		AttrTargetID:        "51",
		AttrTargetDetails:   "Andreas",
		AttrClientAddress:   "127.0.0.1",
		AttrMessage:         "Membership created",
	}, attrs(lr))
	assert.Equal(t, "gitlab.audit.member_created", lr.EventName())
	assert.Equal(t, plog.SeverityNumberInfo, lr.SeverityNumber())
	assert.Equal(t, "INFO", lr.SeverityText())
	assert.Equal(t, time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC), lr.Timestamp().AsTime(), "offsets are honoured")
	assert.Equal(t, observed, lr.ObservedTimestamp())

	// Lossless: the body is the whole event, unknown and nested keys included.
	var want map[string]any
	require.NoError(t, json.Unmarshal([]byte(obj), &want))
	assertSameJSON(t, want, lr.Body().Map().AsRaw())
}

// assertSameJSON compares decoded JSON, treating int64 and float64 numbers alike.
func assertSameJSON(t *testing.T, want, got any) {
	t.Helper()
	wb, err := json.Marshal(want)
	require.NoError(t, err)
	gb, err := json.Marshal(got)
	require.NoError(t, err)
	assert.JSONEq(t, string(wb), string(gb))
}

func TestFillRESTInstancePage(t *testing.T) {
	objs := elements(t, fixture(t, "rest_instance_page.json"))
	require.Len(t, objs, 4)
	tests := []struct {
		typ, source, scope, target, ip, msg string
		noEmail                             bool
	}{
		{"audit_events_streaming_instance_headers_create", "event_type", "instance", "32", "127.0.0.1", "Created custom HTTP header with key X-arg.", true},
		{"user_email_address_updated", "inferred", "instance", "51", "", "", false},
		{"group_created", "inferred", "group", "flightjs", "127.0.0.1", "", false},
		{"project_archived", "inferred", "project", "flightjs/flight", "127.0.0.1", "Project archived", false},
	}
	for i, tt := range tests {
		lr, ev := fill(t, objs[i], SourcePoll, "")
		a := attrs(lr)
		assert.Equal(t, tt.typ, ev.Type, i)
		assert.Equal(t, tt.typ, a[AttrEventType], i)
		assert.Equal(t, tt.source, a[AttrEventTypeSource], i)
		assert.Equal(t, tt.scope, a[AttrScope], i)
		assert.Equal(t, tt.target, a[AttrTargetID], i)
		if tt.ip == "" {
			assert.NotContains(t, a, AttrClientAddress, "null ip_address is not an attribute")
		} else {
			assert.Equal(t, tt.ip, a[AttrClientAddress], i)
		}
		if tt.msg == "" {
			assert.NotContains(t, a, AttrMessage)
		} else {
			assert.Equal(t, tt.msg, a[AttrMessage])
		}
		if tt.noEmail {
			assert.NotContains(t, a, AttrUserEmail)
		} else {
			assert.Equal(t, "admin@example.com", a[AttrUserEmail])
		}
	}
}

func TestFillStreamShapes(t *testing.T) {
	lr, ev := fill(t, fixture(t, "stream_git_operation.json"), SourceStream, "repository_git_operation")
	a := attrs(lr)
	assert.Equal(t, "1", ev.ID, "string ids are kept as given")
	assert.Equal(t, "P:1", ev.Key)
	assert.Equal(t, "repository_git_operation", a[AttrEventType])
	assert.Equal(t, "event_type", a[AttrEventTypeSource])
	assert.Equal(t, "stream", a[AttrSource])
	assert.Equal(t, "-3", a[AttrUserID])
	assert.Equal(t, "DeployKey", a[AttrAuthorClass])
	assert.JSONEq(t, `{"protocol":"ssh","action":"git-upload-pack"}`, a[AttrMessage].(string), "object messages become JSON text")
	msg, _ := lr.Body().Map().Get("details")
	cm, _ := msg.Map().Get("custom_message")
	assert.Equal(t, pcommon.ValueTypeMap, cm.Type(), "the body keeps the object")

	objs := elements(t, fixture(t, "stream_batch.json"))
	require.Len(t, objs, 4)
	want := []struct{ id, typ, src string }{
		{"11", "merge_request_approval_operation", "inferred"}, // audit_operation refined from its message
		{"2", "project_group_link_updated", "event_type"},      // renamed type, canonicalised
		{"3", "ci_variable_updated", "event_type"},
		{"5d9b1c1e-3f0a-4a8e-9a57-8f3c0e7c2b11", "repository_git_operation", "event_type"},
	}
	for i, w := range want {
		lr, ev := fill(t, objs[i], SourceStream, "")
		assert.Equal(t, w.id, ev.ID)
		assert.Equal(t, w.typ, ev.Type)
		assert.Equal(t, w.src, attrs(lr)[AttrEventTypeSource])
		assert.Equal(t, "gitlab.audit."+w.typ, lr.EventName())
	}
	// Raw from/to keep their JSON types in the body.
	lr, _ = fill(t, objs[2], SourceStream, "")
	d, _ := lr.Body().Map().Get("details")
	from, _ := d.Map().Get("from")
	assert.Equal(t, pcommon.ValueTypeBool, from.Type())
}

func TestPollAndStreamTagAlike(t *testing.T) {
	// The same event by both paths gets the same attributes but for the source.
	obj := fixture(t, "stream_git_operation.json")
	p, _ := fill(t, obj, SourcePoll, "")
	s, _ := fill(t, obj, SourceStream, "")
	pa, sa := attrs(p), attrs(s)
	assert.Equal(t, "poll", pa[AttrSource])
	delete(pa, AttrSource)
	delete(sa, AttrSource)
	assert.Equal(t, pa, sa)
}

func TestFillHintUsedWhenBodyHasNoName(t *testing.T) {
	lr, ev := fill(t, `{"id":9,"created_at":"2024-01-01T00:00:00Z","details":{}}`, SourceStream, "add_ssh_key")
	assert.Equal(t, "add_ssh_key", ev.Type)
	assert.Equal(t, "header", attrs(lr)[AttrEventTypeSource])
	assert.Equal(t, "instance", attrs(lr)[AttrScope])
}

func TestFillErrors(t *testing.T) {
	for _, tt := range []struct{ obj, msg string }{
		{`{"created_at":"2024-01-01T00:00:00Z"}`, `no "id"`},
		{`{"id":"","created_at":"2024-01-01T00:00:00Z"}`, `no "id"`},
		{`{"id":{"x":1},"created_at":"2024-01-01T00:00:00Z"}`, `no "id"`},
		{`{"id":1}`, `no "created_at"`},
		{`{"id":1,"created_at":"yesterday"}`, `"created_at" "yesterday" is not an RFC 3339 time`},
		{`{"id":1,`, `invalid JSON`},
		{`[1]`, `expected a JSON object`},
	} {
		_, err := Fill(plog.NewLogRecord(), tt.obj, SourceStream, "", observed)
		require.Error(t, err, tt.obj)
		assert.Contains(t, err.Error(), tt.msg)
	}
}

func TestScopeOf(t *testing.T) {
	assert.Equal(t, ScopeProject, ScopeOf("Project"))
	assert.Equal(t, ScopeGroup, ScopeOf("Group"))
	assert.Equal(t, ScopeInstance, ScopeOf("User"))
	assert.Equal(t, ScopeInstance, ScopeOf("Gitlab::Audit::InstanceScope"))
	assert.Equal(t, ScopeInstance, ScopeOf(""))
	assert.Equal(t, "gitlab.audit.something_new", EventName("something_new"))
}
