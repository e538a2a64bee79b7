// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/geodb"
)

// The detection benchmark's scenario: several days of benign activity of a
// small organisation (sign-ins with typos, CI automation fan-outs, release
// automation, membership churn, hardening changes, exports) with attack
// chains on the last day (account takeover, secret theft, persistence,
// defence evasion, destruction, CVE-2023-7028, a session and a token used
// from abroad, Admin Mode from abroad). Every attack step says which rule,
// indicator and severity a detection must give it.
//
// Sign-ins come from public addresses of testbed/geodb's World (write a
// GeoIP database of it with geodb.Write): most developers work from the
// Berlin office or from home, some alternate between the Berlin and London
// offices, some sign in through the exits of their VPN provider (four
// countries, one network), and a few travel (New York, Lisbon) on the
// second day. Git traffic stays on the internal network, except the VPN
// users'.

// ScenarioOptions tunes Scenario.
type ScenarioOptions struct {
	// Start is the first day (truncated to midnight UTC); default 2026-03-02.
	Start time.Time
	// Days of traffic, at least 2; the attacks happen on the last. Default 4.
	Days int
	// Developers is the number of human developers; default 250 (some
	// 2,700 benign events a day).
	Developers int
	// Seed makes the scenario deterministic; default 1.
	Seed uint64
}

// ScenarioStep is one attack step and what a detection must say about it.
type ScenarioStep struct {
	// Chain is the attack chain, e.g. "account takeover".
	Chain string
	// Name is the step, e.g. "brute-forced sign-in".
	Name string
	// Rule is the rule id expected in gitlab.detect.rule_ids.
	Rule string
	// Indicator is the expected indicator.
	Indicator string
	// Severity is the lowest acceptable gitlab.detect.severity (INFO, LOW,
	// MEDIUM, HIGH, CRITICAL).
	Severity string
}

// ScenarioEvent is one event of the scenario, as stored by the simulator.
type ScenarioEvent struct {
	StoredEvent
	// Day is the day of the scenario, from 0.
	Day int
	// Activity names the benign activity or the attack chain.
	Activity string
	// Step is the attack step the event is, or nil for benign events and
	// for attack events no rule needs to tag by themselves (the first
	// failed sign-ins of a brute force, the first clones of a mass clone).
	Step *ScenarioStep
	// Attack is true for every event of an attack chain.
	Attack bool
}

// Scenario builds the scenario's events, inserts them into the simulator
// in created_at order (so REST pages and the stream carry them) and returns
// them in that order.
func (s *Sim) Scenario(o ScenarioOptions) []ScenarioEvent {
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	}
	o.Start = o.Start.UTC().Truncate(24 * time.Hour)
	if o.Days < 2 {
		o.Days = 4
	}
	if o.Developers <= 0 {
		o.Developers = 250
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if len(s.Projects()) < 30 {
		s.Populate(6, 36)
	}
	sc := &scenario{
		r:        rand.New(rand.NewPCG(o.Seed, o.Seed^0x5ce7a410)),
		start:    o.Start,
		projects: s.Projects(),
		groups:   s.Groups(),
	}
	for i := 0; i < o.Developers; i++ {
		u := User{ID: int64(5000 + i), Username: fmt.Sprintf("dev%02d", i), Name: fmt.Sprintf("Developer %02d", i), Email: fmt.Sprintf("dev%02d@example.com", i)}
		s.AddUser(u)
		sc.devs = append(sc.devs, u)
	}
	sc.admin = User{ID: 4990, Username: "it-admin", Name: "IT Admin", Email: "it-admin@example.com", Admin: true}
	sc.mirror = User{ID: 4991, Username: "ci-mirror", Name: "CI Mirror", Email: "ci-mirror@example.com"}
	sc.release = User{ID: 4992, Username: "release-bot", Name: "Release Bot", Email: "release-bot@example.com"}
	for _, u := range []User{sc.admin, sc.mirror, sc.release} {
		s.AddUser(u)
	}
	for d := 0; d < o.Days; d++ {
		sc.benignDay(d, o.Start.Add(time.Duration(d)*24*time.Hour))
	}
	sc.attacks(o.Days-1, o.Start.Add(time.Duration(o.Days-1)*24*time.Hour))

	sort.SliceStable(sc.events, func(i, j int) bool { return sc.events[i].ev.CreatedAt.Before(sc.events[j].ev.CreatedAt) })
	out := make([]ScenarioEvent, 0, len(sc.events))
	for _, p := range sc.events {
		out = append(out, ScenarioEvent{StoredEvent: s.Insert(p.ev), Day: p.day, Activity: p.activity, Step: p.step, Attack: p.attack})
	}
	return out
}

