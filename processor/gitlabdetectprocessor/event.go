// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
)

// Attributes the gitlab_audit receiver sets and this processor reads: the
// shared vocabulary of internal/auditevent.
const (
	attrEventType       = auditevent.AttrEventType
	attrEventTypeSource = auditevent.AttrEventTypeSource
)

// The fields rules read: the receiver's attribute first, then the body
// (top level, then details; see auditevent.Body.Get).
var (
	fieldAuthorID      = auditevent.FieldAuthorID
	fieldAuthorName    = auditevent.FieldAuthorName
	fieldAuthorEmail   = auditevent.FieldAuthorEmail
	fieldAuthorClass   = auditevent.FieldAuthorClass
	fieldClientAddress = auditevent.FieldClientAddress
	fieldEntityPath    = auditevent.FieldEntityPath
	fieldTargetType    = auditevent.FieldTargetType
	fieldTargetID      = auditevent.FieldTargetID
	fieldTargetDetails = auditevent.FieldTargetDetails
	fieldMessage       = auditevent.FieldMessage
)

// emptyValue stands for an absent value; it is only ever read.
var emptyValue = pcommon.NewValueEmpty()

// event is a read-only view of one log record as a GitLab audit event.
type event struct {
	typ     string // canonical event type
	attrs   pcommon.Map
	top     pcommon.Map // the body, when it is a GitLab event object
	hasBody bool
	// body is the view of top with its details, made on first use: a
	// record no rule reads never looks its details up.
	body     auditevent.Body
	bodyDone bool
	lr       plog.LogRecord
	at       int64 // event time, Unix nanoseconds; 0 until eventTime is called
	// grantedRole and changeValues, computed once per event.
	role       role
	roleOK     bool
	roleDone   bool
	from, to   pcommon.Value
	changeDone bool
	// the geo rules' verdicts, computed once per event (window.go)
	geo     geoVerdicts
	geoDone bool
}

func (e *event) init(lr plog.LogRecord) {
	e.attrs = lr.Attributes()
	switch b := lr.Body(); b.Type() {
	case pcommon.ValueTypeMap:
		e.top, e.hasBody = b.Map(), true
	case pcommon.ValueTypeStr:
		// GitLab audit JSON that reached the pipeline as text (a filelog of
		// audit_json.log, a raw webhook body, ...).
		if s := strings.TrimSpace(b.Str()); strings.HasPrefix(s, "{") {
			m := pcommon.NewMap()
			if jsonpdata.DecodeObject(s, m) == nil {
				e.top, e.hasBody = m, true
			}
		}
	default:
	}
	e.lr = lr
}

// eventTime returns when the event happened, in Unix nanoseconds: the
// record's Timestamp (the receiver sets GitLab's created_at there), else
// created_at (or time, in audit_json.log) from the body, else the
// ObservedTimestamp, else now.
func (e *event) eventTime() int64 {
	if e.at != 0 {
		return e.at
	}
	ts := e.lr.Timestamp()
	if ts == 0 && e.hasBody {
		for _, k := range [...]string{"created_at", "time"} {
			if v, ok := e.top.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
				if t, err := time.Parse(time.RFC3339Nano, v.Str()); err == nil {
					ts = pcommon.NewTimestampFromTime(t)
					break
				}
			}
		}
	}
	if ts == 0 {
		ts = e.lr.ObservedTimestamp()
	}
	if ts == 0 {
		ts = pcommon.NewTimestampFromTime(time.Now())
	}
	e.at = int64(ts)
	return e.at
}

