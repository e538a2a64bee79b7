// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Hedged requests. GitLab's answers have a long tail that has nothing to do
// with the request: a Puma worker that stalls, a replica that lags, a
// query that waits on a lock. Waiting for such an answer until the
// request times out (30 s by default) stalls the feed (or the check, or
// the lookup) for as long and holds one of max_concurrent_requests; asking
// again after the timeout is the slowest choice. So when a request is
// still unanswered after the hedge delay, the same request is sent once
// more (and again after each further delay, up to hedgeCopies in all), and
// the first answer wins: the others are cancelled. The delay is the longer
// of the 95th percentile of the recent answer times of requests of the
// same class (the point "The Tail at Scale" hedges at: about one request
// in twenty of a healthy GitLab is doubled) and hedgeFactor times their
// median (so that a GitLab whose answers all take about as long is not
// doubled for its ordinary jitter); at least hedgeMin, at most half the
// request timeout, hedgeCold before there are answers to tell. Each class
// (feed pages, listings, lookups, access checks, destinations) keeps its
// own answer times: a page is a filtered, ordered range query over the
// audit event tables, slower the deeper it goes (GitLab has an
// index-only-scan strategy for deep offset pages behind the feature flag
// audit_events_api_offset_optimization,
// ee/app/finders/audit_events/offset_optimization.rb), where a lookup
// reads one object by its id; with one set of times for all, quick
// lookups made every page that took its usual time look stalled, and
// pages were sent twice or more (TestPagesNotHedgedForQuickLookups). The
// budget below is shared: every hedge is more load on the same GitLab.
// The delay is read again every hedgeMin while a request waits: a request
// sent before the first answers came back waits for what they tell, not
// for hedgeCold, however long those answers took to come. Hedges are paid from
// a budget of one per hedgeEvery requests answered plus hedgeTrickle a
// second, so a GitLab that is slow everywhere gets at most that share of
// requests more and one a second; the trickle is what pays when every
// request in flight stalls at once (nothing is answered then, so nothing
// would be earned, and every feed would wait for the timeouts). A hedge
// waits for the request budget (max_requests_per_minute) like any other
// request, but not for a concurrency slot (max_concurrent_requests): the stalled
// request it doubles holds one, and when stalls hold every slot, waiting
// for one would stall every feed until the timeouts free them. See "The
// Tail at Scale" (Dean and Barroso, CACM 2013), whose "hedged requests"
// this is.
//
// Measured with gitlab-loadgen flaky (BENCHMARKS.md section 9: every ninth
// answer after the timeout, the others after 200 ms): three times the
// median (0.6 s there) with a 0.5 s floor made each stall cost three
// pages' time, and an unlucky feed with two stalled copies in a row ended
// the backlog at 2.0 to 2.2 times the healthy run's time; twice the
// median (0.4 s) brings the stalls' cost down by a third. With one answer
// in four after the timeout, hedges earned by answers alone ran out while
// every feed's request stalled, and the backlog took 55 to 80 times the
// healthy run's time (every feed waited for its timeout, then again); with
// the trickle and up to five copies (a request whose three copies all
// stalled waited for the timeout, one page in 64 at that share) it
// completes without waiting for a timeout.
const (
	hedgeFactor = 2
	hedgeMin    = 250 * time.Millisecond
	hedgeCold   = time.Second
	// hedgeSamples answer times are kept; below hedgeMinSamples the
	// median means little, and the hedge waits hedgeCold.
	hedgeSamples    = 32
	hedgeMinSamples = 3
	// hedgeEvery requests earn one hedge; hedgeBurst hedges can be saved.
	hedgeEvery = 4
	hedgeBurst = 8
	// hedgeTrickle hedges a second are earned whatever is answered.
	hedgeTrickle = 1.0
	// hedgeCopies is the most copies of one request: when a hedge stalls
	// too, one more is sent after another delay.
	hedgeCopies = 5
)

// hedger keeps the recent answer times of each class of request, and the
// hedge budget they share.
type hedger struct {
	timeout time.Duration // the request timeout; 0 when none

	now func() time.Time // time.Now; tests set it

	mu     sync.Mutex
	times  map[Class]*answerTimes
	budget float64   // hedges that may be sent now
	earned time.Time // when the trickle was last added to budget
}

// answerTimes are the last hedgeSamples answer times of one class.
type answerTimes struct {
	samples [hedgeSamples]time.Duration
	n       int // samples kept, up to hedgeSamples
	next    int // where the next sample goes
}

