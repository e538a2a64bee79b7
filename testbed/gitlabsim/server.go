// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
)

// countLimit is Kaminari's count limit in GitLab: above it the total
// headers and the rel="last" link are left out.
const countLimit = 10_000

type routeKind uint8

const (
	routeInstance routeKind = iota + 1
	routeGroup
	routeProject
)

// route is a matched audit event route.
type route struct {
	kind    routeKind
	id      string // group or project id or full path (decoded)
	eventID string // single-event routes
	single  bool
}

// matchRoute matches the escaped path; %2F stays inside one segment, so an
// unencoded full path does not match, as in GitLab.
func matchRoute(escaped string) (route, bool) {
	rest, ok := strings.CutPrefix(escaped, "/api/v4/")
	if !ok {
		return route{}, false
	}
	seg := strings.Split(rest, "/")
	if rt, ok := matchEstateRoute(seg); ok {
		return rt, true
	}
	unescape := func(s string) (string, bool) {
		u, err := url.PathUnescape(s)
		return u, err == nil && u != ""
	}
	switch {
	case len(seg) == 1 && seg[0] == "audit_events":
		return route{kind: routeInstance}, true
	case len(seg) == 2 && seg[0] == "audit_events" && seg[1] != "":
		ev, ok := unescape(seg[1])
		return route{kind: routeInstance, eventID: ev, single: true}, ok
	case (len(seg) == 3 || len(seg) == 4) && (seg[0] == "groups" || seg[0] == "projects") && seg[2] == "audit_events":
		id, ok := unescape(seg[1])
		if !ok {
			return route{}, false
		}
		r := route{kind: routeGroup, id: id}
		if seg[0] == "projects" {
			r.kind = routeProject
		}
		if len(seg) == 4 {
			ev, ok := unescape(seg[3])
			if !ok {
				return route{}, false
			}
			r.eventID, r.single = ev, true
		}
		return r, true
	}
	return route{}, false
}

// statusRecorder remembers the status written and logs the request as
// soon as the status is known, before the client can see the answer, so
// that a client that got its answer always finds its request in the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	logged func(status int)
}

func (r *statusRecorder) record(code int) {
	if r.status == 0 {
		r.status = code
		if r.logged != nil {
			r.logged(code)
		}
	}
}

// WriteHeader records the first status written.
func (r *statusRecorder) WriteHeader(code int) {
	r.record(code)
	r.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 status.
func (r *statusRecorder) Write(p []byte) (int, error) {
	r.record(http.StatusOK)
	return r.ResponseWriter.Write(p)
}

// ServeHTTP answers GitLab's audit event API and /-/health.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if path == "/-/health" {
		w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte("GitLab OK"))
		}
		return
	}
	now := s.now()
	tok := requestToken(r)
	rec := &statusRecorder{ResponseWriter: w, logged: func(status int) {
		s.logRequest(RequestLog{
			Time:   now,
			Method: r.Method,
			Path:   path,
			Query:  filterQuery(r.URL.RawQuery),
			Token:  tokenHash(tok),
			Status: status,
		})
	}}
	s.serveAPI(rec, r, path, tok, now)
	rec.record(http.StatusOK) // an answer with neither header nor body
}