// resolveType returns the event type: the receiver's attribute when
// present (the receiver writes canonical names; the caller resolves
// aliases only when the name is not an index key), else resolved from the
// body (canonical). fromBody is true in the second case, with the source
// of the name and whether the body looks like a GitLab audit event at all.
func (e *event) resolveType() (typ string, fromBody bool, src auditevent.Source, gitlabBody bool) {
	if v, ok := e.attrs.Get(attrEventType); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
		return v.Str(), false, "", false
	}
	if !e.hasBody {
		return "", true, auditevent.SourceDefault, false
	}
	typ, src = auditevent.ResolveTypeFlat(e.top, "")
	gitlabBody = src != auditevent.SourceDefault
	if !gitlabBody {
		_, hasDetails := e.view().Details()
		_, hasAuthor := e.top.Get("author_id")
		_, hasEntity := e.top.Get("entity_type")
		gitlabBody = hasDetails || (hasAuthor && hasEntity)
	}
	return typ, true, src, gitlabBody
}

// view returns the body with its details; only called when hasBody.
func (e *event) view() *auditevent.Body {
	if !e.bodyDone {
		e.bodyDone = true
		e.body = auditevent.NewBody(e.top)
	}
	return &e.body
}

// value returns the first non-empty value of f: the receiver's attribute,
// then the body (top level, then details).
func (e *event) value(f auditevent.Field) (pcommon.Value, bool) {
	if v, ok := e.attrs.Get(f.Attr); ok && !auditevent.IsEmpty(v) {
		return v, true
	}
	if e.hasBody {
		if v, ok := e.view().Get(f.Key); ok {
			return v, true
		}
	}
	return emptyValue, false
}

// str returns f as text ("" when absent).
func (e *event) str(f auditevent.Field) string {
	if v, ok := e.value(f); ok {
		return auditevent.Text(v)
	}
	return ""
}

// int returns f as an integer, when it is one (or a string holding one).
func (e *event) int(f auditevent.Field) (int64, bool) {
	if v, ok := e.value(f); ok {
		return parseInt(v)
	}
	return 0, false
}

// detail returns a details key: from body.details, or, for bodies without
// details (the flat audit_json.log shape), from the top level.
func (e *event) detail(key string) (pcommon.Value, bool) {
	if e.hasBody {
		if v, ok := e.view().Detail(key); ok {
			return v, true
		}
	}
	return emptyValue, false
}

// detailStr returns a details key as text ("" when absent).
func (e *event) detailStr(key string) string {
	if v, ok := e.detail(key); ok {
		return auditevent.Text(v)
	}
	return ""
}

// message returns custom_message as text (objects as JSON).
func (e *event) message() string { return e.str(fieldMessage) }

// changeValues returns the from and to of a change event. When details
// carry neither, they are read from the message GitLab builds for changes
// ("Changed <what> from <from> to <to>").
func (e *event) changeValues() (from, to pcommon.Value) {
	if !e.changeDone {
		e.changeDone = true
		e.from, e.to = e.computeChangeValues()
	}
	return e.from, e.to
}

func (e *event) computeChangeValues() (from, to pcommon.Value) {
	from, okFrom := e.detail("from")
	to, okTo := e.detail("to")
	if okFrom || okTo {
		return from, to
	}
	if m := changedRE.FindStringSubmatch(e.message()); m != nil {
		f, t := pcommon.NewValueStr(m[2]), pcommon.NewValueStr(m[3])
		return f, t
	}
	return emptyValue, emptyValue
}

var changedRE = regexp.MustCompile(`(?i)^changed (.+?) from (.*) to (.*?)\.?$`)

// parseBool normalises a boolean: JSON booleans (streamed events), the
// strings REST renders them as ("true", "false"), in any case, and 1/0.
func parseBool(v pcommon.Value) (bool, bool) {
	switch v.Type() {
	case pcommon.ValueTypeBool:
		return v.Bool(), true
	case pcommon.ValueTypeInt:
		switch v.Int() {
		case 0:
			return false, true
		case 1:
			return true, true
		}
	case pcommon.ValueTypeStr:
		switch strings.ToLower(strings.TrimSpace(v.Str())) {
		case "true", "1", "yes", "on", "enabled":
			return true, true
		case "false", "0", "no", "off", "disabled":
			return false, true
		}
	default:
	}
	return false, false
}

