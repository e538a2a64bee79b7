// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// gen builds realistic events from a random stream and a topology.
type gen struct {
	r           *rand.Rand
	t           *topology
	legacyShare float64
}

// tmpl fills an event of one type. ev comes with the author a, its IP, the
// entity drawn from the type's scope and a target equal to the entity.
type tmpl func(g *gen, ev *Event, a User)

// build makes one event of type ti at time at.
func (g *gen) build(ti auditevent.TypeInfo, at time.Time, legacy bool) Event {
	a := g.regularUser()
	level := g.level(ti.Scope)
	if level == "Instance" {
		// Instance settings are changed by administrators.
		a = g.admin()
	}
	ev := Event{Type: ti.Name, CreatedAt: at, Legacy: legacy}
	setUserAuthor(&ev, a)
	ev.IPAddress = g.ipFor(a)
	g.setEntity(&ev, level, a)
	if legacy {
		if f := legacyTemplates[ti.Name]; f != nil {
			f(g, &ev, a)
			return ev
		}
		ev.Legacy = false
	}
	if f := templates[ti.Name]; f != nil {
		f(g, &ev, a)
	} else {
		g.generic(&ev, ti)
	}
	return ev
}

func setUserAuthor(ev *Event, u User) {
	ev.Author = Author{ID: u.ID, Name: u.Name, Email: u.Email, Class: AuthorClassUser}
}

func systemAuthor(name string) Author {
	return Author{ID: AuthorIDUnauthenticated, Name: name, Class: AuthorClassUnauthenticated}
}

func (g *gen) intn(n int) int           { return g.r.IntN(n) }
func (g *gen) chance(p float64) bool    { return g.r.Float64() < p }
func (g *gen) id(lo, hi int) int64      { return int64(lo + g.r.IntN(hi-lo)) }
func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }
func (g *gen) hex(n int) string         { return strconv.FormatUint(g.r.Uint64()|1<<63, 16)[:n] }
func (g *gen) boolPair(pTrueToFalse float64) (bool, bool) {
	if g.chance(pTrueToFalse) {
		return true, false
	}
	return false, true
}

func (g *gen) regularUser() User {
	tp := g.t
	if len(tp.regular) == 0 {
		return User{ID: 1, Username: "root", Name: "Administrator", Email: "admin@example.com", Admin: true}
	}
	x := g.r.Float64() * tp.userCum[len(tp.userCum)-1]
	for i, c := range tp.userCum {
		if x < c {
			return tp.users[tp.regular[i]]
		}
	}
	return tp.users[tp.regular[len(tp.regular)-1]]
}

func (g *gen) otherUser(not int64) User {
	for range 8 {
		if u := g.regularUser(); u.ID != not {
			return u
		}
	}
	return g.regularUser()
}

func (g *gen) admin() User {
	if len(g.t.admins) == 0 {
		return g.regularUser()
	}
	return g.t.users[g.t.admins[g.intn(len(g.t.admins))]]
}

func (g *gen) group() Group     { return g.t.groups[g.intn(len(g.t.groups))] }
func (g *gen) project() Project { return g.t.projects[g.intn(len(g.t.projects))] }

// topGroup returns a top-level group (streaming and SAML live there).
func (g *gen) topGroup() Group {
	gr := g.group()
	for gr.ParentID != 0 {
		i, ok := g.t.groupByID[gr.ParentID]
		if !ok {
			break
		}
		gr = g.t.groups[i]
	}
	return gr
}

// parentGroup returns the group of a project.
func (g *gen) parentGroup(p Project) Group {
	if i, ok := g.t.groupByID[p.GroupID]; ok {
		return g.t.groups[i]
	}
	if i := strings.LastIndexByte(p.FullPath, '/'); i > 0 {
		return Group{ID: p.GroupID, FullPath: p.FullPath[:i], Name: lastSegment(p.FullPath[:i])}
	}
	return g.group()
}

// ipFor returns a client address for a user: mostly the user's usual
// address, sometimes the VPN pool, rarely an unusual address.
func (g *gen) ipFor(u User) string {
	x := g.r.Float64()
	switch {
	case x < 0.85:
		return "192.0.2." + strconv.FormatInt(10+(u.ID%200+200)%200, 10)
	case x < 0.97:
		return "198.51.100." + strconv.Itoa(1+g.intn(254))
	default:
		return g.foreignIP()
	}
}

func (g *gen) foreignIP() string { return "203.0.113." + strconv.Itoa(1+g.intn(254)) }

func userEntity(u User) Entity { return Entity{Type: EntityUser, ID: u.ID, Path: u.Username} }
func groupEntity(gr Group) Entity {
	return Entity{Type: EntityGroup, ID: gr.ID, Path: gr.FullPath}
}
func projectEntity(p Project) Entity {
	return Entity{Type: EntityProject, ID: p.ID, Path: p.FullPath}
}
func userTarget(u User) Target { return Target{ID: u.ID, Type: "User", Details: u.Name} }
func entityTarget(e Entity) Target {
	return Target{ID: e.ID, Type: targetTypeOf(e.Type), Details: e.Path}
}

// level draws the level of an event from the catalogue scope ("Group,
// Project"): the first listed level three times out of four.
func (g *gen) level(scope string) string {
	levels := strings.Split(scope, ",")
	level := strings.TrimSpace(levels[0])
	if len(levels) > 1 && g.chance(0.25) {
		level = strings.TrimSpace(levels[1+g.intn(len(levels)-1)])
	}
	return level
}

// setEntity sets the entity of a level, and a target equal to it.
func (g *gen) setEntity(ev *Event, level string, a User) {
	switch level {
	case "Instance":
		ev.Entity = InstanceEntity
	case "Group":
		ev.Entity = groupEntity(g.group())
	case "User":
		ev.Entity = userEntity(a)
		ev.Target = userTarget(a)
		return
	default:
		ev.Entity = projectEntity(g.project())
	}
	ev.Target = entityTarget(ev.Entity)
}

// inUserScope re-scopes an event to a user and targets that user.
func inUserScope(ev *Event, u User) {
	ev.Entity = userEntity(u)
	ev.Target = userTarget(u)
}