func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request, path, tok string, now time.Time) {
	h := w.Header()
	h.Set("Cache-Control", "max-age=0, private, must-revalidate")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("X-Request-Id", fmt.Sprintf("01SIM%021d", s.nextRequestID()))
	// The simulator's clock, not the host's: it may be set apart from the
	// client's to simulate clock skew.
	h.Set("Date", now.UTC().Format(http.TimeFormat))

	if status, fail := s.takeFailure(); fail {
		writeMessage(w, status, fmt.Sprintf("%d %s", status, http.StatusText(status)))
		return
	}
	if s.injectFault(w, r, now) {
		return
	}
	if limit := s.opts.RateLimitPerMinute; limit > 0 {
		key := "token:" + tokenHash(tok)
		if tok == "" {
			key = "ip:" + clientIP(r)
		}
		observed, reset := s.limiter.hit(key, now)
		h.Set("RateLimit-Name", "throttle_authenticated_api")
		h.Set("RateLimit-Limit", strconv.Itoa(limit))
		h.Set("RateLimit-Observed", strconv.Itoa(observed))
		h.Set("RateLimit-Remaining", strconv.Itoa(max(0, limit-observed)))
		h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		if observed > limit {
			h.Set("RateLimit-ResetTime", reset.UTC().Format(http.TimeFormat))
			h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(reset.Sub(now).Seconds())))))
			h.Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte("Retry later\n"))
			return
		}
	}
	if path == "/api/graphql" {
		s.serveGraphQL(w, r, tok) // graphql.go
		return
	}
	if s.serveAccess(w, r, path, tok, now) { // access.go
		return
	}
	if s.serveObject(w, r, path, tok) { // lookups.go
		return
	}
	rt, ok := matchRoute(path)
	if !ok {
		writeError(w, http.StatusNotFound, "404 Not Found")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "OPTIONS, GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		return
	}
	t, ok := s.authenticate(w, r, path, tok, now) // access.go
	if !ok {
		return
	}
	switch rt.kind {
	case routeInstance:
		s.serveInstance(w, r, rt, t)
	case routeGroup:
		s.serveGroup(w, r, rt, t)
	case routeProject:
		s.serveProject(w, r, rt, t)
	case routeDescendantGroups:
		s.serveDescendantGroups(w, r, rt, t)
	case routeGroupProjects:
		s.serveGroupProjects(w, r, rt, t)
	}
}

// listParamsOr400 reads the list parameters of r (see parseList; a
// single-event request has none); when they are invalid it answers 400
// naming every problem, and ok is false.
func (s *Sim) listParamsOr400(w http.ResponseWriter, r *http.Request, rt route, instance bool) (p listParams, ok bool) {
	if rt.single {
		return p, true
	}
	p, errs := s.parseList(r.URL.Query(), instance)
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, strings.Join(errs, ", "))
		return p, false
	}
	return p, true
}

// serveInstance answers the instance feed: administrators only
// (authenticated_as_admin! in ee/lib/api/audit_events.rb, which auditors
// do not pass; with Admin Mode, only with the admin_mode scope).
func (s *Sim) serveInstance(w http.ResponseWriter, r *http.Request, rt route, t Token) {
	if !t.Admin || s.opts.Tier == TierFree {
		writeMessage(w, http.StatusForbidden, "403 Forbidden")
		return
	}
	if rt.single {
		s.serveSingle(w, rt, "id", []feedKey{{kind: feedAll}})
		return
	}
	p, ok := s.listParamsOr400(w, r, rt, true)
	if !ok {
		return
	}
	key := feedKey{kind: feedAll}
	if p.entity != "" {
		key = feedKey{kind: kindOf(p.entity), id: anyID}
		if p.hasEntID {
			key.id = p.entityID
		}
	}
	s.serveList(w, r, rt, p, []feedKey{key})
}

func (s *Sim) serveGroup(w http.ResponseWriter, r *http.Request, rt route, t Token) {
	p, ok := s.listParamsOr400(w, r, rt, false)
	if !ok {
		return
	}
	s.mu.RLock()
	g := s.findGroup(rt.id)
	var role Role
	var ids []int64
	var projectIDs []int64
	if g != nil {
		role = groupRole(t, g.FullPath)
		ids = []int64{g.ID}
		if s.opts.GroupRollup {
			prefix := strings.ToLower(g.FullPath) + "/"
			for _, sg := range s.groups {
				if strings.HasPrefix(strings.ToLower(sg.FullPath), prefix) {
					ids = append(ids, sg.ID)
				}
			}
			for _, pr := range s.projects {
				if pr.GroupID == g.ID || strings.HasPrefix(strings.ToLower(pr.FullPath), prefix) {
					projectIDs = append(projectIDs, pr.ID)
				}
			}
		}
	}
	s.mu.RUnlock()
	all, ok := s.authorize(w, t, g != nil, role, Owner, "404 Group Not Found")
	if !ok {
		return
	}
	keys := feedKeys(feedGroup, ids, all, t.UserID)
	keys = append(keys, feedKeys(feedProject, projectIDs, all, t.UserID)...)
	if rt.single {
		s.serveSingle(w, rt, "audit_event_id", keys)
		return
	}
	s.serveList(w, r, rt, p, keys)
}

