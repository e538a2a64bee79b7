// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package access finds out what the token can see, and says so: who the
// token is (GET /user, GET /personal_access_tokens/self), whether it may
// act as an administrator, its effective role on each configured group
// and project (members API), and from these whether each feed shows every
// event, only the token user's own, or nothing. GitLab answers a feed the
// token may only partly read with 200 and fewer events, never an error,
// so without this check a collector polls an empty feed and looks healthy.
// It also follows the token's expiry, and turns a refused token (401) into
// one clear error.
package access // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/access"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/tick"
)

// Settings configure the check.
type Settings struct {
	Client    *gitlabapi.Client
	Telemetry *metadata.TelemetryBuilder
	Logger    *zap.Logger
	// Status reports a part's health (nil: fine again).
	Status func(part string, err error)
	// Label names a feed in metrics (discovered feeds folded).
	Label func(gitlabapi.Feed) string
	// ExpiryWarning is how long before the token expires a warning is
	// given, once a day.
	ExpiryWarning time.Duration
}

// Feed is a feed to check.
type Feed struct {
	Feed gitlabapi.Feed
	// Root is the configured group a discovered feed was found under;
	// empty for a configured feed.
	Root string
}

// Identity is who the token is.
type Identity struct {
	// Known: GET /user answered.
	Known bool
	User  gitlabapi.User
	// TokenKnown: GET /personal_access_tokens/self answered (not for OAuth
	// tokens).
	TokenKnown bool
	Token      gitlabapi.TokenInfo
	// Admin: the token may act as an administrator: its user is one, and
	// where Admin Mode is on the token has the admin_mode scope.
	Admin bool
	// AdminModeBlocked: the user is an administrator, but GitLab refused
	// the token an administrator's request (Admin Mode on, no admin_mode
	// scope; or no license for instance audit events).
	AdminModeBlocked bool
}

// Checker checks what the token can see.
type Checker struct {
	set    Settings
	client *gitlabapi.Client
	logger *zap.Logger

	ready     chan struct{} // closed once the identity was read (or refused)
	readyOnce sync.Once

	mu       sync.Mutex
	id       Identity
	idErr    error
	verdicts map[string]Verdict // by feed string
	levels   map[string]int     // effective access level on configured groups, by ref; -1: not a member
	summary  string             // what was logged last
	refused  string             // the 401 message logged last
	warned   string             // the day the expiry warning was given last
}

// New returns a checker and registers its gauges.
func New(set Settings) (*Checker, error) {
	c := &Checker{set: set, client: set.Client, logger: set.Logger, ready: make(chan struct{}), verdicts: map[string]Verdict{}, levels: map[string]int{}, summary: "\x00 nothing said yet"}
	tel := set.Telemetry
	return c, tel.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		counts := map[[2]string]int64{}
		for _, v := range c.verdicts {
			counts[[2]string{set.Label(v.Feed), string(v.Access)}]++
		}
		for k, n := range counts {
			o.ObserveInt64(tel.GitlabAuditFeedAccess, n, metric.WithAttributes(
				attribute.String(metadata.AttrFeed, k[0]), attribute.String(metadata.AttrAccess, k[1])))
		}
		if exp, ok := c.id.Token.Expires(); c.id.TokenKnown && ok {
			now, _ := c.client.Clock().Now()
			o.ObserveFloat64(tel.GitlabAuditTokenExpirySeconds, exp.Sub(now).Seconds(), metric.WithAttributes(
				attribute.String(metadata.AttrTokenID, strconv.FormatInt(c.id.Token.ID, 10)),
				attribute.String(metadata.AttrTokenName, c.id.Token.Name)))
		}
		return nil
	}, tel.GitlabAuditFeedAccess, tel.GitlabAuditTokenExpirySeconds)
}

// Ready is closed once the first check read who the token is (or failed
// to).
func (c *Checker) Ready() <-chan struct{} { return c.ready }

// Identity returns who the token is, as last read.
func (c *Checker) Identity() Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// Verdicts returns what the last check decided, by feed string.
func (c *Checker) Verdicts() map[string]Verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Verdict, len(c.verdicts))
	for k, v := range c.verdicts {
		out[k] = v
	}
	return out
}

