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
// still unanswered after hedgeFactor times the median
// answer time of the client's recent requests (about the 95th percentile
// of a healthy GitLab's answer times; at least hedgeMin, at most half the
// request timeout; hedgeCold before there are answers to tell), the same
// request is sent once more (and once more again after another delay, up
// to hedgeCopies in all), and the first answer wins: the others are
// cancelled. Hedges are paid from
// a budget of one per hedgeEvery requests, so a GitLab that is slow
// everywhere gets at most that share of requests more. A hedge waits for
// the request budget (max_requests_per_minute) like any other request, but
// not for a concurrency slot (max_concurrent_requests): the stalled
// request it doubles holds one, and when stalls hold every slot, waiting
// for one would stall every feed until the timeouts free them. See "The Tail at Scale" (Dean and Barroso, CACM 2013), whose
// "hedged requests" this is.
const (
	hedgeFactor = 3
	hedgeMin    = 500 * time.Millisecond
	hedgeCold   = time.Second
	// hedgeSamples answer times are kept; below hedgeMinSamples the
	// median means little, and the hedge waits hedgeCold.
	hedgeSamples    = 32
	hedgeMinSamples = 3
	// hedgeEvery requests earn one hedge; hedgeBurst hedges can be saved.
	hedgeEvery = 4
	hedgeBurst = 8
	// hedgeCopies is the most copies of one request: when the first hedge
	// stalls too, one more is sent after another delay.
	hedgeCopies = 3
)

// hedger keeps the recent answer times and the hedge budget.
type hedger struct {
	timeout time.Duration // the request timeout; 0 when none

	mu      sync.Mutex
	samples [hedgeSamples]time.Duration
	n       int     // samples kept, up to hedgeSamples
	next    int     // where the next sample goes
	budget  float64 // hedges that may be sent now
}

func newHedger(timeout time.Duration) *hedger {
	return &hedger{timeout: timeout, budget: hedgeBurst / 2}
}

// answered records the time a successful request took, and earns budget.
func (h *hedger) answered(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples[h.next] = d
	h.next = (h.next + 1) % hedgeSamples
	h.n = min(h.n+1, hedgeSamples)
	h.budget = min(hedgeBurst, h.budget+1.0/hedgeEvery)
}

// delay is how long a request may stay unanswered before it is hedged.
func (h *hedger) delay() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	ceiling := h.timeout / 2
	if h.timeout <= 0 {
		ceiling = 15 * time.Second
	}
	if h.n < hedgeMinSamples {
		return min(ceiling, hedgeCold)
	}
	s := slices.Clone(h.samples[:h.n])
	slices.Sort(s)
	return min(ceiling, max(hedgeMin, hedgeFactor*s[len(s)/2]))
}

// take spends one hedge from the budget.
func (h *hedger) take() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
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
	delay := c.hedge.delay()
	timer := time.NewTimer(delay)
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
			if sent == hedgeCopies || !c.hedge.take() {
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
			timer.Reset(delay)
		}
	}
}
