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
	window     int64 // nanoseconds
	windowText string
	clones     bool // mass download: count git clones and fetches
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

// hit is one counted event. key identifies what was hit (a repository, a
// deleted project) for rules that count distinct things; it is empty when
// every event counts.
type hit struct {
	key string
	at  int64
}

func newWindowRule(meta *ruleMeta, kind windowKind, cfg WindowsConfig) *windowRule {
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
		w.clones = cfg.MassDownload.IncludeGitClones
	case windowMassDeletion:
		w.threshold, d = cfg.MassDeletion.Count, cfg.MassDeletion.Window
	case windowTokenBurst:
		w.threshold, d = cfg.TokenBurst.Count, cfg.TokenBurst.Window
	default:
	}
	w.window = int64(d)
	w.windowText = shortDuration(d)
	return w
}

// observe feeds one event of the rule's types and reports whether it
// completes the pattern.
func (w *windowRule) observe(e *event) (bool, string) {
	switch w.kind {
	case windowBruteForce:
		author := accountKey(e)
		if !author.known() {
			return false, ""
		}
		if w.failures[e.typ] {
			w.count(author, "", e.eventTime(), "")
			return false, ""
		}
		return w.success(author, e.eventTime())
	case windowMassDownload:
		if e.typ == "repository_git_operation" && (!w.clones || !strings.Contains(e.message(), "git-upload-pack")) {
			return false, ""
		}
		return w.count(authorKey(e), firstNonEmpty(e.str(fieldEntityPath), e.str(fieldTargetID)), e.eventTime(),
			"distinct repositories downloaded, exported or cloned")
	case windowMassDeletion:
		return w.count(authorKey(e), firstNonEmpty(e.str(fieldTargetDetails), e.str(fieldTargetID), e.str(fieldEntityPath)), e.eventTime(),
			"distinct projects or groups deleted or scheduled for deletion")
	case windowTokenBurst:
		if hasPrefixFold(strings.TrimSpace(e.message()), "attempted to create") {
			return false, ""
		}
		return w.count(authorKey(e), "", e.eventTime(), "tokens created")
	default:
		return false, ""
	}
}

// count records a hit and reports whether the author reached the
// threshold within the window ending at the event. what describes the
// hits for the note; an empty what never fires (brute-force failures).
func (w *windowRule) count(author actor, key string, at int64, what string) (bool, string) {
	if !author.known() {
		return false, ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expireOldest(at)
	st := w.state(author, true)
	st.add(strings.ToLower(key), at, w.window, w.threshold)
	if what == "" {
		return false, ""
	}
	if n := st.within(at-w.window, at); n >= w.threshold {
		return true, fmt.Sprintf("%d %s by this author within %s", n, what, w.windowText)
	}
	return false, ""
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
