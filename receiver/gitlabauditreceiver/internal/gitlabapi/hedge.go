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

// Hedged pages. GitLab's answers have a long tail that has nothing to do
// with the request: a Puma worker that stalls, a replica that lags, a
// query that waits on a lock. Waiting for such an answer until the
// request times out (30 s by default) stalls the feed for as long; asking
// again after the timeout is the slowest choice. So when a page of an
// audit event feed is still unanswered after hedgeFactor times the median
// answer time of the client's recent requests (at least hedgeMin, at most
// half the request timeout), the same request is sent once more, and the
// first answer wins: the other request is cancelled. Hedges are paid from
// a budget of one per hedgeEvery requests, so a GitLab that is slow
// everywhere gets at most that share of requests more (and every hedge
// waits for the request budget and the concurrency limit like any other
// request). See "The Tail at Scale" (Dean and Barroso, CACM 2013), whose
// "hedged requests" this is.
const (
	hedgeFactor = 4
	hedgeMin    = time.Second
	// hedgeSamples answer times are kept; below hedgeMinSamples the
	// median means little, and the hedge waits a quarter of the timeout.
	hedgeSamples    = 32
	hedgeMinSamples = 3
	// hedgeEvery requests earn one hedge; hedgeBurst hedges can be saved.
	hedgeEvery = 4
	hedgeBurst = 8
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

// delay is how long a page may stay unanswered before it is hedged.
func (h *hedger) delay() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	ceiling := h.timeout / 2
	if h.timeout <= 0 {
		ceiling = 15 * time.Second
	}
	if h.n < hedgeMinSamples {
		return min(ceiling, max(hedgeMin, ceiling/2))
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
	err    error
}

// send makes one attempt of r; a page of an audit event feed is hedged
// (see above).
func (c *Client) send(ctx context.Context, r request) (http.Header, string, error) {
	if r.to.Class != ClassAuditEvents {
		return c.attempt(ctx, r)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the slower attempt, if any, is given up
	answers := make(chan answer, 2)
	try := func() {
		h, b, err := c.attempt(ctx, r)
		answers <- answer{h, b, err}
	}
	go try()
	timer := time.NewTimer(c.hedge.delay())
	defer timer.Stop()
	select {
	case a := <-answers:
		return a.header, a.body, a.err
	case <-timer.C:
	case <-ctx.Done():
		a := <-answers
		return a.header, a.body, a.err
	}
	if !c.hedge.take() {
		a := <-answers
		return a.header, a.body, a.err
	}
	c.opts.Logger.Debug("GitLab has not answered a page yet; sending the same request again", zap.String("request", r.to.String()))
	go try()
	first := <-answers
	if first.err == nil {
		return first.header, first.body, nil
	}
	second := <-answers
	if second.err == nil {
		return second.header, second.body, nil
	}
	return first.header, first.body, first.err
}
