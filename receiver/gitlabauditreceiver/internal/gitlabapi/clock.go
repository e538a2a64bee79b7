// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"net/http"
	"sync"
	"time"
)

// clockSamples is how many recent answers the skew estimate is made of.
// Enough to narrow the one-second resolution of the Date header down to
// the round trip, few enough that a stepped clock is forgotten quickly.
const clockSamples = 32

// Clock estimates GitLab's clock from the Date header of its answers, so
// that poll windows and checkpoints follow the time GitLab stamps events
// with, whatever the collector's clock says.
//
// The Date header has one-second resolution and is written somewhere
// between the moment the request was sent and the moment its answer
// arrived. Each answer therefore bounds the skew (GitLab's clock minus the
// collector's) to an interval:
//
//	Date - received  <=  skew  <  Date + 1s - sent
//
// The estimate is the intersection of the intervals of the recent answers.
// When they no longer intersect (one of the clocks was stepped), the older
// answers are forgotten.
type Clock struct {
	local func() time.Time

	mu      sync.Mutex
	samples []skewBounds // ring of the recent answers' bounds
	next    int
	cur     skewBounds // intersection of samples
	known   bool
}

type skewBounds struct{ lo, hi time.Duration }

// NewClock returns a Clock reading the collector's time from local
// (time.Now when nil).
func NewClock(local func() time.Time) *Clock {
	if local == nil {
		local = time.Now
	}
	return &Clock{local: local, samples: make([]skewBounds, 0, clockSamples)}
}

// Local returns the collector's time.
func (c *Clock) Local() time.Time { return c.local() }

// Observe records the Date header of an answer to a request sent at sent
// and answered at received (both collector time). It reports whether the
// header could be read.
func (c *Clock) Observe(date string, sent, received time.Time) bool {
	if date == "" {
		return false
	}
	d, err := http.ParseTime(date)
	if err != nil {
		return false
	}
	if received.Before(sent) {
		sent, received = received, sent
	}
	b := skewBounds{lo: d.Sub(received), hi: d.Add(time.Second).Sub(sent)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) < clockSamples {
		c.samples = append(c.samples, b)
	} else {
		c.samples[c.next] = b
	}
	c.next = (c.next + 1) % clockSamples
	cur := b
	consistent := true
	for _, s := range c.samples {
		cur.lo, cur.hi = max(cur.lo, s.lo), min(cur.hi, s.hi)
		if cur.lo >= cur.hi {
			consistent = false
			break
		}
	}
	if !consistent {
		// A clock was stepped: only the newest answer still holds.
		c.samples = append(c.samples[:0], b)
		c.next = 1 % clockSamples
		cur = b
	}
	c.cur, c.known = cur, true
	return true
}

// Skew returns the estimated skew (GitLab's clock minus the collector's)
// and its uncertainty (half the width of the interval it lies in); ok is
// false until an answer with a Date header was seen.
func (c *Clock) Skew() (skew, uncertainty time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known {
		return 0, 0, false
	}
	return (c.cur.lo + c.cur.hi) / 2, (c.cur.hi - c.cur.lo) / 2, true
}

// Now returns the earliest time GitLab's clock can read now: the
// collector's time plus the lower bound of the skew. A window that ends at
// or before it never reaches into GitLab's future. Before any answer it is
// the collector's time, and ok is false.
func (c *Clock) Now() (now time.Time, ok bool) {
	local := c.local()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known {
		return local, false
	}
	return local.Add(c.cur.lo), true
}

// answerDate returns the Date header of an answer: the earliest time
// GitLab's clock read when it answered. Zero when absent or unreadable.
func answerDate(h http.Header) time.Time {
	if h == nil {
		return time.Time{}
	}
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return d
}
