// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
	"github.com/kyra-mdr/otelcol-gitlab/processor/gitlabdetectprocessor/internal/metadata"
)

// delivery is how a GitLab event reaches the processor.
type delivery int

const (
	// viaReceiver: a record built as the gitlab_audit receiver builds it
	// (body map, attributes, timestamp).
	viaReceiver delivery = iota
	// viaBodyMap: only the body map, no attributes and no timestamp (OTLP
	// from elsewhere, a filelog with a JSON parser).
	viaBodyMap
	// viaBodyString: the event JSON as a string body (a raw filelog line).
	viaBodyString
)

var deliveries = []struct {
	name string
	d    delivery
}{{"receiver", viaReceiver}, {"body map", viaBodyMap}, {"body string", viaBodyString}}

// decodeEvent decodes GitLab event JSON the way the receiver does: integers
// stay Int values.
func decodeEvent(t testing.TB, raw []byte) pcommon.Map {
	t.Helper()
	m := pcommon.NewMap()
	require.NoError(t, jsonpdata.DecodeObject(string(raw), m))
	return m
}

// newLogs returns logs with the resource and scope the receiver uses.
func newLogs() (plog.Logs, plog.LogRecordSlice) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("vcs.provider.name", "gitlab")
	rl.Resource().Attributes().PutStr("server.address", "gitlab.example.com")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver")
	return ld, sl.LogRecords()
}

// appendEvent appends the GitLab event (raw JSON) to the records, as
// delivered by d.
func appendEvent(t testing.TB, lrs plog.LogRecordSlice, raw []byte, d delivery) plog.LogRecord {
	t.Helper()
	lr := lrs.AppendEmpty()
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)))
	switch d {
	case viaBodyString:
		lr.Body().SetStr(string(raw))
	case viaBodyMap:
		decodeEvent(t, raw).CopyTo(lr.Body().SetEmptyMap())
	case viaReceiver:
		decodeEvent(t, raw).CopyTo(lr.Body().SetEmptyMap())
		setReceiverAttributes(lr)
	}
	return lr
}

// setReceiverAttributes sets what the gitlab_audit receiver sets, per the
// contract between the two components.
func setReceiverAttributes(lr plog.LogRecord) {
	body := auditevent.NewBody(lr.Body().Map())
	get := func(key string) string {
		v, _ := body.Get(key)
		return auditevent.Text(v)
	}
	attrs := lr.Attributes()
	attrs.EnsureCapacity(18) // as the receiver does
	put := func(k, v string) {
		if v != "" {
			attrs.PutStr(k, v)
		}
	}
	typ, src := auditevent.ResolveType(lr.Body().Map(), "")
	lr.SetEventName("gitlab.audit." + typ)
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetSeverityText("INFO")
	if t, err := time.Parse(time.RFC3339Nano, get("created_at")); err == nil {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
	}
	put("gitlab.audit.event.id", get("id"))
	put(attrEventType, typ)
	put(attrEventTypeSource, string(src))
	source := "poll"
	if _, ok := body.Get("event_type"); ok {
		source = "stream"
	}
	put("gitlab.audit.source", source)
	switch get("entity_type") {
	case "Group":
		put("gitlab.audit.scope", "group")
	case "Project":
		put("gitlab.audit.scope", "project")
	default:
		put("gitlab.audit.scope", "instance")
	}
	put(auditevent.AttrEntityType, get("entity_type"))
	put(auditevent.AttrEntityID, get("entity_id"))
	put(auditevent.AttrEntityPath, get("entity_path"))
	put(auditevent.AttrUserID, get("author_id"))
	put(auditevent.AttrUserName, get("author_name"))
	put(auditevent.AttrUserEmail, get("author_email"))
	put("gitlab.audit.author.class", get("author_class"))
	put(auditevent.AttrTargetType, get("target_type"))
	put(auditevent.AttrTargetID, get("target_id"))
	put(auditevent.AttrTargetDetails, get("target_details"))
	put(auditevent.AttrClientAddress, get("ip_address"))
	put(auditevent.AttrMessage, get("custom_message"))
}

// eventJSON marshals an event given as a Go map.
func eventJSON(t testing.TB, ev map[string]any) []byte {
	t.Helper()
	raw, err := json.Marshal(ev)
	require.NoError(t, err)
	return raw
}

// newTestProcessor creates the processor through the factory, with a sink
// as next consumer, and starts it.
func newTestProcessor(t testing.TB, cfg *Config) (processor.Logs, *consumertest.LogsSink) {
	t.Helper()
	sink := new(consumertest.LogsSink)
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p, sink
}

func defaultConfig() *Config { return createDefaultConfig().(*Config) }

// ruleIDs returns the gitlab.detect.rule_ids of a record.
func ruleIDs(lr plog.LogRecord) []string {
	v, ok := lr.Attributes().Get(attrRuleIDs)
	if !ok {
		return nil
	}
	var ids []string
	for i := 0; i < v.Slice().Len(); i++ {
		ids = append(ids, v.Slice().At(i).Str())
	}
	return ids
}

func attrStr(lr plog.LogRecord, key string) string {
	if v, ok := lr.Attributes().Get(key); ok {
		return v.AsString()
	}
	return ""
}

// allRecords flattens the logs received by a sink.
func allRecords(sink *consumertest.LogsSink) []plog.LogRecord {
	var out []plog.LogRecord
	for _, ld := range sink.AllLogs() {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					out = append(out, lrs.At(k))
				}
			}
		}
	}
	return out
}
