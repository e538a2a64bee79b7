// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"slices"
	"strings"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// Expectation is what the streaming destinations that deliver to this
// receiver stream: the stream watch counts as missed only polled events
// one of them would have sent.
type Expectation struct {
	destinations []gitlabapi.Destination
}

// NewExpectation expects what the active destinations stream.
func NewExpectation(ds []gitlabapi.Destination) *Expectation {
	e := &Expectation{}
	for _, d := range ds {
		if d.Active {
			e.destinations = append(e.destinations, d)
		}
	}
	return e
}

// event is what the filters read of an event.
type event struct {
	typ        string
	entityType string // Group, Project, User, ...
	entityPath string // full path of a group or project
}

// expects reports whether a destination streams ev, as GitLab decides it
// (ee/app/models/concerns/audit_events/externally_streamable.rb,
// allowed_to_stream?: the event type filters, then the namespace filters):
//   - a group destination streams only events of its group and below
//     (group and project entities; user and instance events go to instance
//     destinations);
//   - event type filters: none streams every type;
//   - namespace filters: none streams the whole group; a group event
//     passes when a filter is its group or an ancestor; a project event
//     only when a filter names that very project (a group filter does not
//     cover the projects below it, in current GitLab); events of other
//     entities are not restricted.
func (e *Expectation) expects(ev event) bool {
	for _, d := range e.destinations {
		if streams(d, ev) {
			return true
		}
	}
	return false
}

func streams(d gitlabapi.Destination, ev event) bool {
	scoped := ev.entityType == "Group" || ev.entityType == "Project"
	path := strings.ToLower(ev.entityPath)
	if d.Group != "" {
		root, _, _ := strings.Cut(path, "/")
		if !scoped || root != strings.ToLower(d.Group) {
			return false
		}
	}
	if len(d.EventTypes) > 0 && !slices.Contains(d.EventTypes, ev.typ) {
		return false
	}
	if len(d.Namespaces) == 0 || !scoped {
		return true
	}
	for _, ns := range d.Namespaces {
		ns = strings.ToLower(ns)
		switch ev.entityType {
		case "Project":
			if path == ns {
				return true
			}
		case "Group":
			if path == ns || strings.HasPrefix(path, ns+"/") {
				return true
			}
		}
	}
	return false
}
