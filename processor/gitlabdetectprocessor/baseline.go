// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// Per-author baselines of the windowed rules GLD-101, GLD-102 and GLD-103.
//
// For every author, a baseline remembers the highest count the rule saw in
// one window on each day, over the last baseline.days days, by event time.
// Counts are grouped in episodes: an episode is a run of the author's
// events that lasts at most one window and has no gap longer than one
// window. When an episode ends its peak is added to the day it started on.
// The current episode is not part of the author's history, so a burst is
// compared with what came before it, never with itself.
//
// A baseline is safe for concurrent use.
type baseline struct {
	days       int32
	factor     float64
	maxAuthors int

	mu      sync.Mutex
	authors map[actor]*list.Element
	lru     *list.List // of *authorBaseline, most recently seen first
	changed bool       // since the last save
}

// authorBaseline is what a baseline remembers of one author.
type authorBaseline struct {
	author actor
	peaks  []dayPeak // ascending by day, within the last days
	// the open episode
	epStart, epLast int64 // event times, Unix nanoseconds; 0: none
	epPeak          int
}

// dayPeak is the highest window count of an author on one day (days since
// the Unix epoch, UTC).
type dayPeak struct {
	day  int32
	peak int
}

const nanosPerDay = int64(24 * time.Hour)

func dayOf(at int64) int32 { return int32(at / nanosPerDay) }

func newBaseline(cfg BaselineConfig) *baseline {
	return &baseline{
		days:       int32(cfg.Days),
		factor:     cfg.Factor,
		maxAuthors: cfg.MaxAuthors,
		authors:    map[actor]*list.Element{},
		lru:        list.New(),
	}
}

// observe records that the author's count within the window ending at
// the event is n, and returns the author's usual peak before the current
// episode and whether the author has any history within baseline.days.
func (b *baseline) observe(a actor, at int64, n int, window int64) (usual int, history bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.state(a)
	if st.epLast != 0 && (at-st.epLast > window || at-st.epStart > window) {
		st.addPeak(dayOf(st.epStart), st.epPeak)
		st.epStart, st.epLast, st.epPeak = 0, 0, 0
	}
	if st.epStart == 0 {
		st.epStart = at
	}
	if at > st.epLast {
		st.epLast = at
	}
	if n > st.epPeak {
		st.epPeak = n
	}
	b.changed = true
	from := dayOf(at) - b.days
	drop := 0
	for drop < len(st.peaks) && st.peaks[drop].day < from {
		drop++
	}
	if drop > 0 {
		st.peaks = append(st.peaks[:0], st.peaks[drop:]...)
	}
	for _, p := range st.peaks {
		if p.day <= dayOf(at) {
			history = true
			if p.peak > usual {
				usual = p.peak
			}
		}
	}
	return usual, history
}

// exceeds reports whether n is beyond the usual peak by the margin.
func (b *baseline) exceeds(n, usual int) bool {
	return float64(n) > float64(usual)*b.factor
}

func (st *authorBaseline) addPeak(day int32, peak int) {
	for i := range st.peaks {
		if st.peaks[i].day == day {
			if peak > st.peaks[i].peak {
				st.peaks[i].peak = peak
			}
			return
		}
	}
	i := sort.Search(len(st.peaks), func(i int) bool { return st.peaks[i].day > day })
	st.peaks = append(st.peaks, dayPeak{})
	copy(st.peaks[i+1:], st.peaks[i:])
	st.peaks[i] = dayPeak{day: day, peak: peak}
}

// state returns the author's state, creating it and forgetting the author
// seen least recently when the baseline is full.
func (b *baseline) state(a actor) *authorBaseline {
	if el, ok := b.authors[a]; ok {
		b.lru.MoveToFront(el)
		return el.Value.(*authorBaseline)
	}
	for b.lru.Len() >= b.maxAuthors {
		oldest := b.lru.Back()
		b.lru.Remove(oldest)
		delete(b.authors, oldest.Value.(*authorBaseline).author)
	}
	a.name = strings.Clone(a.name)
	st := &authorBaseline{author: a}
	b.authors[a] = b.lru.PushFront(st)
	return st
}

// storedAuthor is the stored form of an author's baseline. The stored
// state is this processor's own JSON: numbers and author names only.
type storedAuthor struct {
	ID      int64      `json:"id,omitempty"`
	Name    string     `json:"name,omitempty"`
	Peaks   [][2]int64 `json:"peaks,omitempty"` // [day, peak]
	EpStart int64      `json:"ep_start,omitempty"`
	EpLast  int64      `json:"ep_last,omitempty"`
	EpPeak  int        `json:"ep_peak,omitempty"`
}

