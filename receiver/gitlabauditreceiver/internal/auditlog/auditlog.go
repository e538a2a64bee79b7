// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package auditlog turns one GitLab audit event into one OpenTelemetry log
// record. Polled and streamed events both go through Fill, so an event is
// recorded the same way whichever path brought it.
package auditlog // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
)

// Source says which path brought an event: the REST API or a stream.
type Source string

// Sources of events, as written in the gitlab.audit.source attribute.
const (
	SourcePoll   Source = "poll"
	SourceStream Source = "stream"
)

// Attribute names written on every record: the shared vocabulary of
// internal/auditevent, under the names this package has always used.
const (
	AttrEventID         = auditevent.AttrEventID
	AttrEventType       = auditevent.AttrEventType
	AttrEventTypeSource = auditevent.AttrEventTypeSource
	AttrSource          = auditevent.AttrSource
	AttrScope           = auditevent.AttrScope
	AttrEntityType      = auditevent.AttrEntityType
	AttrEntityID        = auditevent.AttrEntityID
	AttrEntityPath      = auditevent.AttrEntityPath
	AttrUserID          = auditevent.AttrUserID
	AttrUserName        = auditevent.AttrUserName
	AttrUserEmail       = auditevent.AttrUserEmail
	AttrAuthorClass     = auditevent.AttrAuthorClass
	AttrTargetType      = auditevent.AttrTargetType
	AttrTargetID        = auditevent.AttrTargetID
	AttrTargetDetails   = auditevent.AttrTargetDetails
	AttrClientAddress   = auditevent.AttrClientAddress
	AttrMessage         = auditevent.AttrMessage
	// AttrIDConflict (bool) marks an event whose id was already emitted
	// with other content (created_at, author, entity or type): it is
	// emitted anyway, marked, since the first delivery may have been forged.
	AttrIDConflict = auditevent.AttrIDConflict

	// EventNamePrefix prefixes the event type in the record's EventName.
	EventNamePrefix = "gitlab.audit."
)

// attrCapacity is the room a record's attributes are given at once: the
// 17 Annotate may write, the receiver's id-conflict mark, and what
// gitlab_detect adds before its rules run (the category, the event type
// when it resolves it again, and at most 13 OCSF and ECS attributes, its
// maxSchemaAttrs). Given 18, every record's attributes were allocated
// twice on the way through gitlab_detect, the second time copied (one
// allocation in 110 per streamed event, in the collector's allocation
// profile under load); 32 of them are one allocation of 1,280 bytes.
const attrCapacity = 32

// Scopes, derived from the event's entity type.
const (
	ScopeInstance = "instance"
	ScopeGroup    = "group"
	ScopeProject  = "project"
)

// Event is what the receiver needs to know of a decoded event.
type Event struct {
	// ID is GitLab's event id as text: a number for events saved to the
	// database, a UUID for stream-only events.
	ID string
	// Key identifies the event for de-duplication: its entity type and
	// its id, e.g. "P:1234" (see key). Keys are held by the thousands, so
	// they are kept small.
	Key string
	// CreatedAt is when GitLab recorded the event.
	CreatedAt time.Time
	// Type is the resolved, canonical event type.
	Type string
}

// Errors for events that cannot be recorded.
var (
	ErrNoID        = errors.New(`the event has no "id"`)
	ErrNoCreatedAt = errors.New(`the event has no "created_at"`)
)

// maxEntityTypeLen bounds the entity type kept in a key: GitLab's are Ruby
// class names ("Gitlab::Audit::InstanceScope" is the longest known).
const maxEntityTypeLen = 128

// eventNames holds "gitlab.audit.<type>" for every catalogued type, so that
// the common case costs no allocation.
var eventNames = func() map[string]string {
	m := make(map[string]string, len(auditevent.All()))
	for _, ti := range auditevent.All() {
		m[ti.Name] = EventNamePrefix + ti.Name
	}
	m[auditevent.AuditOperation] = EventNamePrefix + auditevent.AuditOperation
	return m
}()

// EventName returns the record EventName of an event type.
func EventName(eventType string) string {
	if n, ok := eventNames[eventType]; ok {
		return n
	}
	return EventNamePrefix + eventType
}

