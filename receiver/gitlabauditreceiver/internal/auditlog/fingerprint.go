// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditlog // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// Fingerprint summarises the content of an event that is the same on both
// paths (REST and stream): created_at, author id, entity id and event
// type. Two deliveries with the same key but different fingerprints are
// two events, not one event delivered twice. It is 16 bytes; the zero
// Fingerprint is unknown (state written by an earlier version) and
// matches every other.
type Fingerprint struct {
	// CreatedAt is created_at in Unix milliseconds (GitLab's precision on
	// both paths).
	CreatedAt int64
	// Who is a hash of the author id and the entity id.
	Who uint32
	// Type is a hash of the event type, 0 when GitLab did not name the
	// type (inferred or defaulted): the paths may then resolve it apart.
	Type uint32
}

// Matches reports whether f and o may be the same event.
func (f Fingerprint) Matches(o Fingerprint) bool {
	if f == (Fingerprint{}) || o == (Fingerprint{}) {
		return true
	}
	return f.CreatedAt == o.CreatedAt && f.Who == o.Who &&
		(f.Type == 0 || o.Type == 0 || f.Type == o.Type)
}

// FingerprintOf returns the fingerprint of a record made by Fill.
func FingerprintOf(lr plog.LogRecord) Fingerprint {
	attrs := lr.Attributes()
	fp := Fingerprint{CreatedAt: lr.Timestamp().AsTime().UnixMilli()}
	h := fnvOffset
	h = fnvString(h, strAttr(attrs, AttrUserID))
	h = fnvByte(h, 0)
	h = fnvString(h, strAttr(attrs, AttrEntityID))
	fp.Who = h
	if !auditevent.Source(strAttr(attrs, AttrEventTypeSource)).Inferred() {
		if t := strAttr(attrs, AttrEventType); t != "" {
			fp.Type = fnvString(fnvOffset, t) | 1 // never 0
		}
	}
	return fp
}

func strAttr(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok {
		return v.Str()
	}
	return ""
}

// FNV-1a, 32 bits, written out so that hashing costs no allocation.
const (
	fnvOffset uint32 = 2166136261
	fnvPrime  uint32 = 16777619
)

func fnvByte(h uint32, c byte) uint32 { return (h ^ uint32(c)) * fnvPrime }

func fnvString(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h = fnvByte(h, s[i])
	}
	return h
}
