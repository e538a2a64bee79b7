// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Audit event streaming destinations as GitLab configures them (read
// through GraphQL, graphql.go) and streams to them. What a destination
// receives follows ee/app/models/concerns/audit_events/externally_streamable.rb
// (allowed_to_stream?) and the audit event model's root_group_entity and
// streamable_namespace:
//
//   - a group destination (top-level groups only) receives the events whose
//     entity is that group, one of its subgroups or one of their projects;
//     an instance destination receives every event;
//   - event type filters: none streams every type; otherwise only the
//     listed types (an event without a type is always streamed);
//   - namespace filters (up to 5, subgroups or projects): none streams
//     everything; a group event is streamed when a filter names the group
//     or one of its ancestors; a project event only when a filter names
//     that very project (a group filter does not cover the projects below
//     it — "For ProjectNamespace audit events - exact match only"); events
//     of other entities (users, the instance) are not restricted;
//   - an inactive destination receives nothing.
//
// Legacy HTTP destinations (before the consolidated API of GitLab 16.11+)
// had one namespace filter that also covered the projects below a group;
// the simulator follows the current rule.

// Destination categories (GraphQL category field).
const (
	CategoryHTTP = "http"
	CategoryGCP  = "gcp"
	CategoryAWS  = "aws"
)

// MaxNamespaceFilters is GitLab's limit of namespace filters per destination.
const MaxNamespaceFilters = 5

// StreamingDestination is an audit event streaming destination.
type StreamingDestination struct {
	// ID is the destination id (the number of its GraphQL global id); 0
	// assigns one.
	ID int64
	// Name is the destination name; "" names it after its id.
	Name string
	// Category is CategoryHTTP (default), CategoryGCP or CategoryAWS.
	Category string
	// URL is an HTTP destination's URL (its config.url). A Streamer's
	// destination takes the Streamer's URL when empty.
	URL string
	// Group is the full path of the top-level group the destination belongs
	// to; "" is an instance-level destination.
	Group string
	// EventTypeFilters are the streamed event types; none streams all.
	EventTypeFilters []string
	// NamespaceFilters are full paths of subgroups or projects; none
	// streams the events of every namespace.
	NamespaceFilters []string
	// Inactive destinations receive nothing.
	Inactive bool
}

// Streams reports whether GitLab streams the event to the destination.
func (d *StreamingDestination) Streams(ev *StoredEvent) bool {
	if d.Inactive {
		return false
	}
	path := strings.ToLower(ev.Entity.Path)
	isNamespace := ev.Entity.Type == EntityGroup || ev.Entity.Type == EntityProject
	if d.Group != "" {
		top := strings.ToLower(strings.Trim(d.Group, "/"))
		if !isNamespace || (path != top && !strings.HasPrefix(path, top+"/")) {
			return false
		}
	}
	if ev.StreamType != "" && len(d.EventTypeFilters) > 0 && !slices.Contains(d.EventTypeFilters, ev.StreamType) {
		return false
	}
	if len(d.NamespaceFilters) == 0 || !isNamespace {
		return true
	}
	for _, f := range d.NamespaceFilters {
		f = strings.ToLower(strings.Trim(f, "/"))
		// Full paths are unique across groups and projects, so a path
		// names one kind of namespace: a project filter can only equal a
		// project event's path, a group filter only be a group event's
		// path or one of its ancestors.
		if path == f || (ev.Entity.Type == EntityGroup && strings.HasPrefix(path, f+"/")) {
			return true
		}
	}
	return false
}

// Validate checks the destination as GitLab validates it: a known
// category, an HTTP destination with a URL, a top-level group, at most
// MaxNamespaceFilters namespace filters.
func (d *StreamingDestination) Validate() error {
	var errs []error
	switch d.Category {
	case "", CategoryHTTP, CategoryGCP, CategoryAWS:
	default:
		errs = append(errs, fmt.Errorf("unknown category %q", d.Category))
	}
	if strings.Contains(strings.Trim(d.Group, "/"), "/") {
		errs = append(errs, fmt.Errorf("group %q must not be a subgroup. Use a top-level group", d.Group))
	}
	if len(d.NamespaceFilters) > MaxNamespaceFilters {
		errs = append(errs, fmt.Errorf("namespace filters are limited to %d per destination", MaxNamespaceFilters))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gitlabsim: streaming destination %q: %w", d.Name, err)
	}
	return nil
}

// AddStreamingDestination registers a destination that GraphQL lists (the
// simulator streams only to Options.StreamTo). It returns the destination
// with its id and name.
func (s *Sim) AddStreamingDestination(d StreamingDestination) (StreamingDestination, error) {
	if err := d.Validate(); err != nil {
		return StreamingDestination{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.addDestinationLocked(d, ""), nil
}

// StreamingDestinations returns the registered destinations, StreamTo's
// first when it has one.
func (s *Sim) StreamingDestinations() []StreamingDestination {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]StreamingDestination, len(s.destinations))
	for i, d := range s.destinations {
		out[i] = *d
		out[i].EventTypeFilters = slices.Clone(d.EventTypeFilters)
		out[i].NamespaceFilters = slices.Clone(d.NamespaceFilters)
	}
	return out
}

// addDestinationLocked stores a copy of d with defaults; secret is the
// verification token GraphQL would show ("" derives one). mu must be held.
func (s *Sim) addDestinationLocked(d StreamingDestination, secret string) *StreamingDestination {
	if d.ID == 0 {
		d.ID = int64(len(s.destinations)) + 1
		for _, o := range s.destinations {
			d.ID = max(d.ID, o.ID+1)
		}
	}
	if d.Category == "" {
		d.Category = CategoryHTTP
	}
	if d.Name == "" {
		d.Name = fmt.Sprintf("Destination_%d", d.ID)
	}
	d.Group = strings.Trim(d.Group, "/")
	d.EventTypeFilters = slices.Clone(d.EventTypeFilters)
	d.NamespaceFilters = slices.Clone(d.NamespaceFilters)
	if secret == "" {
		secret = fmt.Sprintf("sim-destination-secret-%02d", d.ID%100)
	}
	s.destinations = append(s.destinations, &d)
	if s.destinationSecrets == nil {
		s.destinationSecrets = map[int64]string{}
	}
	s.destinationSecrets[d.ID] = secret
	return &d
}