func (s *Sim) serveProject(w http.ResponseWriter, r *http.Request, rt route, t Token) {
	p, ok := s.listParamsOr400(w, r, rt, false)
	if !ok {
		return
	}
	s.mu.RLock()
	pr := s.findProject(rt.id)
	var role Role
	if pr != nil {
		role = projectRole(t, pr.FullPath)
	}
	s.mu.RUnlock()
	all, ok := s.authorize(w, t, pr != nil, role, Maintainer, "404 Project Not Found")
	if !ok {
		return
	}
	keys := feedKeys(feedProject, []int64{pr.ID}, all, t.UserID)
	if rt.single {
		s.serveSingle(w, rt, "audit_event_id", keys)
		return
	}
	s.serveList(w, r, rt, p, keys)
}

// authorize answers as GitLab does for a group or project feed
// (ee/lib/ee/api/groups.rb and projects.rb): 404 when the resource is
// unknown or invisible to the token (the simulator's groups are private),
// 403 below Developer (read_group_audit_events / read_project_audit_events
// need Developer, or an auditor user) and on the Free tier. all reports
// whether the token sees every author's events: filter_by_author keeps
// everyone's events only with admin_group (Owner) or admin_project
// (Maintainer), which administrators have and auditors do not; every
// other reader gets its own events only, also for a single event (404 for
// someone else's).
func (s *Sim) authorize(w http.ResponseWriter, t Token, found bool, role, seesAll Role, notFound string) (all, ok bool) {
	if !found || (role == 0 && !t.Admin && !t.Auditor) {
		writeMessage(w, http.StatusNotFound, notFound)
		return false, false
	}
	if !t.Admin && !t.Auditor && role < Developer || s.opts.Tier == TierFree {
		writeMessage(w, http.StatusForbidden, "403 Forbidden")
		return false, false
	}
	return t.Admin || role >= seesAll, true
}

func feedKeys(kind feedKind, ids []int64, all bool, author int64) []feedKey {
	keys := make([]feedKey, 0, len(ids))
	for _, id := range ids {
		k := feedKey{kind: kind, id: id}
		if !all {
			k.byAuthor, k.author = true, author
		}
		keys = append(keys, k)
	}
	return keys
}

// findGroup finds a group by numeric id or full path. mu must be held.
func (s *Sim) findGroup(id string) *Group {
	if isDigits(id) {
		n, err := strconv.ParseInt(id, 10, 64)
		if err == nil {
			return s.groupsByID[n]
		}
	}
	return s.groupsByPath[strings.ToLower(id)]
}

// findProject finds a project by numeric id or full path. mu must be held.
func (s *Sim) findProject(id string) *Project {
	if isDigits(id) {
		n, err := strconv.ParseInt(id, 10, 64)
		if err == nil {
			return s.projectsByID[n]
		}
	}
	return s.projectsByPath[strings.ToLower(id)]
}

// groupRole is the highest role on the group or one of its ancestors.
func groupRole(t Token, fullPath string) Role {
	var best Role
	p := strings.ToLower(fullPath)
	for {
		best = max(best, t.Groups[p])
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return best
		}
		p = p[:i]
	}
}