func newHedger(timeout time.Duration) *hedger {
	return &hedger{timeout: timeout, now: time.Now, times: map[Class]*answerTimes{}, budget: hedgeBurst / 2}
}

// answered records the time a successful request of class cl took, and
// earns budget.
func (h *hedger) answered(cl Class, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.times[cl]
	if t == nil {
		t = &answerTimes{}
		h.times[cl] = t
	}
	t.samples[t.next] = d
	t.next = (t.next + 1) % hedgeSamples
	t.n = min(t.n+1, hedgeSamples)
	h.budget = min(hedgeBurst, h.budget+1.0/hedgeEvery)
}

// delay is how long a request of class cl may stay unanswered before it
// is hedged.
func (h *hedger) delay(cl Class) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	ceiling := h.timeout / 2
	if h.timeout <= 0 {
		ceiling = 15 * time.Second
	}
	t := h.times[cl]
	if t == nil || t.n < hedgeMinSamples {
		return min(ceiling, hedgeCold)
	}
	s := slices.Clone(t.samples[:t.n])
	slices.Sort(s)
	median, p95 := s[len(s)/2], s[(len(s)-1)*95/100]
	return min(ceiling, max(hedgeMin, hedgeFactor*median, p95))
}

// take spends one hedge from the budget.
func (h *hedger) take() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if !h.earned.IsZero() {
		h.budget = min(hedgeBurst, h.budget+hedgeTrickle*now.Sub(h.earned).Seconds())
	}
	h.earned = now
	if h.budget < 1 {
		return false
	}
	h.budget--
	return true
}

// answer is what one attempt returned.
type answer struct {
	header http.Header
	body   string
	sentAt time.Time
	err    error
	copy   bool // a hedged copy's, not the original request's
}

// send makes one attempt of r, hedged (see above): every request the
// client makes reads, and may be sent up to hedgeCopies times.
func (c *Client) send(ctx context.Context, r request) (http.Header, string, time.Time, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the slower copies, if any, are given up
	answers := make(chan answer, hedgeCopies)
	out := make(chan struct{})
	go func() {
		h, b, at, err := c.attempt(ctx, r, func() { close(out) })
		answers <- answer{h, b, at, err, false}
	}()
	// The hedge delay counts from when the request went out, not from
	// when it started waiting for its turn.
	select {
	case a := <-answers:
		return a.header, a.body, a.sentAt, a.err
	case <-out:
	}
	// The delay is read again every hedgeMin (it may have been the cold
	// one, or answers may have moved it); last is when the latest copy
	// went out.
	last := time.Now()
	timer := time.NewTimer(min(c.hedge.delay(r.to.Class), hedgeMin))
	defer timer.Stop()
	pending, sent := 1, 1
	var failed *answer
	for {
		select {
		case a := <-answers:
			pending--
			if a.err == nil {
				return a.header, a.body, a.sentAt, nil
			}
			// The original's failure is the one to report: a copy's (a
			// 429 its burst drew, a pause or budget it could not wait
			// for) would hide what GitLab said of the request.
			if failed == nil || !a.copy {
				failed = &a
			}
			if !a.copy && r.failFast && TimedOut(a.err) {
				// A page that timed out says its range is too long: the
				// caller splits it at once; copies of the same range
				// would only time out later.
				return a.header, a.body, a.sentAt, a.err
			}
			if pending == 0 {
				return failed.header, failed.body, failed.sentAt, failed.err
			}
		case <-timer.C:
			if wait := c.hedge.delay(r.to.Class) - time.Since(last); wait > 0 {
				timer.Reset(min(wait, hedgeMin))
				continue
			}
			if sent == hedgeCopies {
				continue
			}
			if !c.hedge.take() {
				// The budget refills as other requests are answered.
				timer.Reset(hedgeMin)
				continue
			}
			c.opts.Logger.Debug("GitLab has not answered yet; sending the same request again",
				zap.String("request", r.to.String()), zap.Int("copy", sent+1))
			hedge := r
			hedge.hedge = true
			go func() {
				h, b, at, err := c.attempt(ctx, hedge, nil)
				answers <- answer{h, b, at, err, true}
			}()
			pending++
			sent++
			last = time.Now()
			timer.Reset(min(c.hedge.delay(r.to.Class), hedgeMin))
		}
	}
}