// Check reads who the token is and decides every feed, then says once per
// change what the token sees: at start, after each discovery.
func (c *Checker) Check(ctx context.Context, feeds []Feed) {
	id, err := c.identity(ctx)
	if ctx.Err() != nil {
		return
	}
	verdicts := map[string]Verdict{}
	levels := map[string]int{}
	for _, f := range feeds {
		if f.Root != "" {
			continue // discovered: decided from their root below
		}
		v, level := c.decide(ctx, id, err, f.Feed)
		if ctx.Err() != nil {
			return
		}
		verdicts[f.Feed.String()] = v
		if f.Feed.Kind == gitlabapi.KindGroup {
			levels[f.Feed.Ref] = level
		}
	}
	for _, f := range feeds {
		if f.Root == "" {
			continue
		}
		verdicts[f.Feed.String()] = c.derive(id, err, f, levels)
	}
	c.mu.Lock()
	c.id, c.idErr = id, err
	c.verdicts, c.levels = verdicts, levels
	c.mu.Unlock()
	c.readyOnce.Do(func() { close(c.ready) })
	c.report(id, err)
	c.checkExpiry(id)
}

// identity reads GET /user and GET /personal_access_tokens/self, and, for
// an administrator's token without the admin_mode scope, whether GitLab
// lets it act as one.
func (c *Checker) identity(ctx context.Context) (Identity, error) {
	var id Identity
	u, err := c.client.CurrentUser(ctx)
	if err != nil {
		c.tokenRefused(err)
		return id, err
	}
	id.Known, id.User = true, u
	switch t, err := c.client.TokenSelf(ctx); {
	case err == nil:
		id.TokenKnown, id.Token = true, t
	case errors.Is(err, gitlabapi.ErrNotPersonalToken):
	default:
		c.logger.Debug("Could not read the token's own record (GET /personal_access_tokens/self); its expiry is not followed", zap.Error(err))
	}
	if u.IsAdmin {
		id.Admin = true
		if !id.TokenKnown || !id.Token.HasScope("admin_mode") {
			// Admin Mode refuses an administrator's token without the
			// admin_mode scope on every administrator's request
			// (lib/api/api_guard.rb): try one.
			if perr := c.client.Probe(ctx, gitlabapi.Feed{Kind: gitlabapi.KindInstance}); gitlabapi.IsStatus(perr, http.StatusForbidden) {
				id.Admin, id.AdminModeBlocked = false, true
			}
		}
	}
	return id, nil
}

// decide decides a configured feed, and returns the level read on a group.
func (c *Checker) decide(ctx context.Context, id Identity, idErr error, f gitlabapi.Feed) (Verdict, int) {
	switch {
	case idErr != nil:
		return Verdict{Feed: f, Access: Unknown, Role: "unknown", Needs: needs(f.Kind)}, 0
	case id.Admin:
		return decideAdmin(f), gitlabapi.AccessOwner
	case f.Kind == gitlabapi.KindInstance:
		role := "not an administrator"
		if id.AdminModeBlocked {
			role = "administrator without the admin_mode scope"
		}
		return decideInstanceNotAdmin(f, role), 0
	}
	level, err := c.client.MemberAccess(ctx, f, id.User.ID)
	switch {
	case errors.Is(err, gitlabapi.ErrNotMember):
		perr := c.client.Probe(ctx, f)
		if perr != nil && !gitlabapi.IsStatus(perr, http.StatusForbidden) && !gitlabapi.IsStatus(perr, http.StatusNotFound) {
			return Verdict{Feed: f, Access: Unknown, Role: "no role", Needs: needs(f.Kind)}, -1
		}
		return decideNotMember(f, perr == nil), -1
	case gitlabapi.IsStatus(err, http.StatusNotFound), gitlabapi.IsStatus(err, http.StatusForbidden):
		return Verdict{Feed: f, Access: Refused, Role: "cannot see it", Needs: needs(f.Kind)}, -1
	case err != nil:
		c.logger.Debug("Could not read the token user's role", zap.String("feed", f.String()), zap.Error(err))
		return Verdict{Feed: f, Access: Unknown, Role: "unknown", Needs: needs(f.Kind)}, 0
	}
	return decideByRole(f, level), level
}

// derive decides a discovered feed from the role on the configured group
// it was found under: a lower bound (a direct role below can be higher),
// which Answered corrects when the feed's answers say otherwise.
func (c *Checker) derive(id Identity, idErr error, f Feed, levels map[string]int) Verdict {
	switch {
	case idErr != nil:
		return Verdict{Feed: f.Feed, Access: Unknown, Role: "unknown", Needs: needs(f.Feed.Kind), Derived: true}
	case id.Admin:
		v := decideAdmin(f.Feed)
		v.Derived = true
		return v
	}
	level, ok := levels[f.Root]
	if !ok || level == 0 {
		return Verdict{Feed: f.Feed, Access: Unknown, Role: "unknown", Needs: needs(f.Feed.Kind), Derived: true}
	}
	var v Verdict
	if level < 0 {
		v = decideNotMember(f.Feed, true) // it was listed: the token reads the group
	} else {
		v = decideByRole(f.Feed, level)
	}
	v.Derived = true
	v.Role += " (on " + f.Root + ")"
	return v
}