// projectRole is the highest of the project role and the inherited group roles.
func projectRole(t Token, fullPath string) Role {
	p := strings.ToLower(fullPath)
	best := t.Projects[p]
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		best = max(best, groupRole(t, p[:i]))
	}
	return best
}

func (s *Sim) serveSingle(w http.ResponseWriter, rt route, param string, keys []feedKey) {
	id, err := strconv.ParseInt(rt.eventID, 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, param+" is invalid")
		return
	}
	s.mu.RLock()
	var body []byte
	if pos, ok := s.st.byID(id); ok && s.st.view(keys, fullWindow).contains(pos) {
		body = s.st.events[pos].RESTJSON
	}
	s.mu.RUnlock()
	if body == nil {
		writeMessage(w, http.StatusNotFound, "404 Not found")
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Sim) serveList(w http.ResponseWriter, r *http.Request, rt route, p listParams, keys []feedKey) {
	if p.keyset {
		s.serveKeyset(w, r, rt, p, keys)
		return
	}
	s.mu.RLock()
	v := s.st.view(keys, p.w)
	skip := math.MaxInt
	if p.page-1 <= (math.MaxInt-1)/p.perPage {
		skip = (p.page - 1) * p.perPage
	}
	items := v.offset(skip, p.perPage+1)
	more := len(items) > p.perPage
	if more {
		items = items[:p.perPage]
	}
	body := s.joinREST(items)
	s.mu.RUnlock()

	s.setOffsetHeaders(w, r, rt, p.page, p.perPage, v.total, more, len(items) == 0)
	writeJSON(w, http.StatusOK, body)
}

// setOffsetHeaders writes GitLab's offset pagination headers (X-Page,
// X-Next-Page, Link, and the totals up to countLimit rows) of a list
// answer: more says a row follows the page, empty that the page has none.
func (s *Sim) setOffsetHeaders(w http.ResponseWriter, r *http.Request, rt route, page, perPage, total int, more, empty bool) {
	withCount := total <= countLimit
	totalPages := max(1, (total+perPage-1)/perPage)
	var next, prev int
	if withCount {
		outOfRange := page > (total+perPage-1)/perPage
		if !outOfRange && page < totalPages {
			next = page + 1
		}
		if page > 1 && !outOfRange {
			prev = page - 1
		}
	} else {
		outOfRange := empty
		if more && !outOfRange {
			next = page + 1
		}
		if page > 1 && !outOfRange {
			prev = page - 1
		}
	}
	h := w.Header()
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Next-Page", itoaOrEmpty(next))
	h.Set("X-Prev-Page", itoaOrEmpty(prev))
	base := s.linkBase(r, rt)
	var links []string
	link := func(page int, rel string) {
		links = append(links, fmt.Sprintf("<%s>; rel=%q", base(map[string]string{"page": strconv.Itoa(page)}), rel))
	}
	if prev > 0 {
		link(prev, "prev")
	}
	if next > 0 {
		link(next, "next")
	}
	link(1, "first")
	if withCount {
		link(totalPages, "last")
	}
	h.Set("Link", strings.Join(links, ", "))
	if withCount {
		h.Set("X-Total", strconv.Itoa(total))
		h.Set("X-Total-Pages", strconv.Itoa(totalPages))
	}
}

const keysetUnavailable = "Keyset pagination is not yet available for this type of request"