// parseInt normalises an integer: JSON numbers or their string rendering.
func parseInt(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if f == math.Trunc(f) {
			return int64(f), true
		}
	case pcommon.ValueTypeStr:
		return atoi(strings.TrimSpace(v.Str()))
	default:
	}
	return 0, false
}

// atoi parses a decimal integer. Unlike strconv.ParseInt it does not
// allocate an error for the many strings that are not numbers.
func atoi(s string) (int64, bool) {
	digits := s
	if len(digits) > 0 && (digits[0] == '-' || digits[0] == '+') {
		digits = digits[1:]
	}
	if digits == "" || len(digits) > 18 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// visibility is a GitLab visibility level.
type visibility int

const (
	visUnknown visibility = iota
	visPrivate
	visInternal
	visPublic
)

// parseVisibility normalises a visibility level: the names GitLab prints
// (Private, Internal, Public, in any case) or the numeric levels 0, 10, 20
// that raw streamed events may carry.
func parseVisibility(v pcommon.Value) visibility {
	if n, ok := parseInt(v); ok {
		switch n {
		case 0:
			return visPrivate
		case 10:
			return visInternal
		case 20:
			return visPublic
		}
		return visUnknown
	}
	if v.Type() != pcommon.ValueTypeStr {
		return visUnknown
	}
	s := strings.TrimSpace(v.Str())
	switch {
	case strings.EqualFold(s, "private"):
		return visPrivate
	case strings.EqualFold(s, "internal"):
		return visInternal
	case strings.EqualFold(s, "public"):
		return visPublic
	}
	return visUnknown
}

// role is a GitLab member role: a default role with its access level, or a
// custom role known by name only.
type role struct {
	name   string // lower case: "owner", "maintainer", ... or the custom role name
	level  int    // access level of default roles, 0 for custom roles
	custom bool
}

var defaultRoles = []role{
	{name: "no access", level: 0},
	{name: "minimal access", level: 5},
	{name: "guest", level: 10},
	{name: "planner", level: 15},
	{name: "reporter", level: 20},
	{name: "developer", level: 30},
	{name: "maintainer", level: 40},
	{name: "owner", level: 50},
}

// parseRole normalises a role label. GitLab writes member roles in several
// formats: "Default role: Maintainer" / "Custom role: <name>" (member
// events since 16.x, the "to" and "as" keys), the bare role name ("Owner",
// older events and the "from" key), or the numeric access level.
func parseRole(s string) (role, bool) {
	s = strings.TrimSpace(s)
	custom := false
	switch {
	case hasPrefixFold(s, "default role:"):
		s = strings.TrimSpace(s[len("default role:"):])
	case hasPrefixFold(s, "custom role:"):
		s = strings.TrimSpace(s[len("custom role:"):])
		custom = true
	}
	if s == "" {
		return role{}, false
	}
	if !custom {
		if n, ok := atoi(s); ok {
			for _, r := range defaultRoles {
				if int64(r.level) == n && n > 0 {
					return r, true
				}
			}
			return role{}, false
		}
		for _, r := range defaultRoles {
			if strings.EqualFold(s, r.name) {
				return r, true
			}
		}
	}
	// A custom role, or a name that is not a default role (a custom role
	// written bare).
	return role{name: strings.ToLower(s), custom: true}, true
}

// promotedTo reports whether a change from "from" to "to" grants a role the
// member did not hold: always when there was no previous role, never when
// the role is unchanged or the access level does not rise.
func promotedTo(from role, hadFrom bool, to role) bool {
	if !hadFrom {
		return true
	}
	if from.name == to.name {
		return false
	}
	if from.level > 0 && to.level > 0 && from.level >= to.level {
		return false
	}
	return true
}

var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+`)

// distinctEmails counts the distinct email addresses in the texts.
func distinctEmails(texts ...string) int {
	seen := map[string]struct{}{}
	for _, t := range texts {
		for _, m := range emailRE.FindAllString(t, -1) {
			seen[strings.ToLower(m)] = struct{}{}
		}
	}
	return len(seen)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
