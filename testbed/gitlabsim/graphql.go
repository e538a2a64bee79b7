// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator"
)

// GitLab's GraphQL API, POST (or GET) /api/graphql, for the one thing the
// collector reads there: audit event streaming destinations. Current
// GitLab serves them only through GraphQL (no REST):
//
//   - group(fullPath:) { externalAuditEventStreamingDestinations }
//     (ee/app/graphql/ee/types/group_type.rb, authorize:
//     :admin_external_audit_events, that is the Owner of the group or an
//     administrator, Ultimate only; for anyone else the field is null);
//   - auditEventsInstanceStreamingDestinations (ee/app/graphql/ee/types/
//     query_type.rb; administrators, an empty list for anyone else);
//   - the node fields of AuditEventStreamingDestinationInterface (id, name,
//     category, config, eventTypeFilters, secretToken, active) and the
//     namespaceFilters { namespace { id fullPath } } of both types.
//
// Queries are parsed and validated against that part of GitLab's schema
// with gqlparser, so a field GitLab does not have is a GraphQL error as
// on a real instance. Authentication follows GraphqlController and
// Gitlab::Auth::RequestAuthenticator#find_sessionless_user, which rescues
// every AuthenticationError: an unknown, expired or revoked token is not
// an error but an anonymous request (private groups read as null). A token
// without api/read_api is treated the same way; in GitLab it authenticates
// and the scope validator refuses its fields (not verified whether with an
// error entry or a bare null). The simulator
// counts the queries that select secretToken (SecretTokenReads), so a test
// can prove a client never asks for it. Project namespaces are identified
// by their project's id (in GitLab they have ids of their own).

const graphqlSchemaSDL = `
scalar JSON

type Query {
  group(fullPath: ID!): Group
  auditEventsInstanceStreamingDestinations(after: String, before: String, first: Int, last: Int): InstanceAuditEventStreamingDestinationConnection
}

type Group {
  id: ID!
  name: String!
  path: String!
  fullPath: ID!
  externalAuditEventStreamingDestinations(after: String, before: String, first: Int, last: Int): GroupAuditEventStreamingDestinationConnection
}

type Namespace {
  id: ID!
  name: String!
  path: String!
  fullPath: ID!
}

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

interface AuditEventStreamingDestinationInterface {
  id: ID!
  name: String!
  category: String!
  config: JSON!
  eventTypeFilters: [String!]!
  secretToken: String!
  active: Boolean!
}

type GroupAuditEventStreamingDestination implements AuditEventStreamingDestinationInterface {
  id: ID!
  name: String!
  category: String!
  config: JSON!
  eventTypeFilters: [String!]!
  secretToken: String!
  active: Boolean!
  group: Group!
  namespaceFilters: [GroupAuditEventNamespaceFilter!]
}

type GroupAuditEventNamespaceFilter {
  id: ID!
  namespace: Namespace!
  externalStreamingDestination: GroupAuditEventStreamingDestination!
}

type GroupAuditEventStreamingDestinationEdge {
  cursor: String!
  node: GroupAuditEventStreamingDestination
}

type GroupAuditEventStreamingDestinationConnection {
  edges: [GroupAuditEventStreamingDestinationEdge]
  nodes: [GroupAuditEventStreamingDestination]
  pageInfo: PageInfo!
}

type InstanceAuditEventStreamingDestination implements AuditEventStreamingDestinationInterface {
  id: ID!
  name: String!
  category: String!
  config: JSON!
  eventTypeFilters: [String!]!
  secretToken: String!
  active: Boolean!
  namespaceFilters: [InstanceAuditEventNamespaceFilter!]
}

type InstanceAuditEventNamespaceFilter {
  id: ID!
  namespace: Namespace!
  externalStreamingDestination: InstanceAuditEventStreamingDestination!
}

type InstanceAuditEventStreamingDestinationEdge {
  cursor: String!
  node: InstanceAuditEventStreamingDestination
}

type InstanceAuditEventStreamingDestinationConnection {
  edges: [InstanceAuditEventStreamingDestinationEdge]
  nodes: [InstanceAuditEventStreamingDestination]
  pageInfo: PageInfo!
}
`

var graphqlSchema = gqlparser.MustLoadSchema(&ast.Source{Name: "gitlab.graphql", Input: graphqlSchemaSDL})

// gqlObject is a resolved GraphQL object: its type and its field resolvers.
type gqlObject struct {
	typ    string
	fields map[string]func(args map[string]any) any
}