// fields are the values of an event that attributes are made of, read
// from the top level first and from details second (streamed events carry
// them at the top level, REST events only in details).
type fields struct {
	id, createdAt, entityID, authorID pcommon.Value
	entityType, entityPath            string
	authorName, ip                    string
	targetType, targetDetails         string
	targetID                          pcommon.Value
	details                           pcommon.Map
	hasDetails                        bool
}

// Fill decodes obj, one GitLab audit event as a JSON object, into lr: the
// body keeps the whole event as sent, and the attributes, timestamps,
// severity and event name are set from it. hint is the event type given by
// the X-Gitlab-Audit-Event-Type header of a streamed request, or "". On
// error lr is left in an unspecified state and must be discarded.
func Fill(lr plog.LogRecord, obj string, src Source, hint string, observed pcommon.Timestamp) (Event, error) {
	if err := jsonpdata.DecodeObject(obj, lr.Body().SetEmptyMap()); err != nil {
		return Event{}, err
	}
	return Annotate(lr, src, hint, observed)
}

// Annotate sets the attributes, timestamps, severity and event name of a
// record whose body already holds a GitLab audit event as a map. Fill
// decodes and annotates; Annotate alone serves records decoded otherwise.
func Annotate(lr plog.LogRecord, src Source, hint string, observed pcommon.Timestamp) (Event, error) {
	if lr.Body().Type() != pcommon.ValueTypeMap {
		return Event{}, errors.New("the event is not a JSON object")
	}
	body := lr.Body().Map()
	var f fields
	body.Range(func(k string, v pcommon.Value) bool {
		switch k {
		case "id":
			f.id = v
		case "created_at":
			f.createdAt = v
		case "entity_id":
			f.entityID = v
		case "entity_type":
			f.entityType = auditevent.ScalarText(v)
		case "entity_path":
			f.entityPath = auditevent.ScalarText(v)
		case "author_id":
			f.authorID = v
		case "author_name":
			f.authorName = auditevent.ScalarText(v)
		case "ip_address":
			f.ip = auditevent.ScalarText(v)
		case "target_type":
			f.targetType = auditevent.ScalarText(v)
		case "target_id":
			f.targetID = v
		case "target_details":
			f.targetDetails = auditevent.ScalarText(v)
		case "details":
			if v.Type() == pcommon.ValueTypeMap {
				f.details, f.hasDetails = v.Map(), true
			}
		}
		return true
	})

	var ev Event
	ev.ID = auditevent.ScalarText(f.id)
	if ev.ID == "" {
		return ev, ErrNoID
	}
	if !validID(ev.ID) {
		return ev, fmt.Errorf(`"id" %s is neither a GitLab event number nor a UUID`, quoteBounded(ev.ID))
	}
	if len(f.entityType) > maxEntityTypeLen {
		return ev, fmt.Errorf(`"entity_type" is longer than %d bytes`, maxEntityTypeLen)
	}
	ca := auditevent.ScalarText(f.createdAt)
	if ca == "" {
		return ev, ErrNoCreatedAt
	}
	t, err := parseCreatedAt(ca)
	if err != nil {
		return ev, err
	}
	ev.CreatedAt = t
	ev.Key = key(f.entityType, ev.ID)

	attrs := lr.Attributes()
	attrs.EnsureCapacity(attrCapacity)
	typ, how := auditevent.ResolveType(body, hint)
	ev.Type = typ

	attrs.PutStr(AttrEventID, ev.ID)
	attrs.PutStr(AttrEventType, typ)
	attrs.PutStr(AttrEventTypeSource, string(how))
	attrs.PutStr(AttrSource, string(src))
	attrs.PutStr(AttrScope, ScopeOf(f.entityType))
	putNonEmpty(attrs, AttrEntityType, f.entityType)
	putNonEmpty(attrs, AttrEntityID, auditevent.ScalarText(f.entityID))

	var email, authorClass, message string
	var messageValue pcommon.Value
	if f.hasDetails {
		f.details.Range(func(k string, v pcommon.Value) bool {
			switch k {
			case "author_email":
				email = auditevent.ScalarText(v)
			case "author_class":
				authorClass = auditevent.ScalarText(v)
			case "custom_message":
				messageValue = v
			case "author_name":
				f.authorName = orElse(f.authorName, auditevent.ScalarText(v))
			case "ip_address":
				f.ip = orElse(f.ip, auditevent.ScalarText(v))
			case "entity_path":
				f.entityPath = orElse(f.entityPath, auditevent.ScalarText(v))
			case "target_type":
				f.targetType = orElse(f.targetType, auditevent.ScalarText(v))
			case "target_details":
				f.targetDetails = orElse(f.targetDetails, auditevent.ScalarText(v))
			case "target_id":
				if auditevent.ScalarText(f.targetID) == "" {
					f.targetID = v
				}
			}
			return true
		})
	}
	if messageValue != (pcommon.Value{}) {
		switch messageValue.Type() {
		case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
			message = string(jsonpdata.AppendJSON(nil, messageValue))
		case pcommon.ValueTypeEmpty:
		default:
			message = messageValue.AsString()
		}
	}

	putNonEmpty(attrs, AttrEntityPath, f.entityPath)
	putNonEmpty(attrs, AttrUserID, auditevent.ScalarText(f.authorID))
	putNonEmpty(attrs, AttrUserName, f.authorName)
	putNonEmpty(attrs, AttrUserEmail, email)
	putNonEmpty(attrs, AttrAuthorClass, authorClass)
	putNonEmpty(attrs, AttrTargetType, f.targetType)
	putNonEmpty(attrs, AttrTargetID, auditevent.ScalarText(f.targetID))
	putNonEmpty(attrs, AttrTargetDetails, f.targetDetails)
	putNonEmpty(attrs, AttrClientAddress, f.ip)
	putNonEmpty(attrs, AttrMessage, message)

	lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
	lr.SetObservedTimestamp(observed)
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetSeverityText("INFO")
	lr.SetEventName(EventName(typ))
	return ev, nil
}

