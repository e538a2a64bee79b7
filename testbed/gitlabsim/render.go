// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
)

// timeLayout is how the GitLab API renders times: milliseconds, and Z for UTC.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// reservedDetailKeys are written from the Event fields; the same keys in
// Event.Details are ignored so the JSON never holds a key twice.
var reservedDetailKeys = map[string]bool{
	"event_name": true, "author_name": true, "author_class": true, "author_email": true,
	"target_id": true, "target_type": true, "target_details": true,
	"custom_message": true, "ip_address": true, "entity_path": true,
}

// renderer turns events into GitLab's JSON shapes.
type renderer struct {
	loc         *time.Location
	noEventName bool
}

// renderInput is what a rendering needs: the event and what the store assigned.
type renderInput struct {
	ev        *Event
	id        int64  // database id; 0 for stream-only
	streamID  string // UUID of stream-only events
	eventType string // stream event_type
	createdAt time.Time
}

// appendREST appends the REST rendering (EE::API::Entities::AuditEvent).
func (r renderer) appendREST(b []byte, in renderInput) []byte {
	ev := in.ev
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, in.id, 10)
	b = append(b, `,"author_id":`...)
	b = strconv.AppendInt(b, ev.Author.ID, 10)
	b = append(b, `,"entity_id":`...)
	b = strconv.AppendInt(b, ev.Entity.ID, 10)
	b = append(b, `,"entity_type":`...)
	b = jsonpdata.AppendString(b, ev.Entity.Type)
	// ee/lib/api/entities/audit_event.rb exposes event_name as
	// details.fetch(:event_name, nil): always present, null for events the
	// legacy AuditEventService wrote (absent before GitLab 17.0).
	if !r.noEventName {
		b = append(b, `,"event_name":`...)
		if !ev.Legacy && ev.Type != "" {
			b = jsonpdata.AppendString(b, ev.Type)
		} else {
			b = append(b, "null"...)
		}
	}
	b = append(b, `,"details":`...)
	b = r.appendDetails(b, ev, true)
	b = append(b, `,"created_at":`...)
	b = r.appendTime(b, in.createdAt)
	return append(b, '}')
}

// appendStream appends the streaming payload: the model's as_json plus
// event_type, with the raw details.
func (r renderer) appendStream(b []byte, in renderInput) []byte {
	ev := in.ev
	b = append(b, `{"id":`...)
	if in.id > 0 {
		b = strconv.AppendInt(b, in.id, 10)
	} else {
		b = jsonpdata.AppendString(b, in.streamID)
	}
	b = append(b, `,"author_id":`...)
	b = strconv.AppendInt(b, ev.Author.ID, 10)
	b = append(b, `,"entity_id":`...)
	b = strconv.AppendInt(b, ev.Entity.ID, 10)
	b = append(b, `,"entity_type":`...)
	b = jsonpdata.AppendString(b, ev.Entity.Type)
	b = append(b, `,"details":`...)
	b = r.appendDetails(b, ev, false)
	// app/models/concerns/audit_events/common_model.rb as_json:
	// json['ip_address'] = ip_address.to_s, so "" when unknown, never null.
	b = append(b, `,"ip_address":`...)
	b = jsonpdata.AppendString(b, ev.IPAddress)
	b = append(b, `,"author_name":`...)
	b = jsonpdata.AppendString(b, ev.Author.Name)
	b = append(b, `,"entity_path":`...)
	b = jsonpdata.AppendString(b, ev.Entity.Path)
	b = append(b, `,"target_details":`...)
	b = jsonpdata.AppendString(b, ev.Target.Details)
	b = append(b, `,"created_at":`...)
	b = r.appendTime(b, in.createdAt)
	b = append(b, `,"target_type":`...)
	b = jsonpdata.AppendString(b, ev.Target.Type)
	b = append(b, `,"target_id":`...)
	b = appendValue(b, ev.Target.ID)
	b = append(b, `,"event_type":`...)
	b = jsonpdata.AppendString(b, in.eventType)
	return append(b, '}')
}