type pendingEvent struct {
	ev       Event
	day      int
	activity string
	step     *ScenarioStep
	attack   bool
}

type scenario struct {
	r                      *rand.Rand
	start                  time.Time
	devs                   []User
	admin, mirror, release User
	projects               []Project
	groups                 []Group
	events                 []pendingEvent
}

func (sc *scenario) add(day int, activity string, ev Event) *pendingEvent {
	if ev.IPAddress == "" {
		ev.IPAddress = fmt.Sprintf("10.20.%d.%d", ev.Author.ID%200, 10+ev.Author.ID%90)
	}
	sc.events = append(sc.events, pendingEvent{ev: ev, day: day, activity: activity})
	return &sc.events[len(sc.events)-1]
}

func (sc *scenario) at(day time.Time, from, to time.Duration) time.Time {
	return day.Add(from + time.Duration(sc.r.Int64N(int64(to-from))))
}

func (sc *scenario) project() Project { return sc.projects[sc.r.IntN(len(sc.projects))] }
func (sc *scenario) group() Group     { return sc.groups[sc.r.IntN(len(sc.groups))] }
func (sc *scenario) dev() User        { return sc.devs[sc.r.IntN(len(sc.devs))] }

func author(u User) Author {
	return Author{ID: u.ID, Name: u.Name, Email: u.Email, Class: AuthorClassUser}
}

func clone(u Author, p Project, at time.Time) Event {
	return Event{
		Type: "repository_git_operation", Entity: projectEntity(p), Author: u, CreatedAt: at,
		Target:        Target{ID: p.ID, Type: "Project", Details: p.Name},
		CustomMessage: map[string]any{"protocol": "ssh", "action": "git-upload-pack"},
	}
}

