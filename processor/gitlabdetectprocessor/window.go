// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"container/list"
	"fmt"
	"strings"
	"sync"
	"time"
)

// windowRule is a stateful rule over a sliding window of event time, kept
// per author. Time is the record's Timestamp (GitLab's created_at), not the
// wall clock, so replays and backfills behave as live traffic. Memory is
// bounded: at most maxAuthors authors are tracked (the one seen least
// recently is forgotten first), and at most threshold hits per author.
// A windowRule is safe for concurrent use.
type windowRule struct {
	meta       *ruleMeta
	kind       windowKind
	threshold  int
	autoCount  int // threshold for automation accounts; 0: the same as threshold
	maxHits    int // hits kept per author: enough to count beyond both thresholds
	base       *baseline
	accounts   map[string]struct{} // automation.accounts, lower case
	window     int64               // nanoseconds
	windowText string
	clones     bool         // mass download: count git clones and fetches
	geo        *geoProfiles // geo rules: the users' places (geo.go)
	allow      *allowlist
	failures   map[string]bool // brute force: the failure event types
	maxAuthors int

	mu      sync.Mutex
	authors map[actor]*list.Element
	lru     *list.List // of *authorState, most recently seen first
	evicted uint64
}

// authorState is what a windowed rule remembers about one author.
type authorState struct {
	author actor
	hits   []hit // ascending by time, at most threshold entries
}

// actor identifies the author of an event: the GitLab user id when known,
// else the author's name in lower case.
type actor struct {
	id   int64
	name string
}

func (a actor) known() bool { return a.id > 0 || a.name != "" }

// verdict is what a windowed rule decides about one event.
type verdict struct {
	fire       bool   // tag the event at the rule's severity
	raise      bool   // one step above it
	suppressed string // "" or why the event is tagged LOW instead: reasonBaseline, reasonAutomation
	note       string
}

// Reasons a windowed rule keeps an event below its severity.
const (
	reasonBaseline   = "baseline"
	reasonAutomation = "automation"
)

// hit is one counted event. key identifies what was hit (a repository, a
// deleted project) for rules that count distinct things; it is empty when
// every event counts.
type hit struct {
	key string
	at  int64
}

func newWindowRule(meta *ruleMeta, kind windowKind, cfg WindowsConfig, base BaselineConfig, accounts map[string]struct{}) *windowRule {
	w := &windowRule{
		meta:       meta,
		kind:       kind,
		maxAuthors: cfg.MaxTrackedAuthors,
		authors:    map[actor]*list.Element{},
		lru:        list.New(),
	}
	var d time.Duration
	switch kind {
	case windowBruteForce:
		w.threshold, d = cfg.BruteForce.Failures, cfg.BruteForce.Window
		w.failures = map[string]bool{}
		for _, t := range loginFailureTypes {
			w.failures[t] = true
		}
	case windowMassDownload:
		w.threshold, d = cfg.MassDownload.Count, cfg.MassDownload.Window
		w.autoCount = cfg.MassDownload.AutomationCount
		w.clones = cfg.MassDownload.IncludeGitClones
	case windowMassDeletion:
		w.threshold, d = cfg.MassDeletion.Count, cfg.MassDeletion.Window
		w.autoCount = cfg.MassDeletion.AutomationCount
	case windowTokenBurst:
		w.threshold, d = cfg.TokenBurst.Count, cfg.TokenBurst.Window
		w.autoCount = cfg.TokenBurst.AutomationCount
	default:
	}
	w.maxHits = w.threshold
	if kind != windowBruteForce && !kind.geo() {
		if w.autoCount < w.threshold {
			w.autoCount = w.threshold
		}
		w.accounts = accounts
		// Counts go up to maxHits: far enough beyond the thresholds for a
		// baseline to tell a burst from an author's usual peak.
		w.maxHits = baselineHeadroom * w.autoCount
		if base.Enabled {
			w.base = newBaseline(base)
		}
	}
	w.window = int64(d)
	w.windowText = shortDuration(d)
	return w
}

// baselineHeadroom times the larger threshold is how far a windowed rule
// counts an author's hits: a burst is compared with a usual peak up to
// that count.
const baselineHeadroom = 4