// generic fills a type without a dedicated template from its name.
func (g *gen) generic(ev *Event, ti auditevent.TypeInfo) {
	name := ti.Name
	words := func(s string) string { return strings.ReplaceAll(strings.Trim(s, "_"), "_", " ") }
	switch {
	case strings.HasSuffix(name, "_updated"):
		attr := strings.TrimSuffix(name, "_updated")
		for _, p := range []string{"project_", "group_", "instance_", "namespace_", "user_"} {
			if a, ok := strings.CutPrefix(attr, p); ok && a != "" {
				attr = a
				break
			}
		}
		from, to := g.boolPair(0.5)
		ev.Details = map[string]any{"change": attr, "from": from, "to": to}
		ev.CustomMessage = fmt.Sprintf("Changed %s from %t to %t", attr, from, to)
	default:
		if verb, object, ok := splitVerb(name); ok {
			ev.CustomMessage = verb + " " + words(object)
			return
		}
		ev.CustomMessage = ti.Description
		if ev.CustomMessage == "" {
			ev.CustomMessage = words(name)
		}
	}
}

// verbs maps the verbs found at either end of type names to the past
// tense GitLab's messages use.
var verbs = []struct{ word, past string }{
	{"create", "Created"}, {"created", "Created"}, {"add", "Added"}, {"added", "Added"},
	{"enable", "Enabled"}, {"enabled", "Enabled"}, {"disable", "Disabled"}, {"disabled", "Disabled"},
	{"delete", "Deleted"}, {"deleted", "Deleted"}, {"destroy", "Destroyed"}, {"destroyed", "Destroyed"},
	{"remove", "Removed"}, {"removed", "Removed"},
}

// splitVerb splits "create_compliance_framework" or
// "compliance_framework_deleted" into a past-tense verb and its object.
func splitVerb(name string) (past, object string, ok bool) {
	for _, v := range verbs {
		if s, found := strings.CutPrefix(name, v.word+"_"); found {
			return v.past, s, true
		}
		if s, found := strings.CutSuffix(name, "_"+v.word); found {
			return v.past, s, true
		}
	}
	return "", "", false
}

// stripVerb returns the object of a type name without its verb.
func stripVerb(name string) string {
	if _, object, ok := splitVerb(name); ok {
		return object
	}
	return name
}

// Roles, as GitLab labels them in membership events.
var memberRoles = []string{"Guest", "Planner", "Reporter", "Developer", "Maintainer", "Owner"}

// roleLabel draws a role, escalations (Maintainer, Owner) being common
// enough for detections to see them.
func (g *gen) roleLabel() (bare, labelled string) {
	x := g.r.Float64()
	switch {
	case x < 0.05:
		r := g.pick("Security Auditor", "Release Manager", "Incident Responder")
		return r, "Custom role: " + r
	case x < 0.15:
		bare = "Owner"
	case x < 0.35:
		bare = "Maintainer"
	case x < 0.70:
		bare = "Developer"
	case x < 0.85:
		bare = "Reporter"
	default:
		bare = "Guest"
	}
	return bare, "Default role: " + bare
}

func (g *gen) memberScope(ev *Event) {
	if ev.Entity.Type != EntityGroup && ev.Entity.Type != EntityProject {
		ev.Entity = projectEntity(g.project())
	}
}