// benignDay adds one day of benign activity.
func (sc *scenario) benignDay(d int, day time.Time) {
	work := func() time.Time { return sc.at(day, 7*time.Hour, 19*time.Hour) }
	for _, u := range sc.devs {
		// Sign-ins, one in ten after a typo or two.
		for n := 1 + sc.r.IntN(3); n > 0; n-- {
			at := work()
			if sc.r.Float64() < 0.1 {
				for k := 1 + sc.r.IntN(2); k > 0; k-- {
					sc.add(d, "sign-in typo", Event{
						Type: "login_failed_with_standard_authentication", Author: systemAuthor(u.Username),
						Entity: userEntity(u), Target: userTarget(u), CreatedAt: at.Add(-time.Duration(k) * 20 * time.Second),
						CustomMessage: "Failed to login with STANDARD authentication",
					})
				}
			}
			if trip, ok := sc.trip(u, d); ok {
				at = trip.at(at)
			}
			sc.add(d, "sign-in", sc.signIn(u, d, at))
		}
		if trip, ok := sc.trip(u, d); ok && trip.day == d {
			// The evening sign-in on arrival.
			sc.add(d, "travel", sc.signIn(u, d, trip.arrival))
		}
		// Daily Git work: clones and fetches of a few repositories,
		// approvals, the odd archive download. VPN users fetch through
		// their VPN, the others on the internal network.
		for n := 1 + sc.r.IntN(6); n > 0; n-- {
			ev := clone(author(u), sc.project(), work())
			if sc.roaming(u) == roamVPN {
				ev.IPAddress = sc.vpnExit().Addr(1 + int(u.ID%10)).String()
			}
			sc.add(d, "git fetch", ev)
		}
		for n := sc.r.IntN(6); n > 0; n-- {
			p := sc.project()
			sc.add(d, "code review", Event{Type: "comment_created", Author: author(u), Entity: projectEntity(p),
				Target: Target{ID: sc.r.IntN(900000) + 1, Type: "Note", Details: "Note on merge request !" + fmt.Sprint(sc.r.IntN(3000)+1)}, CreatedAt: work(), CustomMessage: "Created comment"})
		}
		if sc.r.Float64() < 0.5 {
			p := sc.project()
			sc.add(d, "code review", Event{Type: "merge_request_create", Author: author(u), Entity: projectEntity(p),
				Target: Target{ID: sc.r.IntN(30000) + 1, Type: "MergeRequest", Details: "Update CI pipeline"}, CreatedAt: work(), CustomMessage: "Created merge request Update CI pipeline"})
		}
		for n := sc.r.IntN(3); n > 0; n-- {
			p := sc.project()
			sc.add(d, "merge request approval", Event{Type: "merge_request_approval_operation", Author: author(u), Entity: projectEntity(p),
				Target: Target{ID: sc.r.IntN(30000) + 1, Type: "MergeRequest", Details: "Bump dependencies"}, CreatedAt: work(), CustomMessage: "Approved merge request"})
		}
		if sc.r.Float64() < 0.2 {
			p := sc.project()
			sc.add(d, "archive download", Event{Type: "repository_download_operation", Author: author(u), Entity: projectEntity(p),
				Target: entityTarget(projectEntity(p)), CreatedAt: work(), CustomMessage: "Repository Download Started"})
		}
	}

	// CI automation fan-out: a mirroring job clones the same 25
	// repositories four times a day (a plain user account, not marked as
	// automation: its baseline must learn it), and a deploy token fetches
	// 30 repositories twice a day.
	for run := 0; run < 4; run++ {
		start := day.Add(time.Duration(run)*6*time.Hour + 10*time.Minute)
		for i := 0; i < 25; i++ {
			sc.add(d, "CI mirroring", clone(author(sc.mirror), sc.projects[i], start.Add(time.Duration(i)*4*time.Second)))
		}
	}
	token := Author{ID: AuthorIDDeployToken, Name: "gitlab+deploy-token-17", Class: AuthorClassDeployToken}
	for run := 0; run < 2; run++ {
		start := day.Add(time.Duration(3+run*12)*time.Hour + 5*time.Minute)
		for i := 0; i < 30; i++ {
			sc.add(d, "deploy token fetch", clone(token, sc.projects[i], start.Add(time.Duration(i)*3*time.Second)))
		}
	}
	// Release automation: six project access tokens in a few minutes.
	rel := day.Add(22 * time.Hour)
	for i := 0; i < 6; i++ {
		p := sc.projects[i]
		sc.add(d, "release tokens", Event{Type: "project_access_token_created", Author: author(sc.release), Entity: projectEntity(p),
			Target: Target{ID: 8000 + d*10 + i, Type: "User", Details: fmt.Sprintf("project_%d_bot_rel%d", p.ID, d)}, CreatedAt: rel.Add(time.Duration(i) * 30 * time.Second),
			CustomMessage: fmt.Sprintf("Created project access token with token_id: %d with scopes: [:read_api, :read_repository] and Developer access level.", 70000+d*10+i)})
	}

	// Membership churn.
	roles := []string{"Developer", "Reporter", "Guest", "Developer"}
	for n := 6 + sc.r.IntN(6); n > 0; n-- {
		g, m := sc.group(), sc.dev()
		role := roles[sc.r.IntN(len(roles))]
		sc.add(d, "membership churn", Event{Type: "member_created", Author: author(sc.admin), Entity: groupEntity(g), Target: userTarget(m), CreatedAt: work(),
			Details: map[string]any{"add": "user_access", "as": "Default role: " + role, "member_id": 10000 + sc.r.IntN(80000)}, CustomMessage: "Membership created"})
		if sc.r.Float64() < 0.5 {
			sc.add(d, "membership churn", Event{Type: "member_destroyed", Author: author(sc.admin), Entity: groupEntity(sc.group()), Target: userTarget(sc.dev()), CreatedAt: work(),
				Details: map[string]any{"remove": "user_access", "member_id": 10000 + sc.r.IntN(80000)}, CustomMessage: "Membership destroyed"})
		}
	}
	// The administrator works in Admin Mode from the office every morning.
	sc.add(d, "admin mode", Event{Type: "user_enable_admin_mode", Author: author(sc.admin), Entity: userEntity(sc.admin), Target: userTarget(sc.admin),
		CreatedAt: sc.at(day, 7*time.Hour, 9*time.Hour), CustomMessage: "Enabled Admin Mode", IPAddress: geodb.Named("berlin-office").Addr(2).String()})

	// Hardening changes: requiring 2FA, protecting branches, narrowing
	// visibility, protecting variables.
	g := sc.group()
	ev := Event{Type: "group_require_two_factor_authentication_updated", Author: author(sc.admin), Entity: groupEntity(g), Target: entityTarget(groupEntity(g)), CreatedAt: work()}
	setChange(&ev, "require_two_factor_authentication", false, true)
	sc.add(d, "hardening", ev)
	p := sc.project()
	sc.add(d, "hardening", Event{Type: "protected_branch_created", Author: author(sc.admin), Entity: projectEntity(p),
		Target: Target{ID: sc.r.IntN(900) + 1, Type: "ProtectedBranch", Details: "release/*"}, CreatedAt: work(), Details: map[string]any{"add": "protected_branch"}, CustomMessage: "Added protected branch"})
	p = sc.project()
	ev = Event{Type: "project_visibility_level_updated", Author: author(sc.admin), Entity: projectEntity(p), Target: entityTarget(projectEntity(p)), CreatedAt: work()}
	setChange(&ev, "visibility", "Internal", "Private")
	sc.add(d, "hardening", ev)
	p = sc.project()
	ev = Event{Type: "ci_variable_updated", Author: author(sc.dev()), Entity: projectEntity(p), Target: Target{ID: sc.r.IntN(90000) + 1, Type: "Ci::Variable", Details: "DEPLOY_KEY"}, CreatedAt: work()}
	setChange(&ev, "variable protection", false, true)
	sc.add(d, "hardening", ev)
	// Exports, by maintainers, a few a day.
	for n := sc.r.IntN(3); n > 0; n-- {
		p := sc.project()
		sc.add(d, "export", Event{Type: "project_export_created", Author: author(sc.dev()), Entity: projectEntity(p), Target: entityTarget(projectEntity(p)), CreatedAt: work(), CustomMessage: "Project export created"})
	}
}