// observe feeds one event of the rule's types and decides whether it
// completes the pattern.
func (w *windowRule) observe(e *event) verdict {
	switch w.kind {
	case windowBruteForce:
		author := accountKey(e)
		if !author.known() {
			return verdict{}
		}
		if w.failures[e.typ] {
			w.count(e, author, "", "")
			return verdict{}
		}
		ok, note := w.success(author, e.eventTime())
		return verdict{fire: ok, note: note}
	case windowMassDownload:
		if e.typ == "repository_git_operation" && (!w.clones || !strings.Contains(e.message(), "git-upload-pack")) {
			return verdict{}
		}
		return w.count(e, authorKey(e), firstNonEmpty(e.str(fieldEntityPath), e.str(fieldTargetID)),
			"distinct repositories downloaded, exported or cloned")
	case windowMassDeletion:
		return w.count(e, authorKey(e), firstNonEmpty(e.str(fieldTargetDetails), e.str(fieldTargetID), e.str(fieldEntityPath)),
			"distinct projects or groups deleted or scheduled for deletion")
	case windowTokenBurst:
		if hasPrefixFold(strings.TrimSpace(e.message()), "attempted to create") {
			return verdict{}
		}
		return w.count(e, authorKey(e), "", "tokens created")
	case windowNewCountry:
		return e.geoAssess(w.geo).newCountry
	case windowImpossibleTravel:
		return e.geoAssess(w.geo).travel
	case windowGeoSensitive:
		return e.geoAssess(w.geo).sensitive
	default:
		return verdict{}
	}
}

// geoAssess judges the event against its user's places once, for all the
// geo rules of its type (geo.go).
func (e *event) geoAssess(g *geoProfiles) geoVerdicts {
	if !e.geoDone {
		e.geoDone = true
		e.geo = g.assess(e)
	}
	return e.geo
}

// count records a hit and decides about the event: the rule fires when
// the author's count within the window ending at the event reaches the
// threshold (automation accounts: automation_count), and, with a baseline,
// the count also exceeds the author's usual peak by baseline.factor or the
// author has no history. A count that reaches the threshold but is kept
// below it by the baseline or the automation threshold is suppressed: the
// event is tagged LOW. what describes the hits for the note; an empty what
// never fires (brute-force failures).
func (w *windowRule) count(e *event, author actor, key string, what string) verdict {
	if !author.known() {
		return verdict{}
	}
	at := e.eventTime()
	w.mu.Lock()
	w.expireOldest(at)
	st := w.state(author, true)
	st.add(strings.ToLower(key), at, w.window, w.maxHits)
	n := st.within(at-w.window, at)
	w.mu.Unlock()
	if what == "" {
		return verdict{}
	}
	usual, history := 0, false
	if w.base != nil {
		usual, history = w.base.observe(author, at, n, w.window)
	}
	if n < w.threshold {
		return verdict{}
	}
	var note strings.Builder
	fmt.Fprintf(&note, "%d %s by this author within %s", n, what, w.windowText)
	beyond := true
	if w.base != nil {
		if history {
			fmt.Fprintf(&note, "; this author's usual peak is %d", usual)
			beyond = w.base.exceeds(n, usual)
		} else {
			note.WriteString("; no history for this author")
		}
	}
	threshold := w.threshold
	if why := automationReason(e, w.accounts); why != "" {
		threshold = w.autoCount
		fmt.Fprintf(&note, "; automation account (%s), threshold %d", why, threshold)
		if n < threshold && history && beyond && w.base != nil {
			// A burst beyond the account's own baseline alerts below the
			// automation threshold.
			return verdict{fire: true, note: note.String()}
		}
	}
	switch {
	case n < threshold:
		note.WriteString("; kept at LOW: below the automation threshold")
		return verdict{suppressed: reasonAutomation, note: note.String()}
	case !beyond:
		fmt.Fprintf(&note, "; kept at LOW: not above the usual peak × %g", w.base.factor)
		return verdict{suppressed: reasonBaseline, note: note.String()}
	}
	return verdict{fire: true, note: note.String()}
}

