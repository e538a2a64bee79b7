// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// Tiers accepted in Options.Tier.
const (
	TierUltimate = "ultimate"
	TierPremium  = "premium"
	TierFree     = "free"
)

// Role is a GitLab membership role (access level).
type Role int

// GitLab's access levels.
const (
	Guest      Role = 10
	Reporter   Role = 20
	Developer  Role = 30
	Maintainer Role = 40
	Owner      Role = 50
)

// String returns GitLab's name of the role.
func (r Role) String() string {
	switch r {
	case Guest:
		return "Guest"
	case Reporter:
		return "Reporter"
	case Developer:
		return "Developer"
	case Maintainer:
		return "Maintainer"
	case Owner:
		return "Owner"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Token is an access token: the user it belongs to, that user's roles, and
// the token's own metadata (see access.go for how GitLab uses each).
// Memberships are keyed by full path (case-insensitive) and are inherited
// by subgroups and projects, as in GitLab. The zero metadata is a
// never-expiring personal access token with the api scope.
type Token struct {
	// UserID is the token owner. Below the role that sees everyone's
	// events (group Owner, project Maintainer) a token sees only the events
	// its user authored, through this id.
	UserID int64
	// Admin marks the token owner as an administrator: every event, the
	// instance endpoint, no rate limit on GET /users/:id. With
	// Options.AdminMode, only while the token has the admin_mode scope.
	Admin bool
	// Auditor marks the owner as an auditor user: it may read every group
	// and project (listings, feeds) but, like GitLab's API, sees only its
	// own events in group and project feeds, and not the instance feed.
	Auditor bool
	// Groups maps group full paths to the token owner's role.
	Groups map[string]Role
	// Projects maps project full paths to the token owner's role.
	Projects map[string]Role

	// ID is the token id (GET /personal_access_tokens/self); 0 assigns one.
	ID int64
	// Name is the token name; "" names it after its id.
	Name string
	// Scopes are the token scopes (ScopeAPI, ScopeReadAPI, ...); nil means
	// ScopeAPI alone.
	Scopes []string
	// ExpiresAt is the expiry date; the token stops working at 00:00 UTC on
	// that day, as in GitLab. Zero never expires.
	ExpiresAt time.Time
	// Revoked tokens are refused with 401 invalid_token.
	Revoked bool
	// Kind is TokenPersonal (default), TokenProjectAccess,
	// TokenGroupAccess (bot users' tokens) or TokenOAuth.
	Kind TokenKind
	// CreatedAt is when the token was created; zero is 30 days before the
	// token is first registered.
	CreatedAt time.Time

	// adminUser is the user's admin flag before Options.AdminMode is
	// applied to Admin (GET /user still says is_admin).
	adminUser bool
}

// Options configures a Sim.
type Options struct {
	// Tokens are the accepted tokens, sent as PRIVATE-TOKEN, as
	// "Authorization: Bearer <token>", or as a private_token query parameter.
	Tokens map[string]Token
	// Tier is TierUltimate (default), TierPremium or TierFree. Free answers
	// 403 on every audit event endpoint.
	Tier string
	// RateLimitPerMinute limits the requests of each token (or client address
	// when unauthenticated) in fixed one-minute windows aligned on the clock,
	// like Rack::Attack. 0 means unlimited.
	RateLimitPerMinute int
	// NoKeyset simulates an instance that predates keyset pagination for
	// audit events: keyset requests on the audit event endpoints answer
	// 405 (the estate listings ignore pagination=keyset in any case).
	NoKeyset bool
	// GroupRollup makes the group feed include the events of the group's
	// subgroups and projects, as GitLab does only with its
	// audit_event_group_rollup feature flag enabled. Off (the default), a
	// group feed returns the group's own events, as GitLab does by default.
	GroupRollup bool
	// NoEventName simulates an instance older than GitLab 17.0: no event_name
	// anywhere in REST responses (streamed events keep event_type).
	NoEventName bool
	// AdminMode turns on GitLab's Admin Mode setting: administrators'
	// tokens act as administrators only with the admin_mode scope.
	AdminMode bool
	// AppLimits are GitLab's application rate limits (check_rate_limit!):
	// header-less 429s past a per-user count (see ratelimit.go).
	AppLimits AppLimits
	// Destinations are audit event streaming destinations that GraphQL
	// lists besides StreamTo's (destinations.go, graphql.go); New panics on
	// an invalid one (StreamingDestination.Validate).
	Destinations []StreamingDestination
	// Now is the clock; default time.Now.
	Now func() time.Time
	// MaxPerPage caps per_page; default 100.
	MaxPerPage int
	// StartID is the first database id; default 1.
	StartID int64
	// Location renders created_at in a time zone other than UTC, as
	// self-managed instances configured with a time zone do; default UTC.
	Location *time.Location
	// ExternalURL is the base URL written in Link headers (GitLab's
	// configured external URL); default scheme and Host of each request.
	ExternalURL string
	// Seed makes generation deterministic: the same seed and the same calls
	// produce the same events.
	Seed uint64
	// LegacyShare is the share of generated events, among the types that had
	// a legacy shape, rendered as GitLab's legacy AuditEventService wrote
	// them (no event_name; with/add/remove/change/custom_message only).
	LegacyShare float64
	// SecurityShare is the share of generated events drawn from the
	// security-relevant types the detection rules use (0 keeps the natural
	// mix, where they are rare).
	SecurityShare float64
	// StreamTo, when set, streams every inserted or generated event in the
	// background, so REST and the stream carry the same events (only those
	// its Destination's filters let through, when it has one). Call Close
	// to stop it. Its Destination is listed through GraphQL.
	StreamTo *Streamer
}

// User is a GitLab user of the simulated instance.
type User struct {
	// ID is the user id (authors of events carry it as author_id).
	ID int64
	// Username is the handle, used as entity_path of user-scoped events.
	Username string
	// Name is the display name (author_name, target_details).
	Name string
	// Email is rendered as author_email in REST answers.
	Email string
	// Admin users author instance-level changes in generated events.
	Admin bool
}

// Group is a GitLab group (namespace).
type Group struct {
	// ID is the namespace id.
	ID int64
	// FullPath is the path with its ancestors, e.g. "acme/platform".
	FullPath string
	// Name is the last path segment.
	Name string
	// ParentID is the parent group id, 0 for top-level groups.
	ParentID int64
	// CreatedAt is when the group was created (a year before the
	// simulator's clock for registered groups; now for CreateGroup).
	CreatedAt time.Time
}

// Project is a GitLab project.
type Project struct {
	// ID is the project id.
	ID int64
	// FullPath is the path with its namespace, e.g. "acme/platform/api".
	FullPath string
	// Name is the last path segment.
	Name string
	// GroupID is the id of the group the project belongs to.
	GroupID int64
	// CreatedAt is when the project was created (a year before the
	// simulator's clock for registered projects; now for CreateProject).
	CreatedAt time.Time
	// Archived projects are listed unless the listing asks archived=false.
	Archived bool
}

// RequestLog records one API request. The token is never kept: only
// whether one was presented and a short hash of it.
type RequestLog struct {
	// Time is the simulator clock's time of the request.
	Time time.Time
	// Method is the HTTP method.
	Method string
	// Path is the escaped request path (%2F kept).
	Path string
	// Query is the raw query with private_token/access_token values filtered.
	Query string
	// Token is "absent", or "sha256:" and the first 12 hex digits of the token's SHA-256.
	Token string
	// Status is the HTTP status answered.
	Status int
}

// maxRequestLog bounds the request log; RequestCount keeps counting beyond it.
const maxRequestLog = 100_000

// Sim is a simulated GitLab instance. It is an http.Handler and is safe for
// concurrent use.
type Sim struct {
	opts   Options
	now    func() time.Time
	render renderer

	// writeMu serialises inserts and guards rng; inserts render outside mu
	// so reads go on while a large batch is generated.
	writeMu sync.Mutex
	rng     *rand.Rand

	mu             sync.RWMutex
	st             *store
	streamOnly     []StoredEvent
	users          []*User
	usersByID      map[int64]*User
	groups         []*Group
	groupsByID     map[int64]*Group
	groupsByPath   map[string]*Group
	projects       []*Project
	projectsByID   map[int64]*Project
	projectsByPath map[string]*Project
	tokens         map[string]Token
	lastTokenID    int64
	deniedListings map[string]int // group full path -> status of its estate listings
	vanishMidWalk  int            // projects deleted after the next first page of a group projects listing (estate.go)

	reqMu      sync.Mutex
	reqLog     []RequestLog
	reqCount   int
	failN      int
	failStatus int
	reqSeq     uint64
	faults     Faults // see faults.go
	faultRank  uint64

	limiter    rateLimiter
	appLimiter appLimiter // ratelimit.go

	worker *streamWorker

	objects *objects // tokens, variables, deploy keys and tokens events name (objects.go)

	destinations       []*StreamingDestination // destinations.go
	destinationSecrets map[int64]string
	secretTokenReads   int // graphql.go: queries that selected secretToken
}

// New returns a simulator with no events, users, groups or projects.
func New(opts Options) *Sim {
	if opts.Tier == "" {
		opts.Tier = TierUltimate
	}
	opts.Tier = strings.ToLower(opts.Tier)
	if opts.MaxPerPage <= 0 {
		opts.MaxPerPage = 100
	}
	if opts.StartID <= 0 {
		opts.StartID = 1
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Sim{
		opts:           opts,
		now:            now,
		render:         renderer{loc: opts.Location, noEventName: opts.NoEventName},
		rng:            rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15)),
		st:             newStore(opts.StartID),
		usersByID:      map[int64]*User{},
		groupsByID:     map[int64]*Group{},
		groupsByPath:   map[string]*Group{},
		projectsByID:   map[int64]*Project{},
		projectsByPath: map[string]*Project{},
		tokens:         map[string]Token{},
	}
	for _, tok := range slices.Sorted(maps.Keys(opts.Tokens)) {
		s.tokens[tok] = s.normalizeToken(opts.Tokens[tok])
	}
	if st := opts.StreamTo; st != nil && st.Destination != nil {
		d := *st.Destination
		if d.URL == "" {
			d.URL = st.URL
		}
		if err := d.Validate(); err != nil {
			panic(err)
		}
		s.addDestinationLocked(d, st.Token)
	}
	for _, d := range opts.Destinations {
		if err := d.Validate(); err != nil {
			panic(err)
		}
		s.addDestinationLocked(d, "")
	}
	if opts.StreamTo != nil {
		s.worker = newStreamWorker(opts.StreamTo)
	}
	return s
}

// normalizeToken lower-cases the membership paths, fills the metadata
// defaults and applies Admin Mode to Admin. mu must be held (or s not
// shared yet).
func (s *Sim) normalizeToken(t Token) Token {
	out := t
	out.Groups, out.Projects = map[string]Role{}, map[string]Role{}
	for p, r := range t.Groups {
		out.Groups[strings.ToLower(strings.Trim(p, "/"))] = r
	}
	for p, r := range t.Projects {
		out.Projects[strings.ToLower(strings.Trim(p, "/"))] = r
	}
	out.Scopes = slices.Clone(t.Scopes)
	if out.Scopes == nil {
		out.Scopes = []string{ScopeAPI}
	}
	if out.ID == 0 {
		s.lastTokenID++
		out.ID = s.lastTokenID
	}
	s.lastTokenID = max(s.lastTokenID, out.ID)
	if out.Name == "" {
		out.Name = fmt.Sprintf("token-%d", out.ID)
	}
	if out.CreatedAt.IsZero() {
		out.CreatedAt = s.now().AddDate(0, 0, -30).Truncate(time.Millisecond).UTC()
	}
	if !out.ExpiresAt.IsZero() {
		y, m, d := out.ExpiresAt.UTC().Date()
		out.ExpiresAt = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	out.adminUser = t.Admin
	out.Admin = t.Admin && (!s.opts.AdminMode || out.hasScope(ScopeAdminMode))
	return out
}

// SetToken adds or replaces an accepted token.
func (s *Sim) SetToken(token string, t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = s.normalizeToken(t)
}

// AddUser registers a user. Events authored by a registered user id get its
// name and email when Insert is given only the id.
func (s *Sim) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addUserLocked(u)
}

func (s *Sim) addUserLocked(u User) {
	if u.Username == "" {
		u.Username = fmt.Sprintf("user%d", u.ID)
	}
	if u.Name == "" {
		u.Name = u.Username
	}
	if old, ok := s.usersByID[u.ID]; ok {
		*old = u
		return
	}
	nu := u
	s.users = append(s.users, &nu)
	s.usersByID[u.ID] = &nu
}

// AddGroup registers a group by id and full path ("acme/platform"). Its
// parent is the registered group whose full path is the path's prefix.
func (s *Sim) AddGroup(id int64, fullPath string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addGroupLocked(id, fullPath)
}

func (s *Sim) addGroupLocked(id int64, fullPath string) {
	fullPath = strings.Trim(fullPath, "/")
	g := &Group{ID: id, FullPath: fullPath, Name: lastSegment(fullPath), CreatedAt: s.registeredAt()}
	if i := strings.LastIndexByte(fullPath, '/'); i > 0 {
		if parent, ok := s.groupsByPath[strings.ToLower(fullPath[:i])]; ok {
			g.ParentID = parent.ID
		}
	}
	if old, ok := s.groupsByID[id]; ok {
		delete(s.groupsByPath, strings.ToLower(old.FullPath))
		*old = *g
		g = old
	} else {
		s.groups = append(s.groups, g)
		s.groupsByID[id] = g
	}
	s.groupsByPath[strings.ToLower(fullPath)] = g
}

// AddProject registers a project by id, full path ("acme/platform/api")
// and parent group id.
func (s *Sim) AddProject(id int64, fullPath string, groupID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addProjectLocked(id, fullPath, groupID)
}

func (s *Sim) addProjectLocked(id int64, fullPath string, groupID int64) {
	fullPath = strings.Trim(fullPath, "/")
	p := &Project{ID: id, FullPath: fullPath, Name: lastSegment(fullPath), GroupID: groupID, CreatedAt: s.registeredAt()}
	if old, ok := s.projectsByID[id]; ok {
		delete(s.projectsByPath, strings.ToLower(old.FullPath))
		*old = *p
		p = old
	} else {
		s.projects = append(s.projects, p)
		s.projectsByID[id] = p
	}
	s.projectsByPath[strings.ToLower(fullPath)] = p
}

func lastSegment(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Users returns the registered users in registration order.
func (s *Sim) Users() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]User, len(s.users))
	for i, u := range s.users {
		out[i] = *u
	}
	return out
}