// attacks adds the attack chains of the last day, from 14:00.
func (sc *scenario) attacks(d int, day time.Time) {
	t := day.Add(14 * time.Hour)
	next := func(step time.Duration) time.Time { t = t.Add(step); return t }
	victim := sc.devs[3]
	va := author(victim)
	attackerIP := "203.0.113.66"
	add := func(chain string, ev Event, step *ScenarioStep) {
		ev.IPAddress = attackerIP
		pe := sc.add(d, chain, ev)
		pe.attack = true
		if step != nil {
			step.Chain = chain
			pe.step = step
		}
	}

	// Account takeover: password spraying succeeds, 2FA goes, a token and
	// a new email address follow.
	const ato = "account takeover"
	for i := 0; i < 6; i++ {
		add(ato, Event{Type: "login_failed_with_standard_authentication", Author: systemAuthor(victim.Username), Entity: userEntity(victim), Target: userTarget(victim),
			CreatedAt: next(25 * time.Second), CustomMessage: "Failed to login with STANDARD authentication"}, nil)
	}
	add(ato, Event{Type: "authenticated_with_password", Author: va, Entity: userEntity(victim), Target: userTarget(victim), CreatedAt: next(20 * time.Second),
		Details: map[string]any{"with": "standard"}, CustomMessage: "Signed in with STANDARD authentication"},
		&ScenarioStep{Name: "sign-in after failed attempts", Rule: "GLD-100", Indicator: "credential_risk", Severity: "HIGH"})
	add(ato, Event{Type: "user_disable_two_factor", Author: va, Entity: userEntity(victim), Target: userTarget(victim), CreatedAt: next(time.Minute),
		CustomMessage: "Disabled two-factor authentication"},
		&ScenarioStep{Name: "two-factor authentication disabled", Rule: "GLD-001", Indicator: "security_downgrade", Severity: "HIGH"})
	add(ato, Event{Type: "personal_access_token_created", Author: va, Entity: userEntity(victim), Target: userTarget(victim), CreatedAt: next(time.Minute),
		CustomMessage: "Created personal access token with id 912345"},
		&ScenarioStep{Name: "personal access token created", Rule: "GLD-090", Indicator: "credential_risk", Severity: "LOW"})
	add(ato, Event{Type: "user_email_address_updated", Author: va, Entity: userEntity(victim), Target: userTarget(victim), CreatedAt: next(time.Minute),
		Details: map[string]any{"change": "email address", "from": victim.Email, "to": "dana.recovery@example.net"}, CustomMessage: "Changed email address from " + victim.Email + " to dana.recovery@example.net"},
		&ScenarioStep{Name: "email address changed", Rule: "GLD-096", Indicator: "credential_risk", Severity: "LOW"})

	// Secret theft: 24 repositories cloned in minutes from the stolen
	// account, variables read, an export downloaded.
	const theft = "secret theft"
	next(3 * time.Minute)
	for i := 0; i < 24; i++ {
		var step *ScenarioStep
		if i == 23 {
			step = &ScenarioStep{Name: "24 repositories cloned", Rule: "GLD-101", Indicator: "data_exposure", Severity: "HIGH"}
		}
		add(theft, clone(va, sc.projects[len(sc.projects)-1-i], next(8*time.Second)), step)
	}
	p := sc.projects[5]
	add(theft, Event{Type: "variable_viewed_api", Author: va, Entity: projectEntity(p), Target: Target{ID: 4411, Type: "Ci::Variable", Details: "AWS_SECRET_ACCESS_KEY"}, CreatedAt: next(time.Minute),
		CustomMessage: "Variable AWS_SECRET_ACCESS_KEY viewed via API"},
		&ScenarioStep{Name: "CI/CD variable read through the API", Rule: "GLD-073", Indicator: "secret_exposure", Severity: "LOW"})
	add(theft, Event{Type: "project_export_file_download_started", Author: va, Entity: projectEntity(p), Target: entityTarget(projectEntity(p)), CreatedAt: next(time.Minute),
		CustomMessage: "Export file download started"},
		&ScenarioStep{Name: "project export downloaded", Rule: "GLD-033", Indicator: "data_exposure", Severity: "LOW"})

	// Persistence: a deploy key, an SSH key, an Owner.
	const persist = "persistence"
	add(persist, Event{Type: "deploy_key_added", Author: va, Entity: projectEntity(p), Target: Target{ID: 771, Type: "DeployKey", Details: "backup-sync"}, CreatedAt: next(time.Minute),
		Details: map[string]any{"add": "deploy_key"}, CustomMessage: "Added deploy key"},
		&ScenarioStep{Name: "deploy key added", Rule: "GLD-050", Indicator: "persistent_access", Severity: "MEDIUM"})
	add(persist, Event{Type: "add_ssh_key", Author: va, Entity: userEntity(victim), Target: Target{ID: 99120, Type: "Key", Details: "laptop"}, CreatedAt: next(time.Minute),
		Details: map[string]any{"add": "ssh_key"}, CustomMessage: "Added SSH key"},
		&ScenarioStep{Name: "SSH key added", Rule: "GLD-052", Indicator: "persistent_access", Severity: "LOW"})
	g := sc.groups[0]
	outsider := User{ID: 7777, Username: "ext-contractor", Name: "External Contractor", Email: "ext@example.net"}
	add(persist, Event{Type: "member_created", Author: va, Entity: groupEntity(g), Target: userTarget(outsider), CreatedAt: next(time.Minute),
		Details: map[string]any{"add": "user_access", "as": "Default role: Owner", "member_id": 99001}, CustomMessage: "Membership created"},
		&ScenarioStep{Name: "outsider made Owner", Rule: "GLD-040", Indicator: "privilege_escalation", Severity: "HIGH"})

	// Defence evasion: streaming destination deleted, group 2FA off,
	// protected branch removed.
	const evasion = "defence evasion"
	add(evasion, Event{Type: "destroy_event_streaming_destination", Author: va, Entity: groupEntity(g), Target: Target{ID: 12, Type: "AuditEvents::ExternalAuditEventDestination", Details: "https://siem.example.com/gitlab"},
		CreatedAt: next(time.Minute), CustomMessage: "Destroy event streaming destination https://siem.example.com/gitlab"},
		&ScenarioStep{Name: "audit event streaming destination deleted", Rule: "GLD-016", Indicator: "security_downgrade", Severity: "HIGH"})
	ev := Event{Type: "group_require_two_factor_authentication_updated", Author: va, Entity: groupEntity(g), Target: entityTarget(groupEntity(g)), CreatedAt: next(time.Minute)}
	setChange(&ev, "require_two_factor_authentication", true, false)
	add(evasion, ev, &ScenarioStep{Name: "group two-factor requirement turned off", Rule: "GLD-003", Indicator: "security_downgrade", Severity: "HIGH"})
	add(evasion, Event{Type: "protected_branch_removed", Author: va, Entity: projectEntity(p), Target: Target{ID: 301, Type: "ProtectedBranch", Details: "main"}, CreatedAt: next(time.Minute),
		Details: map[string]any{"remove": "protected_branch"}, CustomMessage: "Unprotected branch"},
		&ScenarioStep{Name: "protected branch removed", Rule: "GLD-010", Indicator: "security_downgrade", Severity: "MEDIUM"})

	// Destruction: six projects deleted within minutes.
	const destroy = "destruction"
	for i := 0; i < 6; i++ {
		q := sc.projects[10+i]
		var step *ScenarioStep
		switch i {
		case 0:
			step = &ScenarioStep{Name: "project deleted", Rule: "GLD-080", Indicator: "data_destruction", Severity: "HIGH"}
		case 5:
			step = &ScenarioStep{Name: "six projects deleted", Rule: "GLD-102", Indicator: "data_destruction", Severity: "HIGH"}
		}
		add(destroy, Event{Type: "project_destroyed", Author: va, Entity: groupEntity(sc.parentOf(q)), Target: Target{ID: q.ID, Type: "Project", Details: q.FullPath},
			CreatedAt: next(40 * time.Second), Details: map[string]any{"remove": "project"}, CustomMessage: "Project destroyed"}, step)
	}

	// CVE-2023-7028: a password reset sent to the victim's and the
	// attacker's addresses.
	const cve = "CVE-2023-7028"
	admin := sc.admin
	add(cve, Event{Type: "password_reset_requested", Author: systemAuthor("An unauthenticated user"), Entity: userEntity(admin), Target: Target{ID: admin.ID, Type: "User",
		Details: fmt.Sprintf(`["%s","attacker@example.net"]`, admin.Email)}, CreatedAt: next(10 * time.Minute), CustomMessage: "Ask for password reset"},
		&ScenarioStep{Name: "password reset to two addresses", Rule: "GLD-092", Indicator: "credential_risk", Severity: "CRITICAL"})

	// A session from abroad: a developer signs in at the Berlin office,
	// and fifty minutes later the same account signs in with two factors
	// from São Paulo (an adversary-in-the-middle phish relayed the code).
	const session = "session from abroad"
	victim2 := sc.devs[13%len(sc.devs)]
	sc.add(d, "sign-in", sc.signInFrom(victim2, day.Add(16*time.Hour), geodb.Named("berlin-office"), 4))
	ev = sc.signInFrom(victim2, day.Add(16*time.Hour+50*time.Minute), geodb.Named("sao-paulo"), 7)
	ev.Type, ev.Details["with"], ev.CustomMessage = "authenticated_with_two_factor", "two-factor", "Signed in with TWO-FACTOR authentication"
	pe := sc.add(d, session, ev)
	pe.attack, pe.step = true, &ScenarioStep{Chain: session, Name: "sign-in from São Paulo 50 minutes after Berlin", Rule: "GLD-105", Indicator: "credential_risk", Severity: "HIGH"}

	// A stolen token used from abroad: clones from Singapore with a
	// developer's token, no sign-in.
	const token = "token used from abroad"
	victim3 := sc.devs[23%len(sc.devs)]
	ev = clone(author(victim3), sc.projects[3], day.Add(17*time.Hour+5*time.Minute))
	ev.IPAddress = geodb.Named("singapore").Addr(9).String()
	pe = sc.add(d, token, ev)
	pe.attack, pe.step = true, &ScenarioStep{Chain: token, Name: "repository cloned from Singapore", Rule: "GLD-106", Indicator: "credential_risk", Severity: "MEDIUM"}

	// Admin Mode from abroad: the administrator's account enables Admin
	// Mode from a rented server in Bucharest (IPv6).
	const adminAbroad = "Admin Mode from abroad"
	pe = sc.add(d, adminAbroad, Event{Type: "user_enable_admin_mode", Author: author(sc.admin), Entity: userEntity(sc.admin), Target: userTarget(sc.admin),
		CreatedAt: day.Add(17*time.Hour + 30*time.Minute), CustomMessage: "Enabled Admin Mode", IPAddress: geodb.Named("bucharest-vps").Addr(17).String()})
	pe.attack, pe.step = true, &ScenarioStep{Chain: adminAbroad, Name: "Admin Mode enabled from Bucharest", Rule: "GLD-106", Indicator: "credential_risk", Severity: "HIGH"}
}

