// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/tick"
)

const (
	// minTriggeredDiscovery spaces the listings that 404s trigger.
	minTriggeredDiscovery = time.Minute
)

// estate discovers the subgroups and projects of the configured groups,
// adds a feed for each one this shard owns, retires the feeds that left
// (after one last poll), and keeps the list in storage so a restart
// resumes every feed at once and knows when the estate was last listed.
//
// Feeds are identified by numeric id ("project:1234"): a project that
// moves between subgroups keeps its feed and checkpoint.
type estate struct {
	set       Settings // the poll path's: groups, projects, overlap, initial lookback, budget
	feeds     feedSet
	clock     *gitlabClock
	cfg       Discovery
	exclude   []*regexp.Regexp
	retention time.Duration
	wake      chan struct{}

	mu      sync.Mutex
	index   estateIndex
	known   map[string]*feedPoller // feed key -> feed polled now
	entries map[string]*estateEntry
	runs    int
	warned  bool // the budget warning was given
}

// estateIndex is what is stored (estate_state.go): the discovered feeds,
// and when each configured group was last listed completely.
type estateIndex struct {
	// Listed maps a configured group to the time of its last complete listing.
	Listed map[string]time.Time
	Feeds  []*estateEntry
}

// estateEntry is one discovered group or project.
type estateEntry struct {
	Kind gitlabapi.Kind
	ID   int64
	Path string
	Root string
	// Start is where the feed starts reading while it has no checkpoint.
	Start time.Time
	// Gone is when the feed left the estate; zero while it is in it.
	Gone time.Time
}

func (e *estateEntry) feed() gitlabapi.Feed {
	return gitlabapi.Feed{Kind: e.Kind, Ref: strconv.FormatInt(e.ID, 10)}
}

func (e *estateEntry) key() string { return e.feed().String() }

// Discovery configures the listing of the estate below the configured
// groups (collect::discovery).
type Discovery struct {
	Enabled, Subgroups, Projects, Archived bool
	Interval, ForgetAfter                  time.Duration
	Exclude                                []string
}

// feedSet is what discovery needs of the poller: open a feed at its
// checkpoint, start polling new feeds, give a feed that left its last
// poll, and how many feeds are scheduled.
type feedSet interface {
	open(ctx context.Context, f gitlabapi.Feed, origin string, start time.Time) *feedPoller
	add(fresh []*feedPoller, first bool)
	retire(f *feedPoller)
	count() int
	// checkAccess checks what the token sees in every feed now polled.
	checkAccess(ctx context.Context)
}

func newEstate(set Settings, feeds feedSet, clock *gitlabClock) *estate {
	e := &estate{
		set:       set,
		feeds:     feeds,
		clock:     clock,
		cfg:       set.Discovery,
		retention: set.Discovery.ForgetAfter,
		wake:      make(chan struct{}, 1),
		known:     map[string]*feedPoller{},
		entries:   map[string]*estateEntry{},
		index:     estateIndex{Listed: map[string]time.Time{}},
	}
	for _, g := range set.Discovery.Exclude {
		if re, err := CompileGlob(g); err == nil { // validated
			e.exclude = append(e.exclude, re)
		}
	}
	return e
}

// load reads the stored estate and returns the feeds to resume.
func (e *estate) load(ctx context.Context) []*feedPoller {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.set.Store != nil {
		switch idx, ok, err := loadEstate(ctx, e.set.Store); {
		case err != nil:
			e.set.Logger.Warn("Ignoring the stored list of discovered feeds; discovering them again", zap.Error(err))
		case ok:
			e.index = idx
		}
	}
	if e.index.Listed == nil {
		e.index.Listed = map[string]time.Time{}
	}
	roots := map[string]bool{}
	for _, g := range e.set.Groups {
		roots[g] = true
	}
	for r := range e.index.Listed {
		if !roots[r] {
			delete(e.index.Listed, r) // no longer configured
		}
	}
	now := e.clock.now()
	var out []*feedPoller
	for _, en := range e.index.Feeds {
		e.entries[en.key()] = en
		if en.Gone.IsZero() && (!roots[en.Root] || !e.wanted(en) || e.configured(en)) {
			en.Gone = now // its group is no longer configured, it is excluded, in another shard, or configured itself now
		}
		if !en.Gone.IsZero() {
			continue
		}
		fp := e.feeds.open(ctx, en.feed(), originDiscovered, en.Start)
		fp.path, fp.root = en.Path, en.Root
		e.known[en.key()] = fp
		out = append(out, fp)
	}
	if len(out) > 0 {
		e.set.Logger.Info("Resuming the discovered feeds from storage", zap.Int("feeds", len(out)))
	}
	e.purge(ctx, now)
	return out
}

