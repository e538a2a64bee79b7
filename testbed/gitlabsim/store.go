// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"math"
	"slices"
	"sort"
)

// feedKind selects which index an event is listed in.
type feedKind uint8

const (
	feedAll feedKind = iota + 1 // every saved event (the instance feed)
	feedUser
	feedGroup
	feedProject
	feedInstance
)

// anyID is the id of the per-kind feeds (entity_type filter without entity_id).
const anyID int64 = math.MinInt64

// feedKey names one index. author is only meaningful when byAuthor is set.
type feedKey struct {
	kind     feedKind
	id       int64
	byAuthor bool
	author   int64
}

func kindOf(entityType string) feedKind {
	switch entityType {
	case EntityUser:
		return feedUser
	case EntityGroup:
		return feedGroup
	case EntityProject:
		return feedProject
	case EntityInstance:
		return feedInstance
	}
	return 0
}

// feed is an index: runs of store positions, each run in ascending id order
// with non-decreasing created_at, so both a created_at window and an id bound
// are found by binary search. Events arrive in id order; one whose created_at
// is older than the tail of every run (a late commit) opens a new run.
type feed struct {
	runs [][]int32
}

func (f *feed) add(pos int32, created []int64) {
	c := created[pos]
	for i, r := range f.runs {
		if created[r[len(r)-1]] <= c {
			f.runs[i] = append(r, pos)
			return
		}
	}
	f.runs = append(f.runs, []int32{pos})
}

// store holds the saved events in id order. Position p holds id firstID+p.
type store struct {
	firstID int64
	events  []StoredEvent
	created []int64 // created_at in Unix microseconds, by position
	feeds   map[feedKey]*feed
}

func newStore(firstID int64) *store {
	return &store{firstID: firstID, feeds: map[feedKey]*feed{}}
}

func (st *store) nextID() int64 { return st.firstID + int64(len(st.events)) }

// grow makes room for n more events.
func (st *store) grow(n int) {
	st.events = slices.Grow(st.events, n)
	st.created = slices.Grow(st.created, n)
}

// append stores a saved event whose ID is nextID() and indexes it.
func (st *store) append(se StoredEvent) {
	pos := int32(len(st.events))
	st.events = append(st.events, se)
	st.created = append(st.created, se.CreatedAt.UnixMicro())
	kind := kindOf(se.Entity.Type)
	st.index(feedKey{kind: feedAll}, pos)
	if kind != 0 {
		st.index(feedKey{kind: kind, id: anyID}, pos)
		st.index(feedKey{kind: kind, id: se.Entity.ID}, pos)
		if kind == feedGroup || kind == feedProject {
			st.index(feedKey{kind: kind, id: se.Entity.ID, byAuthor: true, author: se.AuthorID}, pos)
		}
	}
}

func (st *store) index(k feedKey, pos int32) {
	f := st.feeds[k]
	if f == nil {
		f = &feed{}
		st.feeds[k] = f
	}
	f.add(pos, st.created)
}

// byID returns the position of an id.
func (st *store) byID(id int64) (int32, bool) {
	p := id - st.firstID
	if p < 0 || p >= int64(len(st.events)) {
		return 0, false
	}
	return int32(p), true
}

// window is an inclusive created_at range in Unix microseconds.
type window struct {
	after, before int64
}

var fullWindow = window{after: math.MinInt64, before: math.MaxInt64}

// view is the set of events a request can see: id-sorted segments of runs,
// already cut to the created_at window.
type view struct {
	segs  [][]int32
	total int
}

func (st *store) view(keys []feedKey, w window) view {
	var v view
	for _, k := range keys {
		f := st.feeds[k]
		if f == nil {
			continue
		}
		for _, r := range f.runs {
			lo := sort.Search(len(r), func(i int) bool { return st.created[r[i]] >= w.after })
			hi := sort.Search(len(r), func(i int) bool { return st.created[r[i]] > w.before })
			if lo < hi {
				v.segs = append(v.segs, r[lo:hi])
				v.total += hi - lo
			}
		}
	}
	return v
}

// contains reports whether the view holds position p.
func (v view) contains(p int32) bool {
	for _, s := range v.segs {
		i := sort.Search(len(s), func(i int) bool { return s[i] >= p })
		if i < len(s) && s[i] == p {
			return true
		}
	}
	return false
}

// below returns up to n positions lower than limit (exclusive), highest first.
func (v view) below(limit int32, n int) []int32 {
	if n <= 0 {
		return nil
	}
	idx := make([]int, len(v.segs)) // next candidate index in each segment, -1 when exhausted
	for i, s := range v.segs {
		idx[i] = sort.Search(len(s), func(j int) bool { return s[j] >= limit }) - 1
	}
	out := make([]int32, 0, min(n, v.total))
	for len(out) < n {
		best := -1
		for i, s := range v.segs {
			if idx[i] >= 0 && (best < 0 || s[idx[i]] > v.segs[best][idx[best]]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		out = append(out, v.segs[best][idx[best]])
		idx[best]--
	}
	return out
}

// countAtLeast counts positions >= p.
func (v view) countAtLeast(p int32) int {
	n := 0
	for _, s := range v.segs {
		n += len(s) - sort.Search(len(s), func(i int) bool { return s[i] >= p })
	}
	return n
}

// offset returns up to n positions after skipping the skip highest ones.
func (v view) offset(skip, n int) []int32 {
	if skip >= v.total || n <= 0 {
		return nil
	}
	if len(v.segs) == 1 {
		s := v.segs[0]
		out := make([]int32, 0, min(n, len(s)-skip))
		for i := len(s) - 1 - skip; i >= 0 && len(out) < n; i-- {
			out = append(out, s[i])
		}
		return out
	}
	// The (skip+1)-th highest position is the largest p with countAtLeast(p) > skip.
	lo, hi := int32(0), int32(0)
	for _, s := range v.segs {
		hi = max(hi, s[len(s)-1])
	}
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if v.countAtLeast(mid) > skip {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return v.below(lo+1, n)
}