func (s *Sim) serveKeyset(w http.ResponseWriter, r *http.Request, rt route, p listParams, keys []feedKey) {
	if s.opts.NoKeyset || (p.orderBy != "" && p.orderBy != "id") || (p.sort != "" && p.sort != "desc") {
		writeError(w, http.StatusMethodNotAllowed, keysetUnavailable)
		return
	}
	limit := int32(math.MaxInt32)
	if p.cursor != "" {
		id, err := decodeCursor(p.cursor)
		if err != nil {
			writeMessage(w, http.StatusBadRequest, "400 Bad request - Invalid cursor parameter")
			return
		}
		s.mu.RLock()
		limit = s.st.positionBelow(id)
		s.mu.RUnlock()
	}
	s.mu.RLock()
	v := s.st.view(keys, p.w)
	items := v.below(limit, p.perPage+1)
	more := len(items) > p.perPage
	if more {
		items = items[:p.perPage]
	}
	body := s.joinREST(items)
	var lastID int64
	if more {
		lastID = s.st.events[items[len(items)-1]].ID
	}
	s.mu.RUnlock()
	if more {
		href := s.linkBase(r, rt)(map[string]string{"cursor": encodeCursor(lastID)})
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", href))
	}
	writeJSON(w, http.StatusOK, body)
}

// joinREST renders a JSON array of the REST bodies. mu must be held.
func (s *Sim) joinREST(items []int32) []byte {
	n := 2
	for _, p := range items {
		n += len(s.st.events[p].RESTJSON) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, p := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, s.st.events[p].RESTJSON...)
	}
	return append(b, ']')
}

// linkBase returns a function building the URL of another page: the request
// URL with every parameter repeated (Grape's params: the query, the route
// id and the pagination defaults), overridden by the given ones, sorted by
// name as Ruby's to_query does. Tokens given as parameters are not repeated.
func (s *Sim) linkBase(r *http.Request, rt route) func(map[string]string) string {
	base := s.opts.ExternalURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	base = strings.TrimRight(base, "/") + r.URL.EscapedPath()
	q := url.Values{}
	for k, vs := range r.URL.Query() {
		if k == "private_token" || k == "access_token" || len(vs) == 0 {
			continue
		}
		q.Set(k, vs[len(vs)-1])
	}
	if rt.kind != routeInstance {
		q.Set("id", rt.id)
	}
	if q.Get("page") == "" {
		q.Set("page", "1")
	}
	if q.Get("per_page") == "" {
		q.Set("per_page", "20")
	}
	return func(over map[string]string) string {
		qq := url.Values{}
		for k, vs := range q {
			qq[k] = vs
		}
		for k, v := range over {
			qq.Set(k, v)
		}
		return base + "?" + qq.Encode()
	}
}

func itoaOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeMessage writes GitLab's {"message": ...} error body.
func writeMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, append(jsonpdata.AppendString([]byte(`{"message":`), msg), '}'))
}

// writeError writes Grape's {"error": ...} error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, append(jsonpdata.AppendString([]byte(`{"error":`), msg), '}'))
}

// requestToken returns the token of a request, as GitLab reads it.
func requestToken(r *http.Request) string {
	if t := r.Header.Get("Private-Token"); t != "" {
		return t
	}
	if a := r.Header.Get("Authorization"); a != "" {
		if t, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	q := r.URL.Query()
	if t := q.Get("private_token"); t != "" {
		return t
	}
	return q.Get("access_token")
}

// filterQuery hides token values in a raw query, as GitLab's logs do.
func filterQuery(raw string) string {
	if raw == "" || (!strings.Contains(raw, "private_token") && !strings.Contains(raw, "access_token")) {
		return raw
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if k == "private_token" || k == "access_token" {
			parts[i] = k + "=[FILTERED]"
		}
	}
	return strings.Join(parts, "&")
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rateLimiter counts requests per key in fixed windows aligned on the
// minute, like Rack::Attack's throttles.
type rateLimiter struct {
	mu     sync.Mutex
	window int64
	counts map[string]int
}

// hit counts a request and returns the count in the window and the window's end.
func (l *rateLimiter) hit(key string, now time.Time) (int, time.Time) {
	const period = 60
	l.mu.Lock()
	defer l.mu.Unlock()
	w := now.Unix() / period
	if w != l.window || l.counts == nil {
		l.window, l.counts = w, map[string]int{}
	}
	l.counts[key]++
	return l.counts[key], time.Unix((w+1)*period, 0)
}
