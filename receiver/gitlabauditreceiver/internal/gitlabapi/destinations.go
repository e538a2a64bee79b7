// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Audit event streaming destinations, read through GraphQL: current GitLab
// serves them there only (no REST). A group's are
// Group.externalAuditEventStreamingDestinations
// (ee/app/graphql/ee/types/group_type.rb; authorize
// :admin_external_audit_events: the Owner of the top-level group or an
// administrator, else null), the instance's are
// Query.auditEventsInstanceStreamingDestinations (administrators; an empty
// list for anyone else). The query never selects secretToken (the
// verification token), and of config (which holds the custom headers,
// values included) only the URL is kept.

// Destination is a streaming destination as far as the collector needs it.
type Destination struct {
	ID, Name string
	// Category is http, gcp or aws; only http destinations stream to a URL.
	Category string
	Active   bool
	// URL is the address an http destination posts to.
	URL string
	// EventTypes are its event type filters: none streams every type.
	EventTypes []string
	// Namespaces are the full paths of its namespace filters: none streams
	// the whole group (ee/app/models/concerns/audit_events/externally_streamable.rb).
	Namespaces []string
	// Group is the top-level group a group destination belongs to; empty
	// for an instance destination.
	Group string
}

// ErrNotAllowed: GitLab hides the destinations from this token (the
// field is null for anyone but the group's Owner or an administrator).
var ErrNotAllowed = errors.New("the token's user may not read the streaming destinations")

const destinationFields = `nodes { id name category active eventTypeFilters config namespaceFilters { namespace { fullPath } } }
	pageInfo { hasNextPage endCursor }`

const groupDestinationsQuery = `query($fullPath: ID!, $after: String) { group(fullPath: $fullPath) {
	externalAuditEventStreamingDestinations(first: 100, after: $after) { ` + destinationFields + ` } } }`

const instanceDestinationsQuery = `query($after: String) {
	auditEventsInstanceStreamingDestinations(first: 100, after: $after) { ` + destinationFields + ` } }`

type destinationPage struct {
	Nodes []struct {
		ID               string          `json:"id"`
		Name             string          `json:"name"`
		Category         string          `json:"category"`
		Active           *bool           `json:"active"`
		EventTypeFilters []string        `json:"eventTypeFilters"`
		Config           json.RawMessage `json:"config"`
		NamespaceFilters []struct {
			Namespace struct {
				FullPath string `json:"fullPath"`
			} `json:"namespace"`
		} `json:"namespaceFilters"`
	} `json:"nodes"`
	PageInfo struct {
		HasNextPage bool   `json:"hasNextPage"`
		EndCursor   string `json:"endCursor"`
	} `json:"pageInfo"`
}

// GroupDestinations lists the streaming destinations of a top-level group.
// ErrNotAllowed when GitLab hides them (null), which also happens for a
// group that does not exist or that the token cannot see.
func (c *Client) GroupDestinations(ctx context.Context, group string) ([]Destination, error) {
	to := Target{Class: ClassDestinations, Name: "group", Ref: group}
	if (Feed{Kind: KindGroup, Ref: group}).IsNumeric() {
		// GraphQL finds a group by full path only.
		var g listedEntity
		if err := c.getJSON(ctx, to, "/api/v4/groups/"+group, url.Values{"with_projects": {"false"}}, &g); err != nil {
			return nil, err
		}
		if g.FullPath == "" {
			return nil, fmt.Errorf("%s: GitLab's answer has no full_path", to.what())
		}
		group, _, _ = strings.Cut(g.FullPath, "/")
	}
	return c.destinations(to, func(after string) (*destinationPage, error) {
		var data struct {
			Group *struct {
				Destinations *destinationPage `json:"externalAuditEventStreamingDestinations"`
			} `json:"group"`
		}
		if err := c.graphQL(ctx, to, groupDestinationsQuery, map[string]any{"fullPath": group, "after": nullable(after)}, &data); err != nil {
			return nil, err
		}
		if data.Group == nil || data.Group.Destinations == nil {
			return nil, ErrNotAllowed
		}
		return data.Group.Destinations, nil
	}, group)
}

// InstanceDestinations lists the instance's streaming destinations. GitLab
// answers an empty list to a non-administrator: the caller must know the
// token is an administrator's to trust an empty answer.
func (c *Client) InstanceDestinations(ctx context.Context) ([]Destination, error) {
	to := Target{Class: ClassDestinations, Name: "instance"}
	return c.destinations(to, func(after string) (*destinationPage, error) {
		var data struct {
			Destinations *destinationPage `json:"auditEventsInstanceStreamingDestinations"`
		}
		if err := c.graphQL(ctx, to, instanceDestinationsQuery, map[string]any{"after": nullable(after)}, &data); err != nil {
			return nil, err
		}
		if data.Destinations == nil {
			return nil, ErrNotAllowed
		}
		return data.Destinations, nil
	}, "")
}

func (c *Client) destinations(to Target, page func(after string) (*destinationPage, error), group string) ([]Destination, error) {
	var out []Destination
	after := ""
	for range maxListingPages {
		p, err := page(after)
		if err != nil {
			return out, err
		}
		for _, n := range p.Nodes {
			d := Destination{ID: n.ID, Name: n.Name, Category: strings.ToLower(n.Category), Active: n.Active == nil || *n.Active,
				EventTypes: n.EventTypeFilters, Group: group}
			var cfg struct {
				URL string `json:"url"`
			}
			if len(n.Config) > 0 && json.Unmarshal(n.Config, &cfg) == nil {
				d.URL = cfg.URL
			}
			for _, f := range n.NamespaceFilters {
				if f.Namespace.FullPath != "" {
					d.Namespaces = append(d.Namespaces, f.Namespace.FullPath)
				}
			}
			out = append(out, d)
		}
		if !p.PageInfo.HasNextPage || p.PageInfo.EndCursor == "" || p.PageInfo.EndCursor == after {
			return out, nil
		}
		after = p.PageInfo.EndCursor
	}
	return out, fmt.Errorf("%s has more than %d pages", to.what(), maxListingPages)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// GraphQLError is a GraphQL answer with errors (the request itself was
// answered 200).
type GraphQLError struct {
	Target   Target
	Messages []string
}

func (e *GraphQLError) Error() string {
	return fmt.Sprintf("GitLab's GraphQL API refused the query for %s: %s", e.Target.what(), strings.Join(e.Messages, "; "))
}

// graphQL posts a query to /api/graphql (through the same budget, pauses
// and retries as every request) and decodes its data into out.
func (c *Client) graphQL(ctx context.Context, to Target, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	_, answer, err := c.do(ctx, request{url: apiURL(c.opts.BaseURL, "/api/graphql", nil), to: to, body: body})
	if err != nil {
		return err
	}
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(answer), &resp); err != nil {
		return fmt.Errorf("%s: GitLab's GraphQL answer is not JSON: %w", to.what(), err)
	}
	if len(resp.Errors) > 0 {
		ge := &GraphQLError{Target: to}
		for _, e := range resp.Errors {
			ge.Messages = append(ge.Messages, truncate(e.Message))
		}
		return ge
	}
	if len(resp.Data) == 0 || string(resp.Data) == "null" {
		return fmt.Errorf("%s: GitLab's GraphQL answer has no data", to.what())
	}
	return json.Unmarshal(resp.Data, out)
}