// Groups returns the registered groups in registration order.
func (s *Sim) Groups() []Group {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Group, len(s.groups))
	for i, g := range s.groups {
		out[i] = *g
	}
	return out
}

// Projects returns the registered projects in registration order.
func (s *Sim) Projects() []Project {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Project, len(s.projects))
	for i, p := range s.projects {
		out[i] = *p
	}
	return out
}

// Insert stores one event and returns it. A saved type gets the next
// database id (a sequence: ids only grow). Giving it a CreatedAt older than
// already stored events simulates a late commit: a higher id with an older
// created_at, visible in later reads of the older window. Stream-only types
// are not stored for REST; they are only streamed.
func (s *Sim) Insert(ev Event) StoredEvent {
	s.writeMu.Lock()
	s.mu.RLock()
	s.complete(&ev)
	s.mu.RUnlock()
	se := s.storeOne(&ev)
	if objs := objectsOf(&ev, s.opts.Seed); objs != nil {
		s.mu.Lock()
		s.registerObjects(objs)
		s.mu.Unlock()
	}
	s.writeMu.Unlock()
	s.enqueue([]StoredEvent{se})
	return se
}

// storeOne renders and stores one completed event. writeMu must be held.
func (s *Sim) storeOne(ev *Event) StoredEvent {
	se := StoredEvent{
		Type:            ev.Type,
		StreamType:      streamType(ev),
		CreatedAt:       ev.CreatedAt,
		Entity:          ev.Entity,
		AuthorID:        ev.Author.ID,
		SavedToDatabase: savedToDatabase(ev.Type),
	}
	if se.SavedToDatabase {
		s.mu.RLock()
		se.ID = s.st.nextID()
		s.mu.RUnlock()
		se.StreamID = strconv.FormatInt(se.ID, 10)
		in := renderInput{ev: ev, id: se.ID, eventType: se.StreamType, createdAt: se.CreatedAt}
		se.RESTJSON = s.render.appendREST(nil, in)
		se.StreamJSON = s.render.appendStream(nil, in)
		s.mu.Lock()
		s.st.append(se)
		s.mu.Unlock()
		return se
	}
	se.StreamID = ev.StreamID
	if se.StreamID == "" {
		se.StreamID = newUUID(s.rng)
	}
	se.StreamJSON = s.render.appendStream(nil, renderInput{ev: ev, streamID: se.StreamID, eventType: se.StreamType, createdAt: se.CreatedAt})
	s.mu.Lock()
	s.streamOnly = append(s.streamOnly, se)
	s.mu.Unlock()
	return se
}