// gqlField is one key of an ordered response object.
type gqlField struct {
	key   string
	value any
}

// gqlResult is a response object, its keys in the query's order.
type gqlResult []gqlField

// MarshalJSON writes the object with its keys in order.
func (o gqlResult) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type graphqlRequest struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
}

func writeGraphQLErrors(w http.ResponseWriter, status int, errs gqlerror.List) {
	body, _ := json.Marshal(map[string]any{"errors": errs})
	writeJSON(w, status, body)
}

// serveGraphQL answers /api/graphql.
func (s *Sim) serveGraphQL(w http.ResponseWriter, r *http.Request, tok string) {
	var req graphqlRequest
	switch r.Method {
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		if err != nil {
			writeGraphQLErrors(w, http.StatusBadRequest, gqlerror.List{gqlerror.Errorf("Invalid JSON body: %v", err)})
			return
		}
	case http.MethodGet:
		q := r.URL.Query()
		req.Query, req.OperationName = q.Get("query"), q.Get("operationName")
		if v := q.Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &req.Variables); err != nil {
				writeGraphQLErrors(w, http.StatusUnprocessableEntity, gqlerror.List{gqlerror.Errorf("Unexpected end of input")})
				return
			}
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeGraphQLErrors(w, http.StatusMethodNotAllowed, gqlerror.List{gqlerror.Errorf("405 Not Allowed")})
		return
	}
	doc, errs := gqlparser.LoadQueryWithRules(graphqlSchema, req.Query, nil)
	if len(errs) > 0 {
		writeGraphQLErrors(w, http.StatusOK, errs)
		return
	}
	var op *ast.OperationDefinition
	switch {
	case req.OperationName != "":
		op = doc.Operations.ForName(req.OperationName)
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	}
	if op == nil {
		writeGraphQLErrors(w, http.StatusOK, gqlerror.List{gqlerror.Errorf("An operation name is required")})
		return
	}
	vars, err := validator.VariableValues(graphqlSchema, op, req.Variables)
	if err != nil {
		writeGraphQLErrors(w, http.StatusOK, gqlerror.List{gqlerror.WrapIfUnwrapped(err)})
		return
	}
	// find_sessionless_user: a token that does not authenticate (unknown,
	// expired, revoked, without api/read_api) leaves the request anonymous.
	var caller *Token
	s.mu.Lock()
	if t, ok := s.tokens[tok]; ok && tok != "" && t.invalidTokenDescription(s.now()) == "" && t.hasScope(ScopeAPI, ScopeReadAPI) {
		caller = &t
	}
	if selects(op.SelectionSet, "secretToken") {
		s.secretTokenReads++
	}
	data := s.execute(op.SelectionSet, s.queryRoot(caller), vars)
	s.mu.Unlock()
	body, err := json.Marshal(map[string]any{"data": data})
	if err != nil {
		writeGraphQLErrors(w, http.StatusInternalServerError, gqlerror.List{gqlerror.Errorf("Internal server error")})
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// SecretTokenReads returns how many GraphQL queries selected a
// destination's secretToken (the verification token, a secret).
func (s *Sim) SecretTokenReads() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.secretTokenReads
}

// selects reports whether a selection set asks for the field anywhere.
func selects(set ast.SelectionSet, name string) bool {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.Name == name || selects(sel.SelectionSet, name) {
				return true
			}
		case *ast.InlineFragment:
			if selects(sel.SelectionSet, name) {
				return true
			}
		case *ast.FragmentSpread:
			if sel.Definition != nil && selects(sel.Definition.SelectionSet, name) {
				return true
			}
		}
	}
	return false
}

// execute resolves a selection set on an object. mu must be held.
func (s *Sim) execute(set ast.SelectionSet, obj *gqlObject, vars map[string]any) gqlResult {
	var out gqlResult
	put := func(key string, v any) {
		for i := range out {
			if out[i].key == key {
				out[i].value = v
				return
			}
		}
		out = append(out, gqlField{key, v})
	}
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			key := sel.Alias
			if key == "" {
				key = sel.Name
			}
			if sel.Name == "__typename" {
				put(key, obj.typ)
				continue
			}
			v := obj.fields[sel.Name](sel.ArgumentMap(vars))
			put(key, s.completeValue(v, sel.SelectionSet, vars))
		case *ast.InlineFragment:
			if typeMatches(obj.typ, sel.TypeCondition) {
				for _, f := range s.execute(sel.SelectionSet, obj, vars) {
					put(f.key, f.value)
				}
			}
		case *ast.FragmentSpread:
			if sel.Definition != nil && typeMatches(obj.typ, sel.Definition.TypeCondition) {
				for _, f := range s.execute(sel.Definition.SelectionSet, obj, vars) {
					put(f.key, f.value)
				}
			}
		}
	}
	return out
}