// appendDetails writes the details object. rest selects the REST form
// (formatted_details: from/to as strings, author_email added).
func (r renderer) appendDetails(b []byte, ev *Event, rest bool) []byte {
	b = append(b, '{')
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	if !r.noEventName && !ev.Legacy && ev.Type != "" {
		sep()
		b = append(b, `"event_name":`...)
		b = jsonpdata.AppendString(b, ev.Type)
	}
	var keyBuf [16]string
	keys := keyBuf[:0]
	for k := range ev.Details {
		if !reservedDetailKeys[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := ev.Details[k]
		sep()
		b = jsonpdata.AppendString(b, k)
		b = append(b, ':')
		if rest && (k == "from" || k == "to") {
			b = jsonpdata.AppendString(b, rubyToS(v))
		} else {
			b = appendValue(b, v)
		}
	}
	sep()
	b = append(b, `"author_name":`...)
	b = jsonpdata.AppendString(b, ev.Author.Name)
	if !ev.Legacy {
		b = append(b, `,"author_class":`...)
		b = jsonpdata.AppendString(b, ev.Author.Class)
	}
	b = append(b, `,"target_id":`...)
	b = appendValue(b, ev.Target.ID)
	b = append(b, `,"target_type":`...)
	b = jsonpdata.AppendString(b, ev.Target.Type)
	b = append(b, `,"target_details":`...)
	b = jsonpdata.AppendString(b, ev.Target.Details)
	if ev.CustomMessage != nil {
		b = append(b, `,"custom_message":`...)
		b = appendValue(b, ev.CustomMessage)
	}
	b = append(b, `,"ip_address":`...)
	b = appendNullableString(b, ev.IPAddress)
	b = append(b, `,"entity_path":`...)
	b = jsonpdata.AppendString(b, ev.Entity.Path)
	if rest {
		b = append(b, `,"author_email":`...)
		b = appendNullableString(b, ev.Author.Email)
	}
	return append(b, '}')
}

func (r renderer) appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	if r.loc == time.UTC {
		b = appendUTCMillis(b, t.UTC())
	} else {
		b = t.In(r.loc).AppendFormat(b, timeLayout)
	}
	return append(b, '"')
}

// appendUTCMillis is t.AppendFormat(b, timeLayout) for UTC times, without
// the layout parsing (it renders millions of timestamps).
func appendUTCMillis(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, timeLayout)
	}
	ms := t.Nanosecond() / 1e6
	return append(b,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-',
		byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// rubyToS renders a value the way Ruby's to_s does, which is how GitLab
// turns from/to into strings in REST responses.
func rubyToS(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatFloat(x, 'f', 1, 64)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []string:
		b := []byte{'['}
		for i, s := range x {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = jsonpdata.AppendString(b, s)
		}
		return string(append(b, ']'))
	default:
		return string(appendValue(nil, v))
	}
}

func appendNullableString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return jsonpdata.AppendString(b, s)
}

// appendValue appends v as JSON. Common types are written directly; others
// go through encoding/json.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return jsonpdata.AppendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case []string:
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonpdata.AppendString(b, s)
		}
		return append(b, ']')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonpdata.AppendString(b, k)
			b = append(b, ':')
			b = appendValue(b, x[k])
		}
		return append(b, '}')
	case json.RawMessage:
		if len(x) == 0 {
			return append(b, "null"...)
		}
		return append(b, x...)
	case time.Time:
		b = append(b, '"')
		b = x.UTC().AppendFormat(b, timeLayout)
		return append(b, '"')
	default:
		enc, err := json.Marshal(v)
		if err != nil {
			return jsonpdata.AppendString(b, fmt.Sprint(v))
		}
		return append(b, enc...)
	}
}

// arena hands out byte slices carved from large blocks, so a million
// rendered events cost a few hundred allocations instead of two million.
type arena struct {
	block []byte
}

const arenaBlockSize = 1 << 20

// copy returns a capacity-clipped copy of p that lives in the arena.
func (a *arena) copy(p []byte) []byte {
	if len(p) > arenaBlockSize/4 {
		return slices.Clone(p)
	}
	if cap(a.block)-len(a.block) < len(p) {
		a.block = make([]byte, 0, arenaBlockSize)
	}
	n := len(a.block)
	a.block = append(a.block, p...)
	return a.block[n : n+len(p) : n+len(p)]
}