// Where developers sign in from.
type roam int

const (
	roamOffice     roam = iota // the Berlin office, or home in Berlin
	roamTwoOffices             // the Berlin and London offices (the company's egress alternates)
	roamVPN                    // the exits of one VPN provider in four countries
	roamHamburg                // home in Hamburg
)

// roaming says where a developer signs in from.
func (sc *scenario) roaming(u User) roam {
	switch (u.ID - 5000) % 10 {
	case 6:
		return roamTwoOffices
	case 7, 8:
		return roamVPN
	case 9:
		return roamHamburg
	}
	return roamOffice
}

var vpnExits = []string{"vpn-frankfurt", "vpn-amsterdam", "vpn-zurich", "vpn-stockholm"}

func (sc *scenario) vpnExit() geodb.Place { return geodb.Named(vpnExits[sc.r.IntN(len(vpnExits))]) }

// signIn is a developer's sign-in from where they usually are.
func (sc *scenario) signIn(u User, d int, at time.Time) Event {
	var place geodb.Place
	if trip, ok := sc.trip(u, d); ok && !at.Before(trip.arrival) {
		place = geodb.Named(trip.to)
	} else {
		switch sc.roaming(u) {
		case roamTwoOffices:
			place = geodb.Named([]string{"berlin-office", "london-office"}[sc.r.IntN(2)])
		case roamVPN:
			place = sc.vpnExit()
		case roamHamburg:
			place = geodb.Named("hamburg-home")
		default:
			place = geodb.Named([]string{"berlin-office", "berlin-office", "berlin-home"}[sc.r.IntN(3)])
		}
	}
	return sc.signInFrom(u, at, place, 1+int(u.ID%12))
}