// completeValue turns a resolved value into its response form.
func (s *Sim) completeValue(v any, set ast.SelectionSet, vars map[string]any) any {
	switch v := v.(type) {
	case *gqlObject:
		if v == nil {
			return nil
		}
		return s.execute(set, v, vars)
	case []*gqlObject:
		out := make([]any, len(v))
		for i, o := range v {
			out[i] = s.completeValue(o, set, vars)
		}
		return out
	}
	return v
}

// typeMatches reports whether an object of type typ satisfies a fragment's
// type condition (the type itself or an interface it implements).
func typeMatches(typ, cond string) bool {
	if cond == "" || cond == typ {
		return true
	}
	def := graphqlSchema.Types[typ]
	for _, iface := range graphqlSchema.GetImplements(def) {
		if iface.Name == cond {
			return true
		}
	}
	return false
}

func gid(model string, id int64) string {
	return "gid://gitlab/" + model + "/" + strconv.FormatInt(id, 10)
}

// queryRoot is the Query object for a caller (nil: anonymous). mu must be held.
func (s *Sim) queryRoot(caller *Token) *gqlObject {
	return &gqlObject{typ: "Query", fields: map[string]func(map[string]any) any{
		"group": func(args map[string]any) any {
			path, _ := args["fullPath"].(string)
			g := s.groupsByPath[strings.ToLower(strings.Trim(path, "/"))]
			if g == nil || caller == nil || (!caller.Admin && !caller.Auditor && groupRole(*caller, g.FullPath) == 0) {
				return (*gqlObject)(nil)
			}
			return s.groupObject(g, caller)
		},
		"auditEventsInstanceStreamingDestinations": func(args map[string]any) any {
			var ds []*StreamingDestination
			if caller != nil && caller.Admin && s.opts.Tier == TierUltimate {
				for _, d := range s.destinations {
					if d.Group == "" {
						ds = append(ds, d)
					}
				}
			}
			return s.connection("InstanceAuditEventStreamingDestination", ds, args)
		},
	}}
}

// groupObject is a Group. mu must be held.
func (s *Sim) groupObject(g *Group, caller *Token) *gqlObject {
	return &gqlObject{typ: "Group", fields: map[string]func(map[string]any) any{
		"id":       func(map[string]any) any { return gid("Group", g.ID) },
		"name":     func(map[string]any) any { return g.Name },
		"path":     func(map[string]any) any { return g.Name },
		"fullPath": func(map[string]any) any { return g.FullPath },
		"externalAuditEventStreamingDestinations": func(args map[string]any) any {
			// authorize: :admin_external_audit_events (Owner or administrator,
			// licensed external_audit_events): null for anyone else.
			if caller == nil || s.opts.Tier != TierUltimate || (!caller.Admin && groupRole(*caller, g.FullPath) < Owner) {
				return (*gqlObject)(nil)
			}
			var ds []*StreamingDestination
			for _, d := range s.destinations {
				if d.Group != "" && strings.EqualFold(d.Group, g.FullPath) {
					ds = append(ds, d)
				}
			}
			return s.connection("GroupAuditEventStreamingDestination", ds, args)
		},
	}}
}

