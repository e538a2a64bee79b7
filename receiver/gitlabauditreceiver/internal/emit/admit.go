// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package emit

import (
	"context"
	"path"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

// The admit step, the same on both paths: one GitLab event (its JSON text)
// is decoded into a record (auditlog.Fill), refused when it is not a valid
// GitLab audit event (no id, no created_at), and dropped when the
// event_types filter does not keep its type; what it turned away is
// counted in Counts, which the path reports once per request or window.

// Counts are the events a path turned away.
type Counts struct {
	Invalid    int // not valid GitLab audit events
	Filtered   int // dropped by event_types
	Duplicates int // emitted before
}

// Admit decodes one event into lr. It returns the event and true when it
// goes on to de-duplication; false with an error when it is invalid, false
// without one when the filter dropped it. hint is the event type the
// request named (the stream's X-Gitlab-Audit-Event-Type), or "".
func (e *Emitter) Admit(counts *Counts, lr plog.LogRecord, text, hint string, observed pcommon.Timestamp) (auditlog.Event, bool, error) {
	ev, err := auditlog.Fill(lr, text, e.source, hint, observed)
	return e.admit(counts, ev, err)
}

// AdmitDecoded is Admit for a record whose body already holds the event
// as a map, decoded by the caller.
func (e *Emitter) AdmitDecoded(counts *Counts, lr plog.LogRecord, hint string, observed pcommon.Timestamp) (auditlog.Event, bool, error) {
	ev, err := auditlog.Annotate(lr, e.source, hint, observed)
	return e.admit(counts, ev, err)
}

func (e *Emitter) admit(counts *Counts, ev auditlog.Event, err error) (auditlog.Event, bool, error) {
	if err != nil {
		counts.Invalid++
		return ev, false, err
	}
	if !e.core.filter.keep(ev.Type) {
		counts.Filtered++
		return ev, false, nil
	}
	return ev, true, nil
}

// Report adds what a path turned away to the metrics, by source.
func (e *Emitter) Report(ctx context.Context, counts Counts) {
	tel, src := e.core.tel, string(e.source)
	metadata.Add(ctx, tel.GitlabAuditEventsInvalid, counts.Invalid, metadata.AttrSource, src)
	metadata.Add(ctx, tel.GitlabAuditEventsFiltered, counts.Filtered, metadata.AttrSource, src)
	metadata.Add(ctx, tel.GitlabAuditDuplicatesDropped, counts.Duplicates, metadata.AttrSource, src)
}

// EventTypes is the event_types filter: exact names or globs (path.Match).
type EventTypes struct {
	Include, Exclude []string
}

// typeFilter applies event_types include/exclude to canonical event types.
// Decisions are cached per type: the set of types is small.
type typeFilter struct {
	include, exclude []string
	cache            sync.Map // type → bool
}

func newTypeFilter(cfg EventTypes) *typeFilter {
	if len(cfg.Include) == 0 && len(cfg.Exclude) == 0 {
		return nil
	}
	return &typeFilter{include: cfg.Include, exclude: cfg.Exclude}
}

// keep reports whether events of type t are kept. A nil filter keeps all.
func (f *typeFilter) keep(t string) bool {
	if f == nil {
		return true
	}
	if v, ok := f.cache.Load(t); ok {
		return v.(bool)
	}
	keep := len(f.include) == 0 || matchAny(f.include, t)
	if keep && matchAny(f.exclude, t) {
		keep = false
	}
	f.cache.Store(t, keep)
	return keep
}

func matchAny(patterns []string, t string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, t); ok {
			return true
		}
	}
	return false
}