func (sc *scenario) signInFrom(u User, at time.Time, place geodb.Place, host int) Event {
	typ, with, msg := "authenticated_with_two_factor", "two-factor", "Signed in with TWO-FACTOR authentication"
	if sc.r.Float64() < 0.3 {
		typ, with, msg = "authenticated_with_password", "standard", "Signed in with STANDARD authentication"
	}
	return Event{Type: typ, Author: author(u), Entity: userEntity(u), Target: userTarget(u), CreatedAt: at,
		Details: map[string]any{"with": with}, CustomMessage: msg, IPAddress: place.Addr(host).String()}
}

// travel is a developer's trip: on day, after a morning in Berlin, a
// flight, and from arrival on sign-ins from the destination.
type travel struct {
	day     int
	to      string
	leave   time.Time // last sign-in before the flight
	arrival time.Time
}

// at moves a sign-in of the trip's day out of the flight: before leaving,
// or from arrival on.
func (tr travel) at(t time.Time) time.Time {
	if t.Before(tr.leave) || !t.Before(tr.arrival) {
		return t
	}
	return tr.leave.Add(-t.Sub(tr.leave) / 10) // within the hour before leaving
}

// trip returns the trip of a travelling developer that is under way on
// day d (it starts on the second day and lasts to the end): every 25th
// developer, to New York or Lisbon.
func (sc *scenario) trip(u User, d int) (travel, bool) {
	i := u.ID - 5000
	if i%25 != 20 || d < 1 {
		return travel{}, false
	}
	day := sc.start.Add(24 * time.Hour)
	tr := travel{day: 1, to: "new-york", leave: day.Add(11 * time.Hour), arrival: day.Add(21 * time.Hour)}
	if (i/25)%2 == 1 {
		tr.to, tr.arrival = "lisbon", day.Add(16*time.Hour)
	}
	return tr, true
}

func (sc *scenario) parentOf(p Project) Group {
	for _, g := range sc.groups {
		if g.ID == p.GroupID {
			return g
		}
	}
	return sc.groups[0]
}