// key returns the de-duplication key of an event: a code for its entity
// type, ":" and its id. The entity types GitLab uses are one letter (P, G,
// U, I for Project, Group, User and the instance); any other is written
// "~" and the type as sent, so no entity type can take another's code
// ("P" is "~P"). The id is a number or a UUID (validID), which holds no
// ":", so the last ":" separates the two and no two (entity type, id)
// pairs share a key.
func key(entityType, id string) string {
	switch entityType {
	case "Project":
		return "P:" + id
	case "Group":
		return "G:" + id
	case "User":
		return "U:" + id
	case "Gitlab::Audit::InstanceScope":
		return "I:" + id
	default:
		return "~" + entityType + ":" + id
	}
}

// LegacyKey converts a key written by an earlier version (the entity type
// as sent, unmarked, for types other than the four coded ones) to the
// current form. It serves the migration of old checkpoints, which ends in
// version 0.3.0 (docs/deployment.md); it goes then.
func LegacyKey(k string) string {
	if len(k) >= 2 && k[1] == ':' && strings.IndexByte("PGUI", k[0]) >= 0 {
		return k
	}
	return "~" + k
}

// maxIDLen bounds a numeric id: GitLab's are 64-bit (at most 20 digits);
// a little room is left for larger ones, kept as text.
const maxIDLen = 32

// validID reports whether id is an id GitLab gives audit events: a
// decimal number (events saved to the database) or a UUID (stream-only
// events), 8-4-4-4-12 hexadecimal digits.
func validID(id string) bool {
	if id == "" {
		return false
	}
	digits := len(id) <= maxIDLen
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			digits = false
			break
		}
	}
	if digits {
		return true
	}
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return false
			}
		}
	}
	return true
}

// quoteBounded quotes a refused value for an error message, cut to a few
// dozen bytes: an answer never echoes a large input.
func quoteBounded(s string) string {
	const limit = 40
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}

// ScopeOf returns the level an event belongs to, from its entity type:
// project, group, or instance (users and the instance itself).
func ScopeOf(entityType string) string {
	switch entityType {
	case "Project":
		return ScopeProject
	case "Group":
		return ScopeGroup
	default:
		return ScopeInstance
	}
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func putNonEmpty(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}