func streamType(ev *Event) string {
	if ev.Legacy || ev.Type == "" {
		return auditevent.AuditOperation
	}
	return ev.Type
}

// complete fills the defaults of an event. mu must be held (read).
func (s *Sim) complete(ev *Event) {
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = s.now()
	}
	ev.CreatedAt = ev.CreatedAt.Truncate(time.Microsecond).UTC()
	if ev.Entity.Type == "" {
		ev.Entity = InstanceEntity
	}
	if ev.Entity.Path == "" {
		switch ev.Entity.Type {
		case EntityGroup:
			if g, ok := s.groupsByID[ev.Entity.ID]; ok {
				ev.Entity.Path = g.FullPath
			}
		case EntityProject:
			if p, ok := s.projectsByID[ev.Entity.ID]; ok {
				ev.Entity.Path = p.FullPath
			}
		case EntityUser:
			if u, ok := s.usersByID[ev.Entity.ID]; ok {
				ev.Entity.Path = u.Username
			}
		case EntityInstance:
			ev.Entity.Path = InstanceEntity.Path
		}
	}
	if u, ok := s.usersByID[ev.Author.ID]; ok && ev.Author.ID > 0 {
		if ev.Author.Name == "" {
			ev.Author.Name = u.Name
		}
		if ev.Author.Email == "" {
			ev.Author.Email = u.Email
		}
	}
	if ev.Author.Class == "" {
		switch ev.Author.ID {
		case AuthorIDUnauthenticated:
			ev.Author.Class = AuthorClassUnauthenticated
		case AuthorIDDeployToken:
			ev.Author.Class = AuthorClassDeployToken
		case AuthorIDDeployKey:
			ev.Author.Class = AuthorClassDeployKey
		default:
			ev.Author.Class = AuthorClassUser
		}
	}
	if ev.Author.Name == "" && ev.Author.ID == AuthorIDUnauthenticated {
		ev.Author.Name = "An unauthenticated user"
	}
	if ev.Target == (Target{}) {
		ev.Target = Target{ID: ev.Entity.ID, Type: targetTypeOf(ev.Entity.Type), Details: ev.Entity.Path}
	}
}

