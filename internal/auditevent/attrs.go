// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditevent

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
)

// Record attributes: the gitlab_audit receiver writes them on every record
// (when the event has the value), gitlab_detect reads them. They are the one
// vocabulary of both components.
const (
	AttrEventID         = "gitlab.audit.event.id"
	AttrEventType       = "gitlab.audit.event_type"
	AttrEventTypeSource = "gitlab.audit.event_type.source"
	AttrSource          = "gitlab.audit.source"
	AttrScope           = "gitlab.audit.scope"
	AttrEntityType      = "gitlab.audit.entity.type"
	AttrEntityID        = "gitlab.audit.entity.id"
	AttrEntityPath      = "gitlab.audit.entity.path"
	AttrUserID          = "user.id"
	AttrUserName        = "user.name"
	AttrUserEmail       = "user.email"
	AttrAuthorClass     = "gitlab.audit.author.class"
	AttrTargetType      = "gitlab.audit.target.type"
	AttrTargetID        = "gitlab.audit.target.id"
	AttrTargetDetails   = "gitlab.audit.target.details"
	AttrClientAddress   = "client.address"
	AttrMessage         = "gitlab.audit.message"
	// AttrIDConflict (bool) marks an event whose id was already emitted
	// with other content.
	AttrIDConflict = "gitlab.audit.id_conflict"
)

// Attributes gitlab_detect writes: where a client address is, and the
// MITRE ATT&CK tactics of a detection.
const (
	// AttrThreatTacticID and AttrThreatTacticName (ECS threat.tactic.*),
	// next to threat.technique.id: the distinct tactics the matched rules'
	// techniques are mapped under, ids and names in the same order.
	AttrThreatTacticID   = "threat.tactic.id"
	AttrThreatTacticName = "threat.tactic.name"

	// Where the client address is, from a GeoIP database (public
	// addresses only): ISO 3166-1 alpha-2 country code, city name
	// (English), coordinates (doubles, degrees), autonomous system number
	// (int) and its organization.
	AttrClientGeoCountryISOCode  = "client.geo.country.iso_code"
	AttrClientGeoLocalityName    = "client.geo.locality.name"
	AttrClientGeoLocationLat     = "client.geo.location.lat"
	AttrClientGeoLocationLon     = "client.geo.location.lon"
	AttrClientASNumber           = "client.as.number"
	AttrClientASOrganizationName = "client.as.organization.name"
)

// Elastic Common Schema (ECS) fields gitlab_detect writes where the event
// has the data, for SIEMs that search by ECS names. Verified against the
// ECS field reference: elastic.co/docs/reference/ecs/ecs-event
// (event.action, event.outcome: success, failure or unknown), ecs-related
// (related.ip of type ip, related.user: user names or other identifiers)
// and ecs-threat (threat.framework, e.g. "MITRE ATT&CK").
const (
	// AttrEventAction is ECS event.action: the GitLab event type.
	AttrEventAction = "event.action"
	// AttrEventOutcome is ECS event.outcome: "success" or "failure", only
	// where the event says (OCSF status_id, the same source).
	AttrEventOutcome = "event.outcome"
	// AttrRelatedUser is ECS related.user (string list): the author's name
	// and, when the target is a user, the target's name.
	AttrRelatedUser = "related.user"
	// AttrRelatedIP is ECS related.ip: the client address, when it is an
	// IP address. One value, written as a string (Elasticsearch indexes a
	// value and a one-element array alike), so that the redaction
	// processor, which hashes string values, can hash it.
	AttrRelatedIP = "related.ip"
	// AttrThreatFramework is ECS threat.framework, "MITRE ATT&CK", on
	// records that carry ATT&CK technique ids (threat.technique.id).
	AttrThreatFramework = "threat.framework"
)

// ThreatFrameworkATTACK is the value of threat.framework (the ECS example value).
const ThreatFrameworkATTACK = "MITRE ATT&CK"

// Field is one value of a GitLab audit event: the record attribute the
// receiver writes it as, and the key GitLab writes it under, at the top
// level of the event (streamed events, audit_json.log lines) or under
// "details" (REST events).
type Field struct {
	Attr string
	Key  string
}

// The fields read by key and by attribute.
var (
	FieldAuthorID      = Field{AttrUserID, "author_id"}
	FieldAuthorName    = Field{AttrUserName, "author_name"}
	FieldAuthorEmail   = Field{AttrUserEmail, "author_email"}
	FieldAuthorClass   = Field{AttrAuthorClass, "author_class"}
	FieldClientAddress = Field{AttrClientAddress, "ip_address"}
	FieldEntityType    = Field{AttrEntityType, "entity_type"}
	FieldEntityPath    = Field{AttrEntityPath, "entity_path"}
	FieldTargetType    = Field{AttrTargetType, "target_type"}
	FieldTargetID      = Field{AttrTargetID, "target_id"}
	FieldTargetDetails = Field{AttrTargetDetails, "target_details"}
	FieldMessage       = Field{AttrMessage, "custom_message"}
)

// Body is a read-only view of a GitLab audit event body: its top level and
// its "details" object. The zero Body holds nothing.
type Body struct {
	top, details       pcommon.Map
	hasTop, hasDetails bool
}

// NewBody returns the view of an event body.
func NewBody(top pcommon.Map) Body {
	b := Body{top: top, hasTop: true}
	b.details, b.hasDetails = mapValue(top, "details")
	return b
}

// Top returns the top level of the body, and whether there is a body.
func (b Body) Top() (pcommon.Map, bool) { return b.top, b.hasTop }

// Details returns the "details" object, and whether the body has one.
func (b Body) Details() (pcommon.Map, bool) { return b.details, b.hasDetails }

// Get returns the first non-empty value of key: from the top level, then
// from details. This is the order Falco's GitLab plugin reads fields in,
// and the receiver's mapping too.
func (b Body) Get(key string) (pcommon.Value, bool) {
	if b.hasTop {
		if v, ok := b.top.Get(key); ok && !IsEmpty(v) {
			return v, true
		}
	}
	if b.hasDetails {
		if v, ok := b.details.Get(key); ok && !IsEmpty(v) {
			return v, true
		}
	}
	return pcommon.Value{}, false
}

// Detail returns a details key: from details, or, for bodies without
// details (the flat audit_json.log shape), from the top level.
func (b Body) Detail(key string) (pcommon.Value, bool) {
	m, ok := b.details, b.hasDetails
	if !ok {
		m, ok = b.top, b.hasTop
	}
	if ok {
		if v, ok := m.Get(key); ok && !IsEmpty(v) {
			return v, true
		}
	}
	return pcommon.Value{}, false
}

// IsEmpty reports an absent-like value: unset, empty, an empty string, or
// an empty map or slice.
func IsEmpty(v pcommon.Value) bool {
	if v == (pcommon.Value{}) {
		return true
	}
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return true
	case pcommon.ValueTypeStr:
		return v.Str() == ""
	case pcommon.ValueTypeMap:
		return v.Map().Len() == 0
	case pcommon.ValueTypeSlice:
		return v.Slice().Len() == 0
	default:
		return false
	}
}

// Text renders a value as text: scalars as ScalarText does, maps and
// slices as JSON (a custom_message object, for instance).
func Text(v pcommon.Value) string {
	if v == (pcommon.Value{}) {
		return ""
	}
	switch v.Type() {
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		return string(jsonpdata.AppendJSON(nil, v))
	default:
		return ScalarText(v)
	}
}
