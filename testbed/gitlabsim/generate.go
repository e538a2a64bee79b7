// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// GenerateOptions tunes GenerateWith.
type GenerateOptions struct {
	// Count is the number of events.
	Count int
	// From and To bound created_at (inclusive). Events are spread evenly
	// with jitter and come out in ascending created_at and id order.
	From, To time.Time
	// SavedOnly draws only types saved to the database (REST-visible), e.g.
	// for a backfill of history.
	SavedOnly bool
	// Types restricts the draw to these types (keeping their relative
	// weights). Unknown names are ignored.
	Types []string
	// NoStream keeps the events out of Options.StreamTo (history that a
	// streaming destination configured now would never receive).
	NoStream bool
}

// ErrUnknownType is returned for an event type missing from the catalogue.
var ErrUnknownType = errors.New("gitlabsim: unknown event type")

// generation chunk: each chunk has its own random streams derived from the
// call seed and the chunk index, so the result does not depend on how many
// goroutines render it.
const genChunk = 4096

// Generate inserts n events spread over [from, to], drawn from the whole
// catalogue (stream-only types included) with realistic weights, and
// returns them in order. If no group or project is registered it first
// calls Populate(DefaultGroups, DefaultProjects).
func (s *Sim) Generate(n int, from, to time.Time) []StoredEvent {
	return s.GenerateWith(GenerateOptions{Count: n, From: from, To: to})
}

// GenerateWith is Generate with options.
func (s *Sim) GenerateWith(o GenerateOptions) []StoredEvent {
	if o.Count <= 0 {
		return nil
	}
	if o.To.Before(o.From) {
		o.From, o.To = o.To, o.From
	}
	s.writeMu.Lock()
	tp := s.snapshotTopology()
	callSeed := s.rng.Uint64()
	smp := s.samplerFor(o)
	fromUS := o.From.Truncate(time.Microsecond).UnixMicro()
	span := float64(o.To.Truncate(time.Microsecond).UnixMicro() - fromUS)

	n := o.Count
	chunks := (n + genChunk - 1) / genChunk
	types := make([]int32, n)
	savedPerChunk := make([]int, chunks)
	parallel(chunks, func(c int) {
		r := rand.New(rand.NewPCG(callSeed, uint64(2*c)))
		for k := c * genChunk; k < min(n, (c+1)*genChunk); k++ {
			ti := smp.pick(r)
			types[k] = ti
			if catalog[ti].SavedToDatabase {
				savedPerChunk[c]++
			}
		}
	})
	s.mu.RLock()
	firstID := s.st.nextID()
	s.mu.RUnlock()
	chunkFirstID := make([]int64, chunks)
	next := firstID
	for c := range chunks {
		chunkFirstID[c] = next
		next += int64(savedPerChunk[c])
	}

	out := make([]StoredEvent, n)
	objs := make([][]any, chunks) // the objects the events name (objects.go)
	parallel(chunks, func(c int) {
		r := rand.New(rand.NewPCG(callSeed, uint64(2*c+1)))
		g := &gen{r: r, t: tp, legacyShare: s.opts.LegacyShare}
		var ar arena
		var buf []byte
		id := chunkFirstID[c]
		for k := c * genChunk; k < min(n, (c+1)*genChunk); k++ {
			at := time.UnixMicro(fromUS + int64(span*(float64(k)+r.Float64())/float64(n))).UTC()
			ti := catalog[types[k]]
			legacy := legacyTemplates[ti.Name] != nil && g.legacyShare > 0 && r.Float64() < g.legacyShare
			ev := g.build(ti, at, legacy)
			objs[c] = append(objs[c], objectsOf(&ev, s.opts.Seed)...)
			se := StoredEvent{
				Type:            ev.Type,
				StreamType:      streamType(&ev),
				CreatedAt:       ev.CreatedAt,
				Entity:          ev.Entity,
				AuthorID:        ev.Author.ID,
				SavedToDatabase: ti.SavedToDatabase,
			}
			in := renderInput{ev: &ev, eventType: se.StreamType, createdAt: se.CreatedAt}
			if se.SavedToDatabase {
				se.ID = id
				id++
				se.StreamID = strconv.FormatInt(se.ID, 10)
				in.id = se.ID
				buf = s.render.appendREST(buf[:0], in)
				se.RESTJSON = ar.copy(buf)
			} else {
				se.StreamID = newUUID(r)
				in.streamID = se.StreamID
			}
			buf = s.render.appendStream(buf[:0], in)
			se.StreamJSON = ar.copy(buf)
			out[k] = se
		}
	})

	saved := 0
	for _, c := range savedPerChunk {
		saved += c
	}
	s.mu.Lock()
	s.st.grow(saved)
	s.streamOnly = slices.Grow(s.streamOnly, n-saved)
	for k := range out {
		if out[k].SavedToDatabase {
			s.st.append(out[k])
		} else {
			s.streamOnly = append(s.streamOnly, out[k])
		}
	}
	for _, o := range objs {
		s.registerObjects(o)
	}
	s.mu.Unlock()
	s.writeMu.Unlock()
	if !o.NoStream {
		s.enqueue(out)
	}
	return out
}