// success handles a successful sign-in: it fires when enough failures
// precede it within the window, and then forgets them.
func (w *windowRule) success(author actor, at int64) (bool, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expireOldest(at)
	el, ok := w.authors[author]
	if !ok {
		return false, ""
	}
	st := el.Value.(*authorState)
	n := st.within(at-w.window, at)
	if n < w.threshold {
		return false, ""
	}
	w.lru.Remove(el)
	delete(w.authors, author)
	return true, fmt.Sprintf("%d failed sign-ins within %s before this successful sign-in", n, w.windowText)
}

// state returns the author's state, creating it (and evicting the least
// recently seen author when the rule is full) if asked to.
func (w *windowRule) state(author actor, create bool) *authorState {
	if el, ok := w.authors[author]; ok {
		w.lru.MoveToFront(el)
		return el.Value.(*authorState)
	}
	if !create {
		return nil
	}
	for w.lru.Len() >= w.maxAuthors {
		oldest := w.lru.Back()
		w.lru.Remove(oldest)
		delete(w.authors, oldest.Value.(*authorState).author)
		w.evicted++
	}
	// The name may be a substring of a large decoded request: keep a copy.
	author.name = strings.Clone(author.name)
	st := &authorState{author: author}
	w.authors[author] = w.lru.PushFront(st)
	return st
}

// expireOldest forgets the least recently seen author when all its hits
// left the window: a cheap, incremental clean-up so that idle authors do
// not wait for eviction.
func (w *windowRule) expireOldest(now int64) {
	if el := w.lru.Back(); el != nil {
		st := el.Value.(*authorState)
		if len(st.hits) == 0 || st.hits[len(st.hits)-1].at < now-w.window {
			w.lru.Remove(el)
			delete(w.authors, st.author)
		}
	}
}

// tracked returns the number of authors the rule remembers.
func (w *windowRule) tracked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lru.Len()
}

// add inserts a hit in time order. A keyed hit replaces an earlier hit of
// the same key. Hits older than the window (relative to the newest hit)
// are dropped, then the oldest ones beyond max.
func (st *authorState) add(key string, at, window int64, maxHits int) {
	if key != "" {
		for i, h := range st.hits {
			if h.key == key {
				if h.at >= at {
					return
				}
				st.hits = append(st.hits[:i], st.hits[i+1:]...)
				break
			}
		}
		// The key may be a substring of a large decoded request: keep a copy.
		key = strings.Clone(key)
	}
	i := len(st.hits)
	for i > 0 && st.hits[i-1].at > at {
		i--
	}
	st.hits = append(st.hits, hit{})
	copy(st.hits[i+1:], st.hits[i:])
	st.hits[i] = hit{key: key, at: at}

	newest := st.hits[len(st.hits)-1].at
	drop := 0
	for drop < len(st.hits) && st.hits[drop].at < newest-window {
		drop++
	}
	if over := len(st.hits) - drop - maxHits; over > 0 {
		drop += over
	}
	if drop > 0 {
		st.hits = append(st.hits[:0], st.hits[drop:]...)
	}
}

// within counts the hits in [from, to].
func (st *authorState) within(from, to int64) int {
	n := 0
	for _, h := range st.hits {
		if h.at >= from && h.at <= to {
			n++
		}
	}
	return n
}

// authorKey identifies the author of an event: the GitLab user id when
// positive, else the author name (deploy keys, deploy tokens and
// unauthenticated authors have ids <= 0).
func authorKey(e *event) actor {
	if id, ok := e.int(fieldAuthorID); ok && id > 0 {
		return actor{id: id}
	}
	return actor{name: strings.ToLower(e.str(fieldAuthorName))}
}

// accountKey identifies the account a sign-in event is about: the author
// id when positive, else the targeted user's id (failed sign-ins of an
// unauthenticated author name the user as target), else the author name.
func accountKey(e *event) actor {
	if id, ok := e.int(fieldAuthorID); ok && id > 0 {
		return actor{id: id}
	}
	if e.str(fieldTargetType) == "User" {
		if id, ok := e.int(fieldTargetID); ok && id > 0 {
			return actor{id: id}
		}
	}
	return actor{name: strings.ToLower(e.str(fieldAuthorName))}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// shortDuration prints a duration without trailing zero units ("10m", "1h30m").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