// configured reports whether a discovered group or project is also
// configured (by id or full path): it is then polled once, as configured.
func (e *estate) configured(en *estateEntry) bool {
	refs := e.set.Projects
	if en.Kind == gitlabapi.KindGroup {
		refs = e.set.Groups
	}
	id := strconv.FormatInt(en.ID, 10)
	for _, ref := range refs {
		if ref == id || strings.EqualFold(ref, en.Path) {
			return true
		}
	}
	return false
}

// wanted reports whether this replica polls a discovered group or project.
func (e *estate) wanted(en *estateEntry) bool {
	if en.Kind == gitlabapi.KindGroup && !e.cfg.Subgroups || en.Kind == gitlabapi.KindProject && !e.cfg.Projects {
		return false
	}
	for _, re := range e.exclude {
		if re.MatchString(en.Path) {
			return false
		}
	}
	return e.set.Shard.Owns(en.key())
}

// trigger asks for a listing soon (a feed answered 404).
func (e *estate) trigger() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// run lists the estate at once, then every interval, and sooner (but at
// most once a minute) when a feed answers 404.
func (e *estate) run(ctx context.Context) {
	tick.Every(ctx, e.cfg.Interval, e.discover, tick.Now(), tick.WakeOn(e.wake, minTriggeredDiscovery))
}

// found is a group or project a listing returned, under a configured group.
type found struct {
	kind gitlabapi.Kind
	ent  gitlabapi.Entity
	root string
}

// discover lists the estate of every configured group and applies the
// changes. A listing that fails leaves the feeds found under that group
// alone: polling of the feeds already known never stops.
func (e *estate) discover(ctx context.Context) {
	started := e.clock.now() // GitLab's clock: feeds start from it
	var all []found
	complete := map[string]bool{}
	failures := 0
	for _, root := range e.set.Groups {
		ok := true
		if e.cfg.Subgroups {
			groups, err := e.set.Client.DescendantGroups(ctx, root)
			if err != nil {
				ok = false
				e.failed(ctx, root, err)
			}
			for _, g := range groups {
				all = append(all, found{kind: gitlabapi.KindGroup, ent: g, root: root})
			}
		}
		if e.cfg.Projects && ok {
			projects, err := e.set.Client.GroupProjects(ctx, root, e.cfg.Archived)
			if err != nil {
				ok = false
				e.failed(ctx, root, err)
			}
			for _, pr := range projects {
				all = append(all, found{kind: gitlabapi.KindProject, ent: pr, root: root})
			}
		}
		if ctx.Err() != nil {
			return
		}
		if ok {
			complete[root] = true
			e.set.Status("discovery:"+root, nil)
		} else {
			failures++
		}
	}
	result := "ok"
	if failures > 0 {
		result = "failed"
	}
	metadata.Add(ctx, e.set.Telemetry.GitlabAuditDiscoveryRuns, 1, metadata.AttrResult, result)
	e.apply(ctx, all, complete, started)
	e.feeds.checkAccess(ctx) // the estate as it now is
}

func (e *estate) failed(ctx context.Context, root string, err error) {
	fields := []zap.Field{zap.String("group", root), zap.Error(err)}
	var ae *gitlabapi.APIError
	if errors.As(err, &ae) {
		fields = append(fields, zap.String("what_to_do", ae.Advice()))
	}
	if ctx.Err() == nil {
		e.set.Logger.Warn("Discovering the subgroups and projects of a group failed; the feeds already known are still polled", fields...)
		e.set.Status("discovery:"+root, fmt.Errorf("discovery of group %s: %w", root, err))
	}
}