// Answered tells the checker what a poll of a feed got: nil, or GitLab's
// error. When the answer contradicts what was decided (a refused feed that
// answers, a readable one refused), the feed is decided again, directly,
// and a change is said.
func (c *Checker) Answered(ctx context.Context, f Feed, err error) {
	if gitlabapi.IsStatus(err, http.StatusUnauthorized) {
		c.tokenRefused(err)
		return
	}
	refused := gitlabapi.IsStatus(err, http.StatusForbidden) || gitlabapi.IsStatus(err, http.StatusNotFound)
	if err != nil && !refused {
		return // a failure that says nothing of access
	}
	key := f.Feed.String()
	c.mu.Lock()
	v, ok := c.verdicts[key]
	id, idErr := c.id, c.idErr
	c.mu.Unlock()
	if !ok || idErr != nil || !id.Known {
		return
	}
	wasRefused := v.Access == Refused || v.Access == Unknown
	if refused == wasRefused || (refused && f.Root != "") {
		return // as decided; a discovered feed refused is gone (discovery decides)
	}
	nv, _ := c.decide(ctx, id, nil, f.Feed)
	if ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	if _, still := c.verdicts[key]; still {
		c.verdicts[key] = nv
	}
	c.mu.Unlock()
	c.report(id, nil)
}

// tokenRefused says once, per message, that GitLab refused the token
// (401), with what is known of it.
func (c *Checker) tokenRefused(err error) {
	var ae *gitlabapi.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		if errors.As(err, &ae) && ae.Status == http.StatusForbidden {
			c.sayOnce("GitLab refused to say who the token is (GET /user): "+ae.Message, func() {
				c.logger.Error("GitLab refused to say who the token is; what each feed shows cannot be checked",
					zap.Error(err), zap.String("what_to_do", "give the token the read_api scope (read_user is enough for this request)"))
			})
		}
		return
	}
	c.sayOnce(ae.Message, func() {
		c.mu.Lock()
		t, known := c.id.Token, c.id.TokenKnown
		c.mu.Unlock()
		fields := []zap.Field{zap.Error(err), zap.String("what_to_do", ae.Advice())}
		if known {
			fields = append(fields, zap.Int64("token_id", t.ID), zap.String("token_name", t.Name), zap.String("expires_at", t.ExpiresAt))
		}
		c.logger.Error("GitLab refuses the token (401): nothing is polled until it is replaced", fields...)
		c.set.Status("token", fmt.Errorf("GitLab refuses the token: %s", ae.Message))
	})
}

// sayOnce runs say when msg differs from what was said last.
func (c *Checker) sayOnce(msg string, say func()) {
	if c.changed(&c.refused, msg) {
		say()
	}
}

// changed sets *last (a field of c, under c.mu) to v and reports whether
// it differed: what is logged once per value (a 401 message, the day of
// an expiry warning) is logged again only when the value changes.
func (c *Checker) changed(last *string, v string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *last == v {
		return false
	}
	*last = v
	return true
}

