// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// Entity types, as GitLab writes them in entity_type.
const (
	EntityUser     = "User"
	EntityGroup    = "Group"
	EntityProject  = "Project"
	EntityInstance = "Gitlab::Audit::InstanceScope"
)

// InstanceEntity is the entity of instance-level events: GitLab uses id 1
// and the path "gitlab_instance".
var InstanceEntity = Entity{Type: EntityInstance, ID: 1, Path: "gitlab_instance"}

// Special author ids GitLab uses for authors that are not users.
const (
	// AuthorIDUnauthenticated is Gitlab::Audit::UnauthenticatedAuthor: failed
	// logins, password reset requests, system events such as expired memberships.
	AuthorIDUnauthenticated int64 = -1
	// AuthorIDDeployToken is an action performed with a deploy token.
	AuthorIDDeployToken int64 = -2
	// AuthorIDDeployKey is an action performed with a deploy key.
	AuthorIDDeployKey int64 = -3
)

// Author classes, as written in details.author_class.
const (
	AuthorClassUser            = "User"
	AuthorClassUnauthenticated = "Gitlab::Audit::UnauthenticatedAuthor"
	AuthorClassDeployToken     = "DeployToken"
	AuthorClassDeployKey       = "DeployKey"
	AuthorClassRunnerToken     = "Gitlab::Audit::CiRunnerTokenAuthor"
)

// Entity is the scope an audit event is recorded at.
type Entity struct {
	// Type is one of EntityUser, EntityGroup, EntityProject, EntityInstance.
	Type string
	// ID is the numeric id of the user, group or project (1 for the instance).
	ID int64
	// Path is the entity_path: the full path of a group or project, the
	// username of a user, "gitlab_instance" for the instance. Insert fills it
	// from the registered groups, projects and users when it is empty.
	Path string
}

// Author is who performed the action.
type Author struct {
	// ID is the user id, or one of the special AuthorID* values.
	ID int64
	// Name is details.author_name.
	Name string
	// Email is added to REST details as author_email (null when empty).
	Email string
	// Class is details.author_class; Insert defaults it from ID.
	Class string
}

// Target is the object acted on.
type Target struct {
	// ID is details.target_id: an int64, or a string (old events use a path).
	ID any
	// Type is details.target_type, the class name of the target.
	Type string
	// Details is details.target_details, usually a name or a path.
	Details string
}

// Event is an audit event before it is stored.
type Event struct {
	// Type is the audit event type name, e.g. "member_created". It decides
	// whether the event is saved to the database (REST-visible) or stream-only,
	// from the auditevent catalogue; unknown names are saved.
	Type string
	// Entity is the scope of the event.
	Entity Entity
	// Author performed the action.
	Author Author
	// Target is the object acted on.
	Target Target
	// CustomMessage is details.custom_message: a string, or an object such as
	// {"protocol":"ssh","action":"git-upload-pack"} for Git operations. Nil
	// omits the key.
	CustomMessage any
	// IPAddress is the client address; empty renders as null.
	IPAddress string
	// Details holds the event-specific keys of details: add, remove, change,
	// from, to, as, member_id, with, ... They are rendered in key order after
	// event_name. The common keys (author_name, target_*, custom_message,
	// ip_address, entity_path, author_email, event_name) are taken from the
	// fields above and ignored here.
	Details map[string]any
	// CreatedAt is when the event happened; it is truncated to microseconds.
	// Zero means the simulator clock's now. An explicit older value on a new
	// insert simulates a late commit.
	CreatedAt time.Time
	// Legacy renders the shape of GitLab's legacy AuditEventService: no
	// event_name (top level or in details), no author_class, and the event is
	// streamed as "audit_operation".
	Legacy bool
	// StreamID is the id of a stream-only event in the stream (a UUID). It is
	// assigned when empty. Ignored for events saved to the database, whose
	// stream id is their numeric id.
	StreamID string
}

// StoredEvent is an event as the simulator stored it, with both renderings.
// Treat it, and in particular its byte slices, as read-only.
type StoredEvent struct {
	// ID is the database id; 0 for stream-only events.
	ID int64
	// StreamID is the id sent in the stream: the decimal ID, or a UUID for
	// stream-only events.
	StreamID string
	// Type is the event type name.
	Type string
	// StreamType is the event_type of the stream payload and of the
	// X-Gitlab-Audit-Event-Type header: Type, or "audit_operation" for
	// legacy events.
	StreamType string
	// CreatedAt is the stored creation time (microsecond precision, UTC).
	CreatedAt time.Time
	// Entity is the scope of the event.
	Entity Entity
	// AuthorID is the author id.
	AuthorID int64
	// SavedToDatabase is false for stream-only events, which the REST API never returns.
	SavedToDatabase bool
	// RESTJSON is the REST API rendering; nil for stream-only events.
	RESTJSON []byte
	// StreamJSON is the single-event streaming payload.
	StreamJSON []byte
}

// savedToDatabase reports whether events of a type are stored (REST-visible).
func savedToDatabase(eventType string) bool {
	if ti, ok := auditevent.Lookup(eventType); ok {
		return ti.SavedToDatabase
	}
	return true
}