// apply adds the new feeds, retires the ones that left and stores the estate.
func (e *estate) apply(ctx context.Context, all []found, complete map[string]bool, started time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.runs++
	floor := started.Add(-e.set.InitialLookback)
	var added, moved, excluded, elsewhere, groups, projects int
	var fresh []*feedPoller
	seen := map[string]bool{}
	for _, f := range all {
		en := &estateEntry{Kind: f.kind, ID: f.ent.ID, Path: f.ent.FullPath, Root: f.root}
		key := en.key()
		if seen[key] {
			continue // under two configured groups
		}
		seen[key] = true
		if e.configured(en) {
			continue // polled as configured
		}
		if f.kind == gitlabapi.KindGroup {
			groups++
		} else {
			projects++
		}
		if !e.wanted(en) {
			if e.set.Shard.Owns(key) {
				excluded++
			} else {
				elsewhere++
			}
			seen[key] = false // a known feed that is now excluded leaves
			continue
		}
		if fp := e.known[key]; fp != nil {
			old := e.entries[key]
			if old.Path != en.Path {
				moved++
				e.set.Logger.Info("A discovered feed moved; it keeps its checkpoint", zap.String("feed", key), zap.String("from", old.Path), zap.String("to", en.Path))
				old.Path, fp.path = en.Path, en.Path
			}
			old.Root = en.Root
			continue
		}
		// New to this replica: created (or moved in, or handed over by a
		// shard change) since the last complete listing of its group.
		en.Start = floor
		if prev, ok := e.index.Listed[f.root]; ok {
			en.Start = maxTime(floor, minTime(prev, f.ent.CreatedAt).Add(-e.set.Overlap))
		}
		if old := e.entries[key]; old != nil && !old.Gone.IsZero() {
			old.Gone, old.Path, old.Root = time.Time{}, en.Path, en.Root // back within the retention: resume its checkpoint
			en = old
		} else {
			e.entries[key] = en
			e.index.Feeds = append(e.index.Feeds, en)
		}
		fp := e.feeds.open(ctx, en.feed(), originDiscovered, en.Start)
		fp.path, fp.root = en.Path, en.Root
		e.known[key] = fp
		fresh = append(fresh, fp)
		added++
	}
	var gone []string
	for key, fp := range e.known {
		en := e.entries[key]
		if seen[key] || !complete[en.Root] {
			continue
		}
		// Deleted, transferred out, no longer visible, excluded, or in
		// another shard: one last poll, then it stops.
		en.Gone = started
		delete(e.known, key)
		e.feeds.retire(fp)
		gone = append(gone, key)
	}
	for root := range complete {
		e.index.Listed[root] = started
	}
	e.feeds.add(fresh, e.runs == 1)
	e.purge(ctx, started)
	e.save(ctx)

	fields := []zap.Field{
		zap.Int("groups", len(e.set.Groups)), zap.Int("subgroups_found", groups), zap.Int("projects_found", projects),
		zap.Int("feeds_discovered", len(e.known)), zap.Int("feeds_added", added), zap.Int("feeds_gone", len(gone)),
		zap.Int("excluded", excluded), zap.Int("in_other_shards", elsewhere), zap.Int("feeds_total", e.feeds.count()),
	}
	switch {
	case e.runs == 1:
		e.set.Logger.Info("Discovered the subgroups and projects of the configured groups", fields...)
	case added > 0 || len(gone) > 0 || moved > 0:
		e.set.Logger.Info("The estate changed", append(fields, zap.Strings("gone", gone))...)
	default:
		e.set.Logger.Debug("Listed the estate; nothing changed", fields...)
	}
	e.checkBudget()
}

// purge removes the entries and checkpoints of feeds gone for longer than
// the retention, so storage does not grow as projects come and go. mu
// must be held.
func (e *estate) purge(ctx context.Context, now time.Time) {
	var forget []gitlabapi.Feed
	keep := e.index.Feeds[:0]
	for _, en := range e.index.Feeds {
		if !en.Gone.IsZero() && now.Sub(en.Gone) >= e.retention {
			forget = append(forget, en.feed())
			delete(e.entries, en.key())
			continue
		}
		keep = append(keep, en)
	}
	clear(e.index.Feeds[len(keep):])
	e.index.Feeds = keep
	if len(forget) == 0 || e.set.Store == nil {
		return
	}
	if err := forgetCheckpoints(ctx, e.set.Store, forget); err != nil {
		e.set.Logger.Warn("Could not remove the stored checkpoints of feeds gone from the estate", zap.Error(err))
		return
	}
	e.set.Logger.Info("Removed the stored checkpoints of feeds gone from the estate", zap.Int("feeds", len(forget)), zap.Duration("gone_for_more_than", e.retention))
}

// save stores the estate. mu must be held.
func (e *estate) save(ctx context.Context) {
	if e.set.Store == nil {
		return
	}
	if err := saveEstate(ctx, e.set.Store, e.index); err != nil && ctx.Err() == nil {
		e.set.Logger.Warn("Could not store the list of discovered feeds; a restart discovers them again", zap.Error(err))
	}
}

// checkBudget warns once when max_requests_per_minute cannot poll every
// feed at least every idle_poll_interval. mu must be held.
func (e *estate) checkBudget() {
	rpm := e.set.RequestsPerMinute
	if rpm <= 0 || e.warned {
		return
	}
	feeds := e.feeds.count()
	need := float64(feeds) / e.set.IdlePollInterval.Minutes()
	if need <= float64(rpm) {
		return
	}
	e.warned = true
	achievable := time.Duration(math.Ceil(float64(feeds)/float64(rpm)*60)) * time.Second
	e.set.Logger.Warn("The request budget cannot poll every feed every idle_poll_interval; every feed is still polled in turn, less often",
		zap.Int("feeds", feeds), zap.Int("max_requests_per_minute", rpm), zap.Duration("idle_poll_interval", e.set.IdlePollInterval),
		zap.Duration("achievable_interval", achievable),
		zap.String("what_to_do", "raise max_requests_per_minute (GitLab.com allows 2,000 per user and minute), exclude feeds, or split the estate with collect::shard across replicas, each with its own token"))
}

func minTime(a, b time.Time) time.Time {
	if b.IsZero() || a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