// report logs what the token sees when it changed: one summary, at info
// level when every feed shows every event, else a warning naming each
// incomplete feed with the role it needs; and sets the component status.
func (c *Checker) report(id Identity, idErr error) {
	c.mu.Lock()
	verdicts := make([]Verdict, 0, len(c.verdicts))
	for _, v := range c.verdicts {
		verdicts = append(verdicts, v)
	}
	c.mu.Unlock()
	sort.Slice(verdicts, func(i, j int) bool { return verdicts[i].Feed.String() < verdicts[j].Feed.String() })

	var lines []string
	folded := map[string]int{}
	degraded := map[string]string{} // status part -> message
	complete := 0
	for _, v := range verdicts {
		if v.Complete() {
			complete++
			continue
		}
		label := c.set.Label(v.Feed)
		if v.Derived && label != v.Feed.String() {
			folded[label+": "+describe(v)]++
		} else {
			lines = append(lines, v.Feed.String()+": "+describe(v))
		}
		if v.Access == OwnEvents {
			degraded["access:"+label] = fmt.Sprintf("%s shows only the token user's own events (%s); needs %s", label, v.Role, v.Needs)
		}
	}
	for l, n := range folded {
		lines = append(lines, fmt.Sprintf("%s (%d feeds)", l, n))
	}
	sort.Strings(lines)
	summary := strings.Join(lines, "\n")
	if idErr != nil {
		summary = "unknown: " + idErr.Error()
	}
	c.mu.Lock()
	changed := summary != c.summary
	c.summary = summary
	parts := slices.Collect(func(yield func(string) bool) {
		for _, v := range c.verdicts {
			if !yield("access:" + c.set.Label(v.Feed)) {
				return
			}
		}
	})
	c.mu.Unlock()
	for _, p := range parts {
		c.set.Status(p, nil)
	}
	for p, msg := range degraded {
		c.set.Status(p, errors.New(msg))
	}
	if !changed {
		return
	}
	who := c.who(id)
	switch {
	case idErr != nil:
		c.logger.Warn("Could not check what the token sees; the feeds are polled, but whether they show every event is unknown",
			append(who, zap.Error(idErr))...)
	case len(verdicts) == 0:
		c.logger.Info("The GitLab token (for lookups; no feed is polled)", who...)
	case len(lines) == 0:
		c.logger.Info("The token sees every event of every feed", append(who, zap.Int("feeds", complete))...)
	default:
		c.logger.Warn("The token does not see every event of these feeds: their polls succeed but miss what others did",
			append(who, zap.Strings("incomplete", lines), zap.Int("complete", complete),
				zap.String("what_to_do", "give the token's user the role each feed needs, or use an administrator's token (with admin_mode where Admin Mode is on); auditor users see only their own events in the API"))...)
	}
}

// describe says what a feed shows and why, in a few words.
func describe(v Verdict) string {
	switch v.Access {
	case OwnEvents:
		return "only the token user's own events (" + v.Role + "; needs " + v.Needs + ")"
	case Refused:
		return "refused (" + v.Role + "; needs " + v.Needs + ")"
	case Unknown:
		return "unknown (the check could not read the role)"
	}
	return "every event"
}

// who describes the token for logs: never its value.
func (c *Checker) who(id Identity) []zap.Field {
	if !id.Known {
		return nil
	}
	fields := []zap.Field{zap.Int64("user_id", id.User.ID), zap.String("username", id.User.Username), zap.Bool("administrator", id.Admin)}
	if id.AdminModeBlocked {
		fields = append(fields, zap.String("admin_mode", "the user is an administrator, but GitLab refuses the token an administrator's request: add the admin_mode scope (Admin Mode is on)"))
	}
	if id.TokenKnown {
		exp := id.Token.ExpiresAt
		if exp == "" {
			exp = "never"
		}
		fields = append(fields, zap.Int64("token_id", id.Token.ID), zap.String("token_name", id.Token.Name),
			zap.Strings("scopes", id.Token.Scopes), zap.String("expires_at", exp))
	}
	return fields
}

// WatchExpiry re-reads the token's record every day and warns, once a
// day, from ExpiryWarning before it expires.
func (c *Checker) WatchExpiry(ctx context.Context) {
	tick.Every(ctx, 24*time.Hour, func(ctx context.Context) {
		t, err := c.client.TokenSelf(ctx)
		if err != nil {
			c.tokenRefused(err)
			return
		}
		c.mu.Lock()
		c.id.Token, c.id.TokenKnown = t, true
		id := c.id
		c.mu.Unlock()
		c.checkExpiry(id)
	})
}

// checkExpiry warns once a day when the token expires within
// ExpiryWarning (on GitLab's clock).
func (c *Checker) checkExpiry(id Identity) {
	exp, ok := id.Token.Expires()
	if !id.TokenKnown || !ok {
		return
	}
	now, _ := c.client.Clock().Now()
	left := exp.Sub(now)
	if left > c.set.ExpiryWarning {
		return
	}
	if !c.changed(&c.warned, now.UTC().Format(time.DateOnly)) {
		return
	}
	msg := "The GitLab token expires soon; once expired, nothing is polled or looked up"
	if left <= 0 {
		msg = "The GitLab token has expired; nothing is polled or looked up"
	}
	c.logger.Warn(msg, zap.Int64("token_id", id.Token.ID), zap.String("token_name", id.Token.Name),
		zap.String("expires_at", id.Token.ExpiresAt), zap.String("left", fmt.Sprintf("%.1f days", left.Hours()/24)),
		zap.String("what_to_do", "create a new token with the same scopes and role, put it where token reads it from (environment, file, secret) and reload the collector (SIGHUP): the checkpoints and de-duplication state are kept"))
}