// connection is a connection of destinations, paged by first/after.
func (s *Sim) connection(nodeType string, ds []*StreamingDestination, args map[string]any) *gqlObject {
	start := 0
	if after, ok := args["after"].(string); ok {
		if b, err := base64.StdEncoding.DecodeString(after); err == nil {
			if n, err := strconv.Atoi(string(b)); err == nil {
				start = min(n+1, len(ds))
			}
		}
	}
	end := len(ds)
	if first, ok := args["first"].(int64); ok && first >= 0 {
		end = min(end, start+int(first))
	}
	page := ds[start:end]
	cursor := func(i int) string { return base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(start + i))) }
	nodes := make([]*gqlObject, len(page))
	edges := make([]*gqlObject, len(page))
	for i, d := range page {
		nodes[i] = s.destinationObject(nodeType, d)
		node, c := nodes[i], cursor(i)
		edges[i] = &gqlObject{typ: nodeType + "Edge", fields: map[string]func(map[string]any) any{
			"cursor": func(map[string]any) any { return c },
			"node":   func(map[string]any) any { return node },
		}}
	}
	pageInfo := &gqlObject{typ: "PageInfo", fields: map[string]func(map[string]any) any{
		"hasNextPage":     func(map[string]any) any { return end < len(ds) },
		"hasPreviousPage": func(map[string]any) any { return start > 0 },
		"startCursor": func(map[string]any) any {
			if len(page) == 0 {
				return nil
			}
			return cursor(0)
		},
		"endCursor": func(map[string]any) any {
			if len(page) == 0 {
				return nil
			}
			return cursor(len(page) - 1)
		},
	}}
	return &gqlObject{typ: nodeType + "Connection", fields: map[string]func(map[string]any) any{
		"nodes":    func(map[string]any) any { return nodes },
		"edges":    func(map[string]any) any { return edges },
		"pageInfo": func(map[string]any) any { return pageInfo },
	}}
}

// destinationObject is a streaming destination node. mu must be held.
func (s *Sim) destinationObject(typ string, d *StreamingDestination) *gqlObject {
	group := typ == "GroupAuditEventStreamingDestination"
	model, filterModel, filterType := "AuditEvents::Instance::ExternalStreamingDestination", "AuditEvents::Instance::NamespaceFilter", "InstanceAuditEventNamespaceFilter"
	if group {
		model, filterModel, filterType = "AuditEvents::Group::ExternalStreamingDestination", "AuditEvents::Group::NamespaceFilter", "GroupAuditEventNamespaceFilter"
	}
	var self *gqlObject
	self = &gqlObject{typ: typ, fields: map[string]func(map[string]any) any{
		"id":       func(map[string]any) any { return gid(model, d.ID) },
		"name":     func(map[string]any) any { return d.Name },
		"category": func(map[string]any) any { return d.Category },
		"config": func(map[string]any) any {
			if d.Category == CategoryHTTP {
				return map[string]any{"url": d.URL}
			}
			return map[string]any{}
		},
		"eventTypeFilters": func(map[string]any) any { return append([]string{}, d.EventTypeFilters...) },
		// ExternallyStreamable: the token of an HTTP destination, "" otherwise.
		"secretToken": func(map[string]any) any {
			if d.Category == CategoryHTTP {
				return s.destinationSecrets[d.ID]
			}
			return ""
		},
		"active": func(map[string]any) any { return !d.Inactive },
		"namespaceFilters": func(map[string]any) any {
			out := []*gqlObject{}
			for i, f := range d.NamespaceFilters {
				ns := s.namespaceObject(f)
				if ns == nil {
					continue // GitLab deletes the filter with its namespace
				}
				id := d.ID*100 + int64(i) + 1
				out = append(out, &gqlObject{typ: filterType, fields: map[string]func(map[string]any) any{
					"id":                           func(map[string]any) any { return gid(filterModel, id) },
					"namespace":                    func(map[string]any) any { return ns },
					"externalStreamingDestination": func(map[string]any) any { return self },
				}})
			}
			return out
		},
	}}
	if group {
		self.fields["group"] = func(map[string]any) any {
			if g := s.groupsByPath[strings.ToLower(d.Group)]; g != nil {
				return s.groupObject(g, nil)
			}
			return (*gqlObject)(nil)
		}
	}
	return self
}

// namespaceObject is the Namespace of a group or project full path, nil
// when neither exists. mu must be held.
func (s *Sim) namespaceObject(path string) *gqlObject {
	key := strings.ToLower(strings.Trim(path, "/"))
	var id, name, full string
	if g := s.groupsByPath[key]; g != nil {
		id, name, full = gid("Group", g.ID), g.Name, g.FullPath
	} else if p := s.projectsByPath[key]; p != nil {
		id, name, full = gid("Namespaces::ProjectNamespace", p.ID), p.Name, p.FullPath
	} else {
		return nil
	}
	return &gqlObject{typ: "Namespace", fields: map[string]func(map[string]any) any{
		"id":       func(map[string]any) any { return id },
		"name":     func(map[string]any) any { return name },
		"path":     func(map[string]any) any { return name },
		"fullPath": func(map[string]any) any { return full },
	}}
}
