// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// accessUsage documents the -access flag.
const accessUsage = `access token with GitLab metadata, as TOKEN=ITEM;ITEM;... (repeatable). Items:
  admin | auditor                  the token's user is an administrator / an auditor
  ROLE@PATH                        owner, maintainer, developer, reporter or guest of a group or project
  user=ID                          the token's user (default 1 for admin, else 2)
  scopes=SCOPE,...                 e.g. read_api,admin_mode (default api)
  expires=YYYY-MM-DD | expires-in=DURATION (e.g. 5d, 36h)
  revoked | kind=personal|project|group|oauth | name=NAME | id=N`

// tokenSpec is a parsed -access value; paths are resolved once the
// simulator's groups and projects exist.
type tokenSpec struct {
	token     string
	admin     bool
	auditor   bool
	roles     []roleSpec
	user      int64
	scopes    []string
	expires   time.Time
	expiresIn time.Duration
	revoked   bool
	kind      gitlabsim.TokenKind
	name      string
	id        int64
}

type roleSpec struct {
	role gitlabsim.Role
	path string
}

// accessList collects -access flags. Set keeps its errors for
// parseFlags to report: the flag package would print the whole value,
// token included.
type accessList struct {
	specs []tokenSpec
	errs  []error
}

// String implements flag.Value without revealing the tokens.
func (l *accessList) String() string { return fmt.Sprintf("%d access token(s)", len(l.specs)) }

// Set parses one TOKEN=SPEC value.
func (l *accessList) Set(v string) error {
	tok, spec, ok := strings.Cut(v, "=")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		l.errs = append(l.errs, fmt.Errorf("-access #%d: want TOKEN=ITEM;ITEM (items separated by semicolons)", len(l.specs)+len(l.errs)+1))
		return nil
	}
	ts, err := parseTokenSpec(spec)
	if err != nil {
		l.errs = append(l.errs, err)
		return nil
	}
	ts.token = tok
	l.specs = append(l.specs, ts)
	return nil
}

var roleNames = map[string]gitlabsim.Role{
	"owner": gitlabsim.Owner, "maintainer": gitlabsim.Maintainer, "developer": gitlabsim.Developer,
	"reporter": gitlabsim.Reporter, "guest": gitlabsim.Guest,
}

var kindNames = map[string]gitlabsim.TokenKind{
	"personal": gitlabsim.TokenPersonal, "project": gitlabsim.TokenProjectAccess,
	"group": gitlabsim.TokenGroupAccess, "oauth": gitlabsim.TokenOAuth,
}

func parseTokenSpec(spec string) (tokenSpec, error) {
	var ts tokenSpec
	for item := range strings.SplitSeq(spec, ";") {
		item = strings.TrimSpace(item)
		key, val, hasVal := strings.Cut(item, "=")
		var err error
		switch {
		case item == "":
		case item == "admin":
			ts.admin = true
		case item == "auditor":
			ts.auditor = true
		case item == "revoked":
			ts.revoked = true
		case strings.Contains(item, "@") && !hasVal:
			role, path, _ := strings.Cut(item, "@")
			r, ok := roleNames[strings.ToLower(role)]
			if !ok || strings.Trim(path, "/") == "" {
				return ts, fmt.Errorf("bad role %q: want owner|maintainer|developer|reporter|guest@PATH", item)
			}
			ts.roles = append(ts.roles, roleSpec{r, strings.Trim(path, "/")})
		case key == "user":
			ts.user, err = strconv.ParseInt(val, 10, 64)
			if err == nil && ts.user <= 0 {
				err = errors.New("must be positive")
			}
		case key == "id":
			ts.id, err = strconv.ParseInt(val, 10, 64)
		case key == "name":
			ts.name = val
		case key == "scopes":
			for s := range strings.SplitSeq(val, ",") {
				if s = strings.TrimSpace(s); s != "" {
					ts.scopes = append(ts.scopes, s)
				}
			}
			if len(ts.scopes) == 0 {
				err = errors.New("no scope")
			}
		case key == "expires":
			ts.expires, err = time.Parse(time.DateOnly, val)
		case key == "expires-in":
			ts.expiresIn, err = parseDays(val)
		case key == "kind":
			var ok bool
			if ts.kind, ok = kindNames[val]; !ok {
				err = errors.New("want personal, project, group or oauth")
			}
		default:
			return ts, fmt.Errorf("unknown -access item %q", item)
		}
		if err != nil {
			return ts, fmt.Errorf("-access item %q: %w", item, err)
		}
	}
	return ts, nil
}

// parseDays parses a Go duration or a number of days ("5d").
func parseDays(v string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(v)
}

// build resolves the spec against the simulator's estate.
func (ts tokenSpec) build(sim *gitlabsim.Sim, now time.Time) (gitlabsim.Token, error) {
	t := gitlabsim.Token{
		UserID: ts.user, Admin: ts.admin, Auditor: ts.auditor, Scopes: ts.scopes, Revoked: ts.revoked,
		Kind: ts.kind, Name: ts.name, ID: ts.id, ExpiresAt: ts.expires,
		Groups: map[string]gitlabsim.Role{}, Projects: map[string]gitlabsim.Role{},
	}
	if t.UserID == 0 {
		t.UserID = 2
		if ts.admin {
			t.UserID = 1
		}
	}
	if ts.expiresIn != 0 {
		t.ExpiresAt = now.Add(ts.expiresIn)
	}
	groups, projects := map[string]bool{}, map[string]bool{}
	for _, g := range sim.Groups() {
		groups[strings.ToLower(g.FullPath)] = true
	}
	for _, p := range sim.Projects() {
		projects[strings.ToLower(p.FullPath)] = true
	}
	for _, r := range ts.roles {
		switch key := strings.ToLower(r.path); {
		case groups[key]:
			t.Groups[r.path] = r.role
		case projects[key]:
			t.Projects[r.path] = r.role
		default:
			return t, fmt.Errorf("-access: no group or project %q", r.path)
		}
	}
	return t, nil
}