var variableKeys = []string{"AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "NPM_TOKEN", "DOCKER_AUTH_CONFIG", "SLACK_WEBHOOK_URL", "KUBE_CONFIG", "SONAR_TOKEN", "DEPLOY_PASSWORD"}
var keyTitles = []string{"laptop-2024", "ci-deploy", "yubikey", "workstation", "build-server", "release-bot"}
var branches = []string{"main", "master", "release/2.x", "production", "develop"}

// signIn fills the sign-in types: the provider in with (the legacy key,
// still written) and, in the modern shape, the custom message.
func signIn(provider, with string) tmpl {
	return func(g *gen, ev *Event, a User) {
		inUserScope(ev, a)
		w := with
		if w == "" {
			w = g.pick("github", "google_oauth2", "openid_connect", "saml")
		}
		p := provider
		if p == "" {
			p = strings.ToUpper(w)
		}
		ev.Details = map[string]any{"with": w}
		if !ev.Legacy {
			ev.CustomMessage = "Signed in with " + p + " authentication"
		}
	}
}

// templates are the types with dedicated, realistic details.
var templates map[string]tmpl

// legacyTemplates are the types that had a legacy AuditEventService shape.
var legacyTemplates map[string]tmpl

func init() {
	templates = map[string]tmpl{
		"authenticated_with_password":   signIn("STANDARD", "standard"),
		"authenticated_with_two_factor": signIn("TWO-FACTOR", "two-factor"),
		"authenticated_with_webauthn":   signIn("TWO-FACTOR-VIA-WEBAUTHN-DEVICE", "two-factor-via-webauthn-device"),
		"authenticated_with_ldap":       signIn("LDAPMAIN", "ldapmain"),
		"authenticated_with_oauth":      signIn("", ""),
		"authenticated_with_group_saml": func(g *gen, ev *Event, a User) {
			gr := g.topGroup()
			ev.Entity = groupEntity(gr)
			ev.Target = userTarget(a)
			ev.Details = map[string]any{"with": "group_saml"}
			ev.CustomMessage = "Signed in with GROUP_SAML authentication"
		},
		"user_signed_in_from_unseen_ip": func(g *gen, ev *Event, a User) {
			inUserScope(ev, a)
			ev.IPAddress = g.foreignIP()
			ev.CustomMessage = "User signed in from a new IP address " + ev.IPAddress
		},
		"login_failed_with_standard_authentication": func(g *gen, ev *Event, a User) {
			if g.chance(0.5) {
				ev.IPAddress = g.foreignIP()
			}
			if g.chance(0.8) {
				ev.Author = systemAuthor(a.Username)
				inUserScope(ev, a)
			} else {
				login := g.pick("admin", "administrator", "test", "jenkins", "deploy")
				ev.Author = systemAuthor(login)
				ev.Entity = InstanceEntity
				ev.Target = Target{ID: nil, Type: AuthorClassUnauthenticated, Details: login}
			}
			ev.CustomMessage = "Failed to login with STANDARD authentication"
		},
		"login_failed_with_otp_authentication": func(g *gen, ev *Event, a User) {
			inUserScope(ev, a)
			ev.CustomMessage = "Failed to login with OTP authentication"
		},
		"login_failed_with_webauthn_authentication": func(g *gen, ev *Event, a User) {
			inUserScope(ev, a)
			ev.CustomMessage = "Failed to login with WEBAUTHN authentication"
		},
		"omniauth_login_failed": func(g *gen, ev *Event, a User) {
			ev.Author = systemAuthor(a.Username)
			inUserScope(ev, a)
			provider := g.pick("saml", "github", "google_oauth2")
			ev.Details = map[string]any{"provider": provider}
			ev.CustomMessage = "Omniauth login failed for provider " + provider
		},
		"user_access_locked": func(g *gen, ev *Event, a User) {
			ev.Author = systemAuthor("(System)")
			inUserScope(ev, a)
			ev.CustomMessage = "User access locked - too many failed login attempts"
		},
		"user_disable_two_factor": func(g *gen, ev *Event, a User) {
			if g.chance(0.2) {
				setUserAuthor(ev, g.admin())
			}
			inUserScope(ev, a)
			switch x := g.r.Float64(); {
			case x < 0.6:
				ev.CustomMessage = "Disabled two-factor authentication"
			case x < 0.85:
				ev.CustomMessage = "Disabled One-time password authenticator"
			default:
				ev.CustomMessage = "Deleted WebAuthn device"
				ev.Details = map[string]any{"device_name": g.pick("YubiKey 5C", "Touch ID", "Titan Key")}
			}
		},
		"user_password_updated": func(g *gen, ev *Event, a User) {
			if g.chance(0.15) {
				setUserAuthor(ev, g.admin())
			}
			inUserScope(ev, a)
			ev.Details = map[string]any{"change": "password"}
			ev.CustomMessage = "Changed password"
		},
		"password_reset_requested": func(g *gen, ev *Event, a User) {
			ev.Author = systemAuthor("An unauthenticated user")
			inUserScope(ev, a)
			emails := []string{a.Email}
			if g.chance(0.12) {
				// CVE-2023-7028: a second, attacker-controlled address.
				emails = append(emails, g.pick("attacker@example.net", "recovery-team@example.net"))
				ev.IPAddress = g.foreignIP()
			}
			ev.Target.Details = string(appendValue(nil, emails))
			ev.CustomMessage = "Ask for password reset"
		},
		"user_admin_status_updated": func(g *gen, ev *Event, a User) {
			setUserAuthor(ev, g.admin())
			inUserScope(ev, g.otherUser(ev.Author.ID))
			from, to := g.boolPair(0.3)
			ev.Details = map[string]any{"change": "admin", "from": from, "to": to}
			ev.CustomMessage = fmt.Sprintf("Changed admin status from %t to %t", from, to)
		},
		"custom_admin_role_assigned_to_user": func(g *gen, ev *Event, a User) {
			setUserAuthor(ev, g.admin())
			inUserScope(ev, g.otherUser(ev.Author.ID))
			role := g.pick("Security Administrator", "Read-only Admin", "Runner Admin")
			ev.Details = map[string]any{"member_role_id": g.id(1, 40), "member_role_name": role}
			ev.CustomMessage = fmt.Sprintf("Admin role '%s' assigned to user", role)
		},
		"user_impersonation": func(g *gen, ev *Event, a User) {
			setUserAuthor(ev, g.admin())
			inUserScope(ev, g.otherUser(ev.Author.ID))
			ev.CustomMessage = g.pick("Started Impersonation", "Started Impersonation", "Stopped Impersonation")
		},
		"user_enable_admin_mode": func(g *gen, ev *Event, a User) {
			ad := g.admin()
			setUserAuthor(ev, ad)
			inUserScope(ev, ad)
			ev.CustomMessage = "Enabled Admin Mode"
		},
		"user_created": func(g *gen, ev *Event, a User) {
			n := g.id(100, 999)
			nu := User{ID: 200 + n, Username: fmt.Sprintf("contractor%d", n), Name: fmt.Sprintf("Contractor %d", n), Email: fmt.Sprintf("contractor%d@example.org", n)}
			if g.chance(0.5) {
				setUserAuthor(ev, g.admin())
			} else {
				ev.Author = systemAuthor("(System)")
			}
			inUserScope(ev, nu)
			ev.CustomMessage = "User " + nu.Username + " created"
		},

		"member_created": func(g *gen, ev *Event, a User) {
			g.memberScope(ev)
			m := g.otherUser(a.ID)
			ev.Target = userTarget(m)
			_, as := g.roleLabel()
			ev.Details = map[string]any{"add": "user_access", "as": as, "member_id": g.id(1000, 90000)}
			ev.CustomMessage = "Membership created"
		},
		"member_updated": func(g *gen, ev *Event, a User) {
			g.memberScope(ev)
			m := g.otherUser(a.ID)
			ev.Target = userTarget(m)
			_, to := g.roleLabel()
			from := memberRoles[g.intn(4)]
			var expiryTo any
			if g.chance(0.3) {
				expiryTo = ev.CreatedAt.AddDate(0, 3, 0).Format("2006-01-02")
			}
			ev.Details = map[string]any{
				"change": "access_level", "from": from, "to": to, "as": to,
				"expiry_from": nil, "expiry_to": expiryTo, "member_id": g.id(1000, 90000),
			}
			ev.CustomMessage = "Membership updated"
		},
		"member_destroyed": func(g *gen, ev *Event, a User) {
			g.memberScope(ev)
			m := g.otherUser(a.ID)
			ev.Target = userTarget(m)
			_, as := g.roleLabel()
			ev.Details = map[string]any{"remove": "user_access", "as": as, "member_id": g.id(1000, 90000)}
			ev.CustomMessage = "Membership destroyed"
			if g.chance(0.15) {
				ev.Author = systemAuthor("(System)")
				day := ev.CreatedAt.Format("2006-01-02")
				ev.Details["system_event"] = true
				ev.Details["reason"] = "access expired on " + day
				ev.CustomMessage = "Membership expired on " + day
			}
		},

		"project_visibility_level_updated": func(g *gen, ev *Event, a User) {
			p := g.project()
			ev.Entity = projectEntity(p)
			ev.Target = entityTarget(ev.Entity)
			from, to := g.visibilityChange()
			ev.Details = map[string]any{"change": "visibility_level", "from": from, "to": to}
			ev.CustomMessage = fmt.Sprintf("Changed visibility_level from %s to %s", from, to)
		},
		"group_visibility_level_updated": func(g *gen, ev *Event, a User) {
			ev.Entity = groupEntity(g.group())
			ev.Target = entityTarget(ev.Entity)
			from, to := g.visibilityChange()
			ev.Details = map[string]any{"change": "visibility", "from": from, "to": to}
			ev.CustomMessage = fmt.Sprintf("Changed visibility from %s to %s", from, to)
		},

		"deploy_key_added": func(g *gen, ev *Event, a User) {
			ev.Entity = projectEntity(g.project())
			title := g.pick(keyTitles...)
			ev.Target = Target{ID: g.id(100, 9000), Type: "DeployKey", Details: title}
			ev.Details = map[string]any{"add": "deploy_key"}
			ev.CustomMessage = "Added deploy key"
		},
		"deploy_key_removed": func(g *gen, ev *Event, a User) {
			ev.Entity = projectEntity(g.project())
			title := g.pick(keyTitles...)
			ev.Target = Target{ID: g.id(100, 9000), Type: "DeployKey", Details: title}
			ev.Details = map[string]any{"remove": "deploy_key"}
			ev.CustomMessage = "Removed deploy key"
		},
		"deploy_token_created": func(g *gen, ev *Event, a User) {
			ev.Entity = projectEntity(g.project())
			name, id := g.pick("gitlab-deploy-token", "k8s-pull", "release-bot"), g.id(10, 5000)
			ev.Target = Target{ID: id, Type: "DeployToken", Details: name}
			ev.CustomMessage = fmt.Sprintf("Created project deploy token with name: %s with token_id: %d with scopes: [:read_repository, :read_registry].", name, id)
		},
		"group_deploy_token_created": func(g *gen, ev *Event, a User) {
			ev.Entity = groupEntity(g.group())
			name, id := g.pick("group-deploy", "registry-pull", "mirror"), g.id(10, 5000)
			ev.Target = Target{ID: id, Type: "DeployToken", Details: name}
			ev.CustomMessage = fmt.Sprintf("Created group deploy token with name: %s with token_id: %d with scopes: [:read_repository, :write_registry].", name, id)
		},
		"add_ssh_key": func(g *gen, ev *Event, a User) {
			inUserScope(ev, a)
			ev.Target = Target{ID: g.id(1000, 90000), Type: "Key", Details: a.Username + "@" + g.pick(keyTitles...)}
			ev.CustomMessage = "Added SSH key"
		},
		"remove_ssh_key": func(g *gen, ev *Event, a User) {
			inUserScope(ev, a)
			ev.Target = Target{ID: g.id(1000, 90000), Type: "Key", Details: a.Username + "@" + g.pick(keyTitles...)}
			ev.CustomMessage = "Removed SSH key"
		},
		"add_gpg_key": func(g *gen, ev *Event, a User) {
			inUserScope(ev, a)
			ev.Target = Target{ID: g.id(100, 9000), Type: "GpgKey", Details: a.Email}
			ev.CustomMessage = "Added GPG key"
		},
		"create_ssh_certificate": func(g *gen, ev *Event, a User) {
			ev.Entity = groupEntity(g.topGroup())
			id, title := g.id(1, 500), g.pick("ops-ca", "ci-signing", "bastion")
			ev.Target = Target{ID: id, Type: "Groups::SshCertificate", Details: title}
			ev.CustomMessage = fmt.Sprintf("Created SSH certificate with id: %d and title: %s", id, title)
		},
		"cluster_agent_token_created": func(g *gen, ev *Event, a User) {
			ev.Entity = projectEntity(g.project())
			agent, id := g.pick("prod-agent", "staging-agent", "gitops"), g.id(1, 900)
			ev.Target = Target{ID: id, Type: "Clusters::AgentToken", Details: agent + "-token"}
			ev.Details = map[string]any{"agent_name": agent}
			ev.CustomMessage = fmt.Sprintf("Created cluster agent token for agent '%s'", agent)
		},
		"personal_access_token_created": func(g *gen, ev *Event, a User) {
			// The entity is the acting user, the target the token owner
			// (an administrator sometimes creates a token for someone).
			actor := a
			if g.chance(0.1) {
				actor = g.admin()
				setUserAuthor(ev, actor)
			}
			ev.Entity = userEntity(actor)
			ev.Target = userTarget(a)
			if g.chance(0.05) {
				ev.CustomMessage = "Attempted to create personal access token but failed with message: Expiration date is required"
				return
			}
			ev.CustomMessage = fmt.Sprintf("Created personal access token with id %d", g.id(1000, 900000))
		},
		"personal_access_token_revoked": func(g *gen, ev *Event, a User) {
			inUserScope(ev, a)
			ev.CustomMessage = fmt.Sprintf("Revoked personal access token with id %d", g.id(1000, 900000))
		},
		"project_access_token_created": func(g *gen, ev *Event, a User) {
			p := g.project()
			ev.Entity = projectEntity(p)
			bot := fmt.Sprintf("project_%d_bot_%s", p.ID, g.hex(8))
			ev.Target = Target{ID: g.id(5000, 9000), Type: "User", Details: bot}
			ev.CustomMessage = fmt.Sprintf("Created project access token with token_id: %d with scopes: [:api, :read_repository] and %s access level.", g.id(1000, 900000), g.pick("Maintainer", "Developer", "Owner"))
		},
		"group_access_token_created": func(g *gen, ev *Event, a User) {
			gr := g.group()
			ev.Entity = groupEntity(gr)
			bot := fmt.Sprintf("group_%d_bot_%s", gr.ID, g.hex(8))
			ev.Target = Target{ID: g.id(5000, 9000), Type: "User", Details: bot}
			ev.CustomMessage = fmt.Sprintf("Created group access token with token_id: %d with scopes: [:read_api] and %s access level.", g.id(1000, 900000), g.pick("Maintainer", "Developer", "Owner"))
		},
		"oauth_application_created": func(g *gen, ev *Event, a User) {
			inUserScope(ev, a)
			name, id := g.pick("Grafana", "Backstage", "Mattermost", "Unknown CLI"), g.id(1, 400)
			ev.Target = Target{ID: id, Type: "Authn::OauthApplication", Details: name}
			ev.Details = map[string]any{"application_name": name, "application_id": id, "scopes": []string{"api", "read_user"}}
			ev.CustomMessage = "OAuth application added"
		},

		"ci_runner_registered": func(g *gen, ev *Event, a User) {
			kind := runnerKind(ev)
			token := "GR1348941" + g.hex(12)
			ev.Author = Author{ID: AuthorIDUnauthenticated, Name: "Registration token: " + token[:8], Class: AuthorClassRunnerToken}
			id := g.id(100, 9999)
			ev.Target = Target{ID: id, Type: "Ci::Runner", Details: runnerPath(ev.Entity, id)}
			ev.Details = map[string]any{"runner_registration_token": token[:8]}
			ev.CustomMessage = "Registered " + kind + " CI runner"
		},
		"ci_runner_created": func(g *gen, ev *Event, a User) {
			kind := runnerKind(ev)
			id := g.id(100, 9999)
			ev.Target = Target{ID: id, Type: "Ci::Runner", Details: runnerPath(ev.Entity, id)}
			ev.CustomMessage = "Created " + kind + " CI runner"
		},
		"webhook_created": func(g *gen, ev *Event, a User) {
			hookType := map[string]string{EntityProject: "ProjectHook", EntityGroup: "GroupHook"}[ev.Entity.Type]
			if hookType == "" {
				hookType = "SystemHook"
			}
			url := g.pick("https://hooks.example.com/gitlab", "https://ci.example.org/webhook", "https://203.0.113.50/collect")
			ev.Target = Target{ID: g.id(1, 5000), Type: hookType, Details: url}
			ev.CustomMessage = "Created " + strings.ToLower(strings.TrimSuffix(hookType, "Hook")) + " hook"
		},
		"ci_variable_created":          variableCreated("ci_variable", "Ci::Variable", "Added ci variable", EntityProject),
		"ci_group_variable_created":    variableCreated("ci_group_variable", "Ci::GroupVariable", "Added ci group variable", EntityGroup),
		"ci_instance_variable_created": variableCreated("ci_instance_variable", "Ci::InstanceVariable", "Added ci instance variable", EntityInstance),
		"ci_variable_deleted":          variableDeleted("ci_variable", "Ci::Variable", "Removed ci variable", EntityProject),
		"ci_group_variable_deleted":    variableDeleted("ci_group_variable", "Ci::GroupVariable", "Removed ci group variable", EntityGroup),
		"ci_instance_variable_deleted": variableDeleted("ci_instance_variable", "Ci::InstanceVariable", "Removed ci instance variable", EntityInstance),
		"ci_variable_updated":          variableUpdated("Ci::Variable", EntityProject),
		"ci_group_variable_updated":    variableUpdated("Ci::GroupVariable", EntityGroup),
		"ci_instance_variable_updated": variableUpdated("Ci::InstanceVariable", EntityInstance),

		"project_created": func(g *gen, ev *Event, a User) {
			ev.Entity = projectEntity(g.project())
			ev.Target = entityTarget(ev.Entity)
			ev.CustomMessage = "Added project"
		},
		"project_destroyed": func(g *gen, ev *Event, a User) {
			p := g.project()
			ev.Entity = groupEntity(g.parentGroup(p))
			ev.Target = Target{ID: p.ID, Type: "Project", Details: p.FullPath}
			ev.Details = map[string]any{"remove": "project"}
			ev.CustomMessage = "Project destroyed"
		},
		"project_deletion_marked": func(g *gen, ev *Event, a User) {
			p := g.project()
			ev.Entity = groupEntity(g.parentGroup(p))
			ev.Target = Target{ID: p.ID, Type: "Project", Details: p.FullPath}
			ev.CustomMessage = "Project marked for deletion"
		},
		"group_created": func(g *gen, ev *Event, a User) {
			ev.Entity = groupEntity(g.group())
			ev.Target = entityTarget(ev.Entity)
			ev.CustomMessage = "Added group"
		},
		"group_destroyed": func(g *gen, ev *Event, a User) {
			ev.Entity = groupEntity(g.group())
			ev.Target = entityTarget(ev.Entity)
			ev.Details = map[string]any{"remove": "group"}
			ev.CustomMessage = "Group destroyed"
		},
		"group_deletion_marked": func(g *gen, ev *Event, a User) {
			ev.Entity = groupEntity(g.group())
			ev.Target = entityTarget(ev.Entity)
			ev.CustomMessage = "Group marked for deletion"
		},
		"project_archived": func(g *gen, ev *Event, a User) {
			ev.CustomMessage = "Project archived"
		},
		"project_export_file_download_started": func(g *gen, ev *Event, a User) {
			ev.CustomMessage = "Export file download started"
		},
		"repository_download_operation": func(g *gen, ev *Event, a User) {
			if g.chance(0.1) {
				ev.Author = Author{ID: AuthorIDDeployToken, Name: fmt.Sprintf("gitlab+deploy-token-%d", g.id(1, 400)), Class: AuthorClassDeployToken}
			}
			ev.CustomMessage = "Repository Download Started"
		},
		"public_repository_download_operation": func(g *gen, ev *Event, a User) {
			if g.chance(0.5) {
				ev.Author = systemAuthor("An unauthenticated user")
				ev.IPAddress = g.foreignIP()
			}
			ev.CustomMessage = "Repository Download Started"
		},
		"repository_git_operation": func(g *gen, ev *Event, a User) {
			p := g.project()
			ev.Entity = projectEntity(p)
			ev.Target = Target{ID: p.ID, Type: "Project", Details: p.Name}
			switch x := g.r.Float64(); {
			case x < 0.12:
				ev.Author = Author{ID: AuthorIDDeployKey, Name: g.pick(keyTitles...), Class: AuthorClassDeployKey}
			case x < 0.2:
				ev.Author = Author{ID: AuthorIDDeployToken, Name: fmt.Sprintf("gitlab+deploy-token-%d", g.id(1, 400)), Class: AuthorClassDeployToken}
			}
			protocol := g.pick("ssh", "http", "http", "ssh", "web")
			action := "git-upload-pack"
			if protocol != "web" && g.chance(0.15) {
				action = "git-receive-pack"
			}
			ev.CustomMessage = map[string]any{"protocol": protocol, "action": action}
		},
		"merge_request_approval_operation": func(g *gen, ev *Event, a User) {
			ev.Target = Target{ID: g.id(1, 30000), Type: "MergeRequest", Details: g.mrTitle()}
			ev.CustomMessage = "Approved merge request"
		},
		"merge_request_create": func(g *gen, ev *Event, a User) {
			ev.Target = Target{ID: g.id(1, 30000), Type: "MergeRequest", Details: g.mrTitle()}
			ev.CustomMessage = "Created merge request " + ev.Target.Details
		},
		"merge_request_merged": func(g *gen, ev *Event, a User) {
			ev.Target = Target{ID: g.id(1, 30000), Type: "MergeRequest", Details: g.mrTitle()}
			ev.Details = map[string]any{"approvers": []string{g.otherUser(a.ID).Username}, "required_approvals": 1}
			ev.CustomMessage = "Merge request merged"
		},
		"comment_created": func(g *gen, ev *Event, a User) {
			ev.Target = Target{ID: g.id(1, 900000), Type: "Note", Details: "Note on merge request !" + strconv.Itoa(g.intn(3000)+1)}
			ev.CustomMessage = "Created comment"
		},
		"job_artifact_downloaded": func(g *gen, ev *Event, a User) {
			ev.Target = Target{ID: g.id(1, 5000000), Type: "Ci::JobArtifact", Details: "artifacts.zip"}
			ev.Details = map[string]any{"job_id": g.id(1, 9000000), "file_type": "archive"}
			ev.CustomMessage = "Downloaded artifact archive"
		},
		"user_authenticated_using_job_token": func(g *gen, ev *Event, a User) {
			job := g.id(1, 9000000)
			ev.Details = map[string]any{"job_id": job}
			ev.CustomMessage = fmt.Sprintf("%s authenticated using job token of job id: %d", a.Username, job)
		},
		"variable_viewed_api": func(g *gen, ev *Event, a User) {
			key := g.pick(variableKeys...)
			ev.Target = Target{ID: g.id(1, 90000), Type: "Ci::Variable", Details: key}
			ev.CustomMessage = "Variable " + key + " viewed via API"
		},
		"repository_file_accessed_api": func(g *gen, ev *Event, a User) {
			f := g.pick("README.md", ".gitlab-ci.yml", "config/secrets.yml", "go.mod")
			ev.Details = map[string]any{"file_path": f}
			ev.CustomMessage = "Repository file " + f + " accessed via API"
		},
		"repository_file_accessed_web": func(g *gen, ev *Event, a User) {
			f := g.pick("README.md", ".gitlab-ci.yml", "config/secrets.yml", "go.mod")
			ev.Details = map[string]any{"file_path": f}
			ev.CustomMessage = "Repository file " + f + " accessed via web"
		},

		"group_require_two_factor_authentication_updated": func(g *gen, ev *Event, a User) {
			ev.Entity = groupEntity(g.topGroup())
			ev.Target = entityTarget(ev.Entity)
			from, to := g.boolPair(0.6)
			setChange(ev, "require_two_factor_authentication", from, to)
		},
		"group_two_factor_grace_period_updated": func(g *gen, ev *Event, a User) {
			ev.Entity = groupEntity(g.topGroup())
			ev.Target = entityTarget(ev.Entity)
			to := []int{0, 8, 168, 720}[g.intn(4)]
			setChange(ev, "two_factor_grace_period", 48, to)
		},
		"group_saml_provider_update": func(g *gen, ev *Event, a User) {
			ev.Entity = groupEntity(g.topGroup())
			ev.Target = Target{ID: g.id(1, 300), Type: "SamlProvider", Details: "group_saml"}
			switch x := g.r.Float64(); {
			case x < 0.6:
				ev.CustomMessage = "Group SAML SSO configuration changed: enforced_sso changed from true to false"
			case x < 0.8:
				ev.CustomMessage = "Group SAML SSO configuration changed: enabled changed from true to false"
			default:
				ev.CustomMessage = "Group SAML SSO configuration changed: sso_url changed from https://idp.example.com/sso to https://idp.example.net/sso"
			}
		},
		"project_require_password_to_approve_updated": func(g *gen, ev *Event, a User) {
			from, to := g.boolPair(0.7)
			setChange(ev, "require_password_to_approve", from, to)
		},
		"require_reauthentication_to_approve_updated": func(g *gen, ev *Event, a User) {
			from, to := g.boolPair(0.7)
			setChange(ev, "require_reauthentication_to_approve", from, to)
		},
		"ip_restrictions_changed": func(g *gen, ev *Event, a User) {
			ev.Entity = groupEntity(g.topGroup())
			ev.Target = entityTarget(ev.Entity)
			from := "192.0.2.0/24"
			to := g.pick("192.0.2.0/24,198.51.100.0/24", "", "0.0.0.0/0")
			ev.Details = map[string]any{"change": "ip_restrictions", "from": from, "to": to}
			ev.CustomMessage = fmt.Sprintf("Group IP restrictions updated from '%s' to '%s'", from, to)
		},
		"skip_secret_push_protection": func(g *gen, ev *Event, a User) {
			branch := g.pick(branches...)
			ev.Details = map[string]any{"branch_name": branch, "push_option": g.chance(0.5)}
			ev.CustomMessage = "Secret push protection skipped via " + g.pick("commit message", "push option") + " on branch " + branch
		},
		"protected_branch_created": func(g *gen, ev *Event, a User) {
			branch := g.pick(branches...)
			ev.Target = Target{ID: g.id(1, 90000), Type: "ProtectedBranch", Details: branch}
			ev.Details = map[string]any{
				"push_access_levels": []string{"No one"}, "merge_access_levels": []string{"Maintainers"},
				"allow_force_push": false, "code_owner_approval_required": false,
			}
			ev.CustomMessage = "Added protected branch " + branch
		},
		"protected_branch_removed": func(g *gen, ev *Event, a User) {
			branch := g.pick(branches...)
			ev.Target = Target{ID: g.id(1, 90000), Type: "ProtectedBranch", Details: branch}
			ev.Details = map[string]any{
				"push_access_levels": []string{"Maintainers"}, "merge_access_levels": []string{"Maintainers"},
				"allow_force_push": false, "code_owner_approval_required": g.chance(0.5),
			}
			ev.CustomMessage = "Unprotected branch " + branch
		},
		"protected_branch_allow_force_push_updated": func(g *gen, ev *Event, a User) {
			branch := g.pick(branches...)
			ev.Target = Target{ID: g.id(1, 90000), Type: "ProtectedBranch", Details: branch}
			from, to := g.boolPair(0.3)
			ev.Details = map[string]any{"change": "allow_force_push", "from": from, "to": to}
			ev.CustomMessage = fmt.Sprintf("Changed allow force push from %t to %t", from, to)
		},
		"update_approval_rules": func(g *gen, ev *Event, a User) {
			ev.Target = Target{ID: g.id(1, 9000), Type: "ApprovalProjectRule", Details: g.pick("Security approvers", "Code owners", "Default")}
			to := []int{0, 0, 1, 3}[g.intn(4)]
			ev.Details = map[string]any{"change": "number of required approvals", "from": 2, "to": to}
			ev.CustomMessage = fmt.Sprintf("Changed number of required approvals from 2 to %d", to)
		},
		"policy_project_updated": func(g *gen, ev *Event, a User) {
			ev.Target = Target{ID: g.id(100, 2000), Type: "Project", Details: ev.Entity.Path + "-security-policy-project"}
			ev.CustomMessage = "Changed security policy project"
		},
	}

	// The audit event streaming configuration family (three generations of
	// names): one template for all of them.
	for _, ti := range catalog {
		if templates[ti.Name] == nil && isStreamingConfigType(ti.Name) {
			templates[ti.Name] = streamingConfig(ti.Name)
		}
	}

	legacyTemplates = map[string]tmpl{
		"authenticated_with_password":   templates["authenticated_with_password"],
		"authenticated_with_two_factor": templates["authenticated_with_two_factor"],
		"authenticated_with_ldap":       templates["authenticated_with_ldap"],
		"authenticated_with_oauth":      templates["authenticated_with_oauth"],
		"member_created": func(g *gen, ev *Event, a User) {
			g.memberScope(ev)
			ev.Target = userTarget(g.otherUser(a.ID))
			bare, _ := g.roleLabel()
			ev.Details = map[string]any{"add": "user_access", "as": bare}
		},
		"member_updated": func(g *gen, ev *Event, a User) {
			g.memberScope(ev)
			ev.Target = userTarget(g.otherUser(a.ID))
			bare, _ := g.roleLabel()
			ev.Details = map[string]any{"change": "access_level", "from": memberRoles[g.intn(4)], "to": bare}
		},
		"member_destroyed": func(g *gen, ev *Event, a User) {
			g.memberScope(ev)
			ev.Target = userTarget(g.otherUser(a.ID))
			ev.Details = map[string]any{"remove": "user_access"}
		},
		"project_created": func(g *gen, ev *Event, a User) {
			ev.Entity = projectEntity(g.project())
			ev.Target = Target{ID: ev.Entity.Path, Type: "Project", Details: ev.Entity.Path}
			ev.Details = map[string]any{"add": "project"}
		},
		"project_destroyed": func(g *gen, ev *Event, a User) {
			p := g.project()
			ev.Entity = groupEntity(g.parentGroup(p))
			ev.Target = Target{ID: p.FullPath, Type: "Project", Details: p.FullPath}
			ev.Details = map[string]any{"remove": "project"}
		},
		"group_created": func(g *gen, ev *Event, a User) {
			ev.Entity = groupEntity(g.group())
			ev.Target = Target{ID: ev.Entity.Path, Type: "Group", Details: ev.Entity.Path}
			ev.Details = map[string]any{"add": "group"}
		},
		"project_visibility_level_updated": func(g *gen, ev *Event, a User) {
			ev.Entity = projectEntity(g.project())
			ev.Target = entityTarget(ev.Entity)
			from, to := g.visibilityChange()
			ev.Details = map[string]any{"change": "visibility", "from": from, "to": to}
		},
		"group_visibility_level_updated": func(g *gen, ev *Event, a User) {
			ev.Entity = groupEntity(g.group())
			ev.Target = entityTarget(ev.Entity)
			from, to := g.visibilityChange()
			ev.Details = map[string]any{"change": "visibility", "from": from, "to": to}
		},
		"deploy_key_added": func(g *gen, ev *Event, a User) {
			ev.Entity = projectEntity(g.project())
			title := g.pick(keyTitles...)
			ev.Target = Target{ID: title, Type: "DeployKey", Details: title}
			ev.Details = map[string]any{"add": "deploy_key"}
		},
		"deploy_key_removed": func(g *gen, ev *Event, a User) {
			ev.Entity = projectEntity(g.project())
			title := g.pick(keyTitles...)
			ev.Target = Target{ID: title, Type: "DeployKey", Details: title}
			ev.Details = map[string]any{"remove": "deploy_key"}
		},
		"password_reset_requested": templates["password_reset_requested"],
		"user_impersonation":       templates["user_impersonation"],
		"user_created": func(g *gen, ev *Event, a User) {
			setUserAuthor(ev, g.admin())
			n := g.id(100, 999)
			nu := User{ID: 200 + n, Username: fmt.Sprintf("contractor%d", n), Name: fmt.Sprintf("Contractor %d", n)}
			inUserScope(ev, nu)
			ev.Details = map[string]any{"add": "user"}
		},
	}
}

func (g *gen) visibilityChange() (string, string) {
	switch x := g.r.Float64(); {
	case x < 0.6:
		return "Private", "Public"
	case x < 0.75:
		return "Internal", "Public"
	case x < 0.9:
		return "Private", "Internal"
	default:
		return "Public", "Private"
	}
}

func (g *gen) mrTitle() string {
	return g.pick("Fix flaky test", "Bump dependencies", "Add rate limiting", "Refactor auth middleware", "Update CI pipeline", "Release 2.4.0")
}

func setChange(ev *Event, attr string, from, to any) {
	ev.Details = map[string]any{"change": attr, "from": from, "to": to}
	ev.CustomMessage = fmt.Sprintf("Changed %s from %v to %v", attr, from, to)
}

func runnerKind(ev *Event) string {
	switch ev.Entity.Type {
	case EntityGroup:
		return "group"
	case EntityProject:
		return "project"
	}
	return "instance"
}

func runnerPath(e Entity, id int64) string {
	if e.Type == EntityInstance {
		return fmt.Sprintf("/admin/runners/%d", id)
	}
	return fmt.Sprintf("/%s/-/runners/%d", e.Path, id)
}

// scopeTo moves an event to an entity type, keeping it when it matches.
func (g *gen) scopeTo(ev *Event, entityType string) {
	if ev.Entity.Type == entityType {
		return
	}
	switch entityType {
	case EntityGroup:
		ev.Entity = groupEntity(g.group())
	case EntityProject:
		ev.Entity = projectEntity(g.project())
	default:
		ev.Entity = InstanceEntity
	}
}

func variableCreated(add, targetType, msg, entityType string) tmpl {
	return func(g *gen, ev *Event, a User) {
		g.scopeTo(ev, entityType)
		ev.Target = Target{ID: g.id(1, 90000), Type: targetType, Details: g.pick(variableKeys...)}
		ev.Details = map[string]any{"add": add}
		ev.CustomMessage = msg
	}
}

func variableDeleted(remove, targetType, msg, entityType string) tmpl {
	return func(g *gen, ev *Event, a User) {
		g.scopeTo(ev, entityType)
		ev.Target = Target{ID: g.id(1, 90000), Type: targetType, Details: g.pick(variableKeys...)}
		ev.Details = map[string]any{"remove": remove}
		ev.CustomMessage = msg
	}
}

func variableUpdated(targetType, entityType string) tmpl {
	return func(g *gen, ev *Event, a User) {
		g.scopeTo(ev, entityType)
		ev.Target = Target{ID: g.id(1, 90000), Type: targetType, Details: g.pick(variableKeys...)}
		switch x := g.r.Float64(); {
		case x < 0.4:
			from, to := g.boolPair(0.7)
			setChange(ev, "variable protection", from, to)
		case x < 0.7:
			from, to := g.boolPair(0.7)
			setChange(ev, "variable masking", from, to)
		case x < 0.85:
			setChange(ev, "environment scope", "production", "*")
		default:
			ev.Details = map[string]any{"change": "value(hidden)"}
			ev.CustomMessage = "Changed value(hidden)"
		}
	}
}

func isStreamingConfigType(name string) bool {
	for _, s := range []string{"streaming_destination", "streaming_headers", "namespace_filter", "event_type_filters", "s3_configuration", "google_cloud_logging_configuration"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// streamingConfig fills the audit event streaming configuration types:
// destinations, custom headers, filters, cloud configurations.
func streamingConfig(name string) tmpl {
	instance := strings.Contains(name, "instance")
	var verb string
	switch {
	case strings.Contains(name, "creat"):
		verb = "Created"
	case strings.Contains(name, "delet") || strings.Contains(name, "destroy"):
		verb = "Deleted"
	default:
		verb = "Updated"
	}
	return func(g *gen, ev *Event, a User) {
		if instance {
			ev.Entity = InstanceEntity
			setUserAuthor(ev, g.admin())
		} else {
			ev.Entity = groupEntity(g.topGroup())
		}
		url := g.pick("https://siem.example.com/gitlab", "https://logs.example.org/ingest", "https://collector.example.net/audit")
		id := g.id(1, 500)
		switch {
		case strings.Contains(name, "headers"):
			key := g.pick("X-Siem-Key", "Authorization", "X-Panther-Gitlab")
			typ := "AuditEvents::Streaming::Header"
			if instance {
				typ = "AuditEvents::Streaming::InstanceHeader"
			}
			ev.Target = Target{ID: id, Type: typ, Details: "unknown"}
			switch verb {
			case "Created":
				ev.CustomMessage = "Created custom HTTP header with key " + key + "."
			case "Deleted":
				ev.CustomMessage = "Destroyed a custom HTTP header with key " + key + "."
			default:
				ev.CustomMessage = "Updated a custom HTTP header with key " + key + " to have a new value."
			}
		case strings.Contains(name, "filter"):
			ev.Target = Target{ID: id, Type: "AuditEvents::Streaming::EventTypeFilter", Details: url}
			ev.CustomMessage = verb + " " + strings.ToLower(strings.ReplaceAll(stripVerb(name), "_", " ")) + " for destination " + url
		case strings.Contains(name, "configuration"):
			typ := "AuditEvents::AmazonS3Configuration"
			if strings.Contains(name, "google") {
				typ = "AuditEvents::GoogleCloudLoggingConfiguration"
			}
			ev.Target = Target{ID: id, Type: typ, Details: g.pick("audit-archive", "gcp-audit")}
			ev.CustomMessage = verb + " " + strings.ReplaceAll(stripVerb(name), "_", " ")
		default:
			typ := "AuditEvents::ExternalAuditEventDestination"
			switch {
			case strings.HasPrefix(name, "created_") || strings.HasPrefix(name, "deleted_") || strings.HasPrefix(name, "updated_"):
				typ = "AuditEvents::Group::ExternalStreamingDestination"
				if instance {
					typ = "AuditEvents::Instance::ExternalStreamingDestination"
				}
			case instance:
				typ = "AuditEvents::InstanceExternalAuditEventDestination"
			}
			ev.Target = Target{ID: id, Type: typ, Details: url}
			switch verb {
			case "Created":
				ev.CustomMessage = "Create event streaming destination " + url
			case "Deleted":
				ev.CustomMessage = "Destroy event streaming destination " + url
			default:
				ev.CustomMessage = "Updated event streaming destination " + url
			}
		}
	}
}
