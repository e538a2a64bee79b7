// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"net/netip"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// SchemaConfig turns the attributes of one common schema on or off.
type SchemaConfig struct {
	// Enabled writes the schema's attributes on every record.
	Enabled bool `mapstructure:"enabled"`
}

// schemaAttrs are the attributes writeSchema writes (benchmark and tests
// remove them again).
var schemaAttrs = map[string]bool{
	auditevent.AttrOCSFClassUID: true, auditevent.AttrOCSFCategoryUID: true, auditevent.AttrOCSFActivityID: true,
	auditevent.AttrOCSFActivityName: true, auditevent.AttrOCSFTypeUID: true, auditevent.AttrOCSFSeverityID: true,
	auditevent.AttrOCSFStatusID: true, auditevent.AttrOCSFVersion: true,
	auditevent.AttrEventAction: true, auditevent.AttrEventOutcome: true, auditevent.AttrRelatedUser: true,
	auditevent.AttrRelatedIP: true, auditevent.AttrThreatFramework: true,
}

// maxSchemaAttrs is the most attributes writeSchema adds to a record.
const maxSchemaAttrs = 13

// writeSchema writes the OCSF classification and the ECS fields of a
// record that do not depend on the detection, before the rules run.
// gitlab is false for records that are not GitLab audit events: they are
// an OCSF Base Event and get no ECS fields.
func (p *detectProcessor) writeSchema(attrs pcommon.Map, e *event, entry *typeEntry, gitlab bool) {
	if !p.ocsf && !p.ecs {
		return
	}
	var o auditevent.OCSF // Base Event, activity Unknown
	if gitlab {
		if entry != nil {
			o = entry.ocsf
		} else {
			o = auditevent.OCSFOf(e.typ)
		}
		if need := o.Facts(); need != 0 {
			var f auditevent.OCSFFacts
			if need&auditevent.FactEntityType != 0 {
				f.EntityType = e.str(auditevent.FieldEntityType)
			}
			if need&auditevent.FactMessage != 0 {
				f.Message, _ = e.value(fieldMessage)
			}
			if need&auditevent.FactTo != 0 {
				f.To, _ = e.detail("to")
			}
			if need&auditevent.FactAllowed != 0 {
				f.Allowed, _ = e.detail("allowed")
			}
			o = o.Refine(f)
		}
	}
	attrs.EnsureCapacity(attrs.Len() + maxSchemaAttrs)
	if p.ocsf {
		attrs.PutInt(auditevent.AttrOCSFClassUID, int64(o.Class))
		attrs.PutInt(auditevent.AttrOCSFCategoryUID, int64(o.CategoryUID()))
		attrs.PutInt(auditevent.AttrOCSFActivityID, int64(o.Activity))
		if o.Activity == auditevent.ActivityOther && gitlab {
			// "Other: the event activity is not mapped. See activity_name,
			// which contains a data source specific value" (dictionary.json).
			attrs.PutStr(auditevent.AttrOCSFActivityName, e.typ)
		}
		attrs.PutInt(auditevent.AttrOCSFTypeUID, int64(o.TypeUID()))
		if o.Status != auditevent.OCSFStatusUnknown {
			attrs.PutInt(auditevent.AttrOCSFStatusID, int64(o.Status))
		}
		attrs.PutStr(auditevent.AttrOCSFVersion, auditevent.OCSFVersion)
	}
	if p.ecs && gitlab {
		writeECS(attrs, e, o.Status)
	}
}

// writeDetectionSchema writes what follows the detection: the OCSF
// severity_id, and threat.framework on records with ATT&CK techniques.
func (p *detectProcessor) writeDetectionSchema(attrs pcommon.Map) {
	if p.ocsf {
		attrs.PutInt(auditevent.AttrOCSFSeverityID, ocsfSeverityID(attrs))
	}
	if p.ecs {
		if v, ok := attrs.Get(attrTechniques); ok && !auditevent.IsEmpty(v) {
			attrs.PutStr(auditevent.AttrThreatFramework, auditevent.ThreatFrameworkATTACK)
		}
	}
}

// ocsfSeverityID is the OCSF severity_id of a record: the detection's
// level (INFO to CRITICAL are severity_id 1 Informational to 5 Critical,
// the same scale), and 1 Informational when no rule matched.
func ocsfSeverityID(attrs pcommon.Map) int64 {
	if v, ok := attrs.Get(attrSeverity); ok && v.Type() == pcommon.ValueTypeStr {
		if s, err := ParseSeverity(v.Str()); err == nil {
			return int64(s)
		}
	}
	return int64(SeverityInfo)
}

// relatedUser returns a value for related.user, or "" for a value that is
// not a user name: empty, JSON (a list of addresses), or an e-mail address
// (a login tried with one). related.user is a list, whose elements the
// redaction processor of config/privacy.yaml cannot hash: it must never
// carry an address that user.email or a message would have hashed.
func relatedUser(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "@[{") {
		return ""
	}
	return s
}

// writeECS writes the ECS fields the event has the data for.
func writeECS(attrs pcommon.Map, e *event, status auditevent.OCSFStatus) {
	if e.typ != "" {
		attrs.PutStr(auditevent.AttrEventAction, e.typ)
	}
	switch status {
	case auditevent.OCSFStatusSuccess:
		attrs.PutStr(auditevent.AttrEventOutcome, "success")
	case auditevent.OCSFStatusFailure:
		attrs.PutStr(auditevent.AttrEventOutcome, "failure")
	}

	// related.user: the author, and the user the event is about. GitLab
	// writes author_name (the author's name, or the login tried by a
	// failed sign-in) and, when the target is a user, target_details
	// (usually that user's name; the e-mail addresses asked for, as a JSON
	// list, for password_reset_requested): AuditEvents::BuildService, as
	// recorded in shared/gitlab/audit-api.md section 4 (R71, R26), and the
	// simulator's password reset (CVE-2023-7028).
	author := relatedUser(e.str(fieldAuthorName))
	target := ""
	if e.str(fieldTargetType) == "User" {
		target = relatedUser(e.str(fieldTargetDetails))
	}
	if author != "" || target != "" {
		users := attrs.PutEmptySlice(auditevent.AttrRelatedUser)
		if author != "" {
			users.AppendEmpty().SetStr(author)
		}
		if target != "" && target != author {
			users.AppendEmpty().SetStr(target)
		}
	}

	// related.ip has the ECS type ip: a value that is not an address would
	// make Elasticsearch refuse the whole document.
	if ip := strings.TrimSpace(e.str(fieldClientAddress)); ip != "" {
		if _, err := netip.ParseAddr(ip); err == nil {
			attrs.PutStr(auditevent.AttrRelatedIP, ip)
		}
	}
}