// marshal returns the baseline as stored, least recently seen author
// first, so that loading restores the recency order. It reports false when
// nothing changed since the last call.
func (b *baseline) marshal() ([]byte, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.changed {
		return nil, false, nil
	}
	out := make([]storedAuthor, 0, b.lru.Len())
	for el := b.lru.Back(); el != nil; el = el.Prev() {
		st := el.Value.(*authorBaseline)
		sa := storedAuthor{ID: st.author.id, Name: st.author.name, EpStart: st.epStart, EpLast: st.epLast, EpPeak: st.epPeak}
		for _, p := range st.peaks {
			sa.Peaks = append(sa.Peaks, [2]int64{int64(p.day), int64(p.peak)})
		}
		out = append(out, sa)
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, false, err
	}
	b.changed = false
	return raw, true, nil
}

// unmarshal restores a stored baseline.
func (b *baseline) unmarshal(raw []byte) error {
	var in []storedAuthor
	if err := json.Unmarshal(raw, &in); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sa := range in {
		a := actor{id: sa.ID, name: sa.Name}
		if !a.known() {
			continue
		}
		st := b.state(a)
		st.epStart, st.epLast, st.epPeak = sa.EpStart, sa.EpLast, sa.EpPeak
		st.peaks = st.peaks[:0]
		for _, p := range sa.Peaks {
			st.addPeak(int32(p[0]), int(p[1]))
		}
	}
	return nil
}

// automationReason says why the author of an event is treated as
// automation (a service account, a bot, a deploy token or key), or "".
func automationReason(e *event, accounts map[string]struct{}) string {
	switch c := e.str(fieldAuthorClass); c {
	case "DeployToken", "DeployKey":
		return "author class " + c
	}
	if v, ok := e.value(fieldAuthorID); ok {
		if id, ok := parseInt(v); ok && id <= 0 {
			return "author id " + auditevent.Text(v)
		}
	}
	if v, ok := e.attrs.Get(auditevent.AttrAuthorBot); ok {
		if bot, ok := parseBool(v); ok && bot {
			return "bot user"
		}
	}
	if v, ok := e.attrs.Get(auditevent.AttrAuthorUserType); ok {
		if t := strings.ToLower(auditevent.ScalarText(v)); t != "" && t != "human" {
			return "user type " + t
		}
	}
	if len(accounts) > 0 {
		for _, f := range [...]auditevent.Field{fieldAuthorName, fieldAuthorID} {
			if s := e.str(f); s != "" {
				if _, ok := accounts[strings.ToLower(s)]; ok {
					return "listed in automation.accounts"
				}
			}
		}
	}
	return ""
}

// baselineKey is the storage key of a rule's baselines.
func baselineKey(ruleID string) string { return "baseline/" + ruleID }

// geoProfilesKey is the storage key of the users' places (geo.go).
const geoProfilesKey = "baseline/geo"

// loadBaselines restores the baselines of the windowed rules from storage.
// A baseline that cannot be read is started empty, with a warning: it is
// learnt again from the events.
func (p *detectProcessor) loadBaselines(ctx context.Context) {
	for _, w := range p.windows {
		if w.base == nil {
			continue
		}
		raw, err := p.store.Get(ctx, baselineKey(w.meta.id))
		if err != nil {
			p.logger.Warn("Cannot read the stored baseline; it is learnt again from the events.", zap.String("rule", w.meta.id), zap.Error(err))
			continue
		}
		if raw == nil {
			continue
		}
		if err := w.base.unmarshal(raw); err != nil {
			p.logger.Warn("The stored baseline is unreadable; it is learnt again from the events.", zap.String("rule", w.meta.id), zap.Error(err))
		}
	}
	if p.geoProfiles == nil {
		return
	}
	raw, err := p.store.Get(ctx, geoProfilesKey)
	switch {
	case err != nil:
		p.logger.Warn("Cannot read the stored places of users; they are learnt again from the events.", zap.Error(err))
	case raw != nil:
		if err := p.geoProfiles.unmarshal(raw); err != nil {
			p.logger.Warn("The stored places of users are unreadable; they are learnt again from the events.", zap.Error(err))
		}
	}
}

// saveBaselines writes the baselines that changed since the last save.
func (p *detectProcessor) saveBaselines(ctx context.Context) error {
	var errs []error
	for _, w := range p.windows {
		if w.base == nil {
			continue
		}
		raw, changed, err := w.base.marshal()
		if err == nil && changed {
			err = p.store.Set(ctx, baselineKey(w.meta.id), raw)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w.meta.id, err))
		}
	}
	if p.geoProfiles != nil {
		raw, changed, err := p.geoProfiles.marshal()
		if err == nil && changed {
			err = p.store.Set(ctx, geoProfilesKey, raw)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("geo places: %w", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("saving baselines: %v", errs)
	}
	return nil
}