func targetTypeOf(entityType string) string {
	if entityType == "" {
		return EntityInstance
	}
	return entityType
}

// Events returns the events saved to the database, in id order.
func (s *Sim) Events() []StoredEvent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.st.events)
}

// Event returns the saved event with this id.
func (s *Sim) Event(id int64) (StoredEvent, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.st.byID(id)
	if !ok {
		return StoredEvent{}, false
	}
	return s.st.events[p], true
}

// EventCount returns the number of events saved to the database.
func (s *Sim) EventCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.st.events)
}

// StreamOnlyEvents returns the stream-only events created so far, in order.
func (s *Sim) StreamOnlyEvents() []StoredEvent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.streamOnly)
}

// FailNext makes the next n API requests answer status (e.g. 500, 502, 503)
// with GitLab's error body, before authentication and rate limiting.
func (s *Sim) FailNext(n int, status int) {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.failN, s.failStatus = n, status
}

// Requests returns the logged API requests (the most recent 100,000).
func (s *Sim) Requests() []RequestLog {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	return slices.Clone(s.reqLog)
}

// RequestCount returns how many API requests were received.
func (s *Sim) RequestCount() int {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	return s.reqCount
}

// ResetRequests clears the request log and count.
func (s *Sim) ResetRequests() {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.reqLog, s.reqCount = nil, 0
}

func (s *Sim) logRequest(l RequestLog) {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.reqCount++
	if len(s.reqLog) >= maxRequestLog {
		s.reqLog = slices.Delete(s.reqLog, 0, len(s.reqLog)/10)
	}
	s.reqLog = append(s.reqLog, l)
}

// takeFailure consumes one injected failure.
func (s *Sim) takeFailure() (int, bool) {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	if s.failN <= 0 {
		return 0, false
	}
	s.failN--
	return s.failStatus, true
}

func (s *Sim) nextRequestID() uint64 {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.reqSeq++
	return s.reqSeq
}

// tokenHash describes a token without revealing it.
func tokenHash(tok string) string {
	if tok == "" {
		return "absent"
	}
	sum := sha256.Sum256([]byte(tok))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// newUUID returns a random (version 4) UUID drawn from r.
func newUUID(r *rand.Rand) string {
	var b [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	for i := range 8 {
		b[i] = byte(hi >> (8 * i))
		b[8+i] = byte(lo >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