// parallel runs f(0..n-1) on up to GOMAXPROCS goroutines and waits.
func parallel(n int, f func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// GenerateType builds an event of the given type at the given time (zero
// means now) with realistic details, in its modern shape, and inserts it.
func (s *Sim) GenerateType(name string, at time.Time) (StoredEvent, error) {
	ev, err := s.BuildEvent(name, at, false)
	if err != nil {
		return StoredEvent{}, err
	}
	return s.Insert(ev), nil
}

// BuildEvent builds, without inserting it, an event of the given type at
// the given time (zero means now) with realistic details. legacy asks for
// the legacy AuditEventService shape when the type had one. Tests can
// adjust the event and Insert it.
func (s *Sim) BuildEvent(name string, at time.Time, legacy bool) (Event, error) {
	idx, ok := catalogIndex[name]
	if !ok {
		// A renamed type: build it under its current name.
		idx, ok = catalogIndex[auditevent.Canonical(name)]
	}
	if !ok {
		return Event{}, fmt.Errorf("%w: %q", ErrUnknownType, name)
	}
	if at.IsZero() {
		at = s.now()
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tp := s.snapshotTopology()
	g := &gen{r: rand.New(rand.NewPCG(s.rng.Uint64(), s.rng.Uint64())), t: tp}
	ti := catalog[idx]
	return g.build(ti, at.Truncate(time.Microsecond).UTC(), legacy && legacyTemplates[ti.Name] != nil), nil
}

// snapshotTopology copies users, groups and projects for generation,
// populating a default instance when there is nothing to act on.
// writeMu must be held.
func (s *Sim) snapshotTopology() *topology {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.groups) == 0 || len(s.projects) == 0 || len(s.users) == 0 {
		s.populateLocked(boolInt(len(s.groups) == 0)*DefaultGroups, boolInt(len(s.projects) == 0)*DefaultProjects)
	}
	tp := &topology{groupByID: map[int64]int{}}
	for _, u := range s.users {
		tp.users = append(tp.users, *u)
	}
	for i, g := range s.groups {
		tp.groups = append(tp.groups, *g)
		tp.groupByID[g.ID] = i
	}
	for _, p := range s.projects {
		tp.projects = append(tp.projects, *p)
	}
	tp.prepare()
	return tp
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// topology is an immutable copy of the instance used by generators.
type topology struct {
	users     []User
	admins    []int // indexes into users
	regular   []int
	userCum   []float64 // cumulative activity weights of regular users
	groups    []Group
	groupByID map[int64]int
	projects  []Project
}

func (tp *topology) prepare() {
	total := 0.0
	for i, u := range tp.users {
		if u.Admin {
			tp.admins = append(tp.admins, i)
		}
		if !u.Admin || len(tp.users) < 3 {
			tp.regular = append(tp.regular, i)
			// Some people are much more active than others.
			total += 1 + float64((u.ID*7)%5)
			tp.userCum = append(tp.userCum, total)
		}
	}
	if len(tp.admins) == 0 && len(tp.users) > 0 {
		tp.admins = []int{0}
	}
}

// sampler draws catalogue indexes by weight.
type sampler struct {
	normal   []int32
	normCum  []float64
	security []int32
	secCum   []float64
	secShare float64
}

func (sm *sampler) pick(r *rand.Rand) int32 {
	if len(sm.security) > 0 && (len(sm.normal) == 0 || (sm.secShare > 0 && r.Float64() < sm.secShare)) {
		return drawCum(r, sm.security, sm.secCum)
	}
	return drawCum(r, sm.normal, sm.normCum)
}

func drawCum(r *rand.Rand, idx []int32, cum []float64) int32 {
	x := r.Float64() * cum[len(cum)-1]
	return idx[sort.SearchFloat64s(cum, x)%len(idx)]
}

func (s *Sim) samplerFor(o GenerateOptions) *sampler {
	var allow map[string]bool
	if len(o.Types) > 0 {
		allow = map[string]bool{}
		for _, t := range o.Types {
			allow[auditevent.Canonical(t)] = true
		}
	}
	sm := &sampler{secShare: s.opts.SecurityShare}
	var nt, st float64
	for i, ti := range catalog {
		if o.SavedOnly && !ti.SavedToDatabase {
			continue
		}
		if allow != nil && !allow[ti.Name] {
			continue
		}
		w := typeWeight(ti.Name)
		nt += w
		sm.normal = append(sm.normal, int32(i))
		sm.normCum = append(sm.normCum, nt)
		if sw, ok := securityWeights[ti.Name]; ok {
			st += sw
			sm.security = append(sm.security, int32(i))
			sm.secCum = append(sm.secCum, st)
		}
	}
	if len(sm.normal) == 0 {
		// Nothing allowed: fall back to the whole catalogue rather than fail.
		return s.samplerFor(GenerateOptions{})
	}
	return sm
}

// catalog is auditevent.All() with an index by name.
var (
	catalog      = auditevent.All()
	catalogIndex = func() map[string]int32 {
		m := make(map[string]int32, len(catalog))
		for i, ti := range catalog {
			m[ti.Name] = int32(i)
		}
		return m
	}()
)

// defaultWeight is the weight of every type not listed in noiseWeights:
// the long tail of settings and administrative changes.
const defaultWeight = 0.15

func typeWeight(name string) float64 {
	if w, ok := noiseWeights[name]; ok {
		return w
	}
	if w, ok := securityWeights[name]; ok {
		// Security-relevant changes are rare in a normal day.
		return w * 0.4
	}
	return defaultWeight
}

// noiseWeights are the relative frequencies of the common types on a busy
// instance (per mille, roughly).
var noiseWeights = map[string]float64{
	"repository_git_operation":                  220,
	"authenticated_with_password":               55,
	"authenticated_with_two_factor":             45,
	"authenticated_with_oauth":                  30,
	"authenticated_with_group_saml":             15,
	"authenticated_with_ldap":                   10,
	"authenticated_with_webauthn":               8,
	"merge_request_approval_operation":          35,
	"merge_request_create":                      25,
	"merge_request_merged":                      20,
	"comment_created":                           30,
	"comment_updated":                           6,
	"comment_deleted":                           1.5,
	"job_artifact_downloaded":                   25,
	"user_authenticated_using_job_token":        20,
	"repository_file_accessed_api":              10,
	"repository_file_accessed_web":              10,
	"variable_viewed_api":                       5,
	"public_repository_download_operation":      6,
	"repository_download_operation":             6,
	"login_failed_with_standard_authentication": 10,
	"login_failed_with_otp_authentication":      2,
	"omniauth_login_failed":                     1,
	"user_signed_in_from_unseen_ip":             3,
	"member_created":                            4,
	"member_updated":                            2,
	"member_destroyed":                          2,
	"project_created":                           2,
	"release_created":                           3,
	"ci_variable_updated":                       2,
	"ci_variable_created":                       2,
	"protected_branch_created":                  1,
	"user_created":                              1,
	"password_reset_requested":                  1.5,
	"personal_access_token_created":             2,
	"personal_access_token_revoked":             1,
	"project_export_file_download_started":      0.5,
	"user_enable_admin_mode":                    1,
	"ci_runner_created":                         0.8,
	"email_confirmation_sent":                   1,
}

// securityWeights are the security-relevant types the detection rules use,
// with their relative weights inside the security share. Everyday noise the
// rules only use in correlations (sign-ins, Git operations) is left out.
var securityWeights = map[string]float64{
	"user_disable_two_factor":                         3,
	"member_created":                                  3,
	"member_updated":                                  3,
	"project_visibility_level_updated":                2,
	"group_visibility_level_updated":                  1,
	"deploy_key_added":                                1.5,
	"deploy_token_created":                            1,
	"group_deploy_token_created":                      1,
	"add_ssh_key":                                     2,
	"add_gpg_key":                                     1,
	"create_ssh_certificate":                          0.5,
	"cluster_agent_token_created":                     0.5,
	"ci_runner_registered":                            1,
	"ci_runner_created":                               1,
	"webhook_created":                                 1,
	"oauth_application_created":                       1,
	"ci_variable_created":                             1.5,
	"ci_group_variable_created":                       1,
	"ci_instance_variable_created":                    0.5,
	"ci_variable_updated":                             1.5,
	"project_destroyed":                               1,
	"project_deletion_marked":                         1,
	"group_destroyed":                                 0.5,
	"group_deletion_marked":                           0.5,
	"personal_access_token_created":                   3,
	"project_access_token_created":                    1.5,
	"group_access_token_created":                      1,
	"password_reset_requested":                        1.5,
	"user_password_updated":                           1,
	"user_access_locked":                              1.5,
	"user_admin_status_updated":                       1,
	"custom_admin_role_assigned_to_user":              0.5,
	"user_impersonation":                              1,
	"login_failed_with_standard_authentication":       4,
	"login_failed_with_otp_authentication":            1.5,
	"login_failed_with_webauthn_authentication":       0.5,
	"omniauth_login_failed":                           0.5,
	"user_enable_admin_mode":                          0.5,
	"group_require_two_factor_authentication_updated": 1,
	"group_two_factor_grace_period_updated":           0.5,
	"group_saml_provider_update":                      1,
	"project_require_password_to_approve_updated":     1,
	"ip_restrictions_changed":                         1,
	"skip_secret_push_protection":                     1,
	"protected_branch_removed":                        1,
	"protected_branch_allow_force_push_updated":       1,
	"update_approval_rules":                           1,
	"destroy_event_streaming_destination":             0.5,
	"deleted_group_audit_event_streaming_destination": 0.5,
	"update_event_streaming_destination":              0.3,
	"audit_events_streaming_headers_destroy":          0.3,
	"event_type_filters_created":                      0.3,
	"policy_project_updated":                          0.3,
	"project_export_file_download_started":            1,
	"repository_download_operation":                   1.5,
}
