// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

func TestTransientAndTimedOut(t *testing.T) {
	timeout := &url.Error{Op: "Get", URL: "x", Err: &net.OpError{Op: "read", Err: timeoutErr{}}}
	for _, tt := range []struct {
		name               string
		err                error
		transient, timeout bool
	}{
		{"nil", nil, false, false},
		{"client timeout", fmt.Errorf("requesting: %w", timeout), true, true},
		{"deadline", context.DeadlineExceeded, true, true},
		{"canceled", context.Canceled, false, false},
		{"connection refused", errors.New("connection refused"), true, false},
		{"500", &APIError{Status: 500}, true, false},
		{"503", &APIError{Status: 503}, true, false},
		{"408", &APIError{Status: http.StatusRequestTimeout}, true, false},
		{"403", &APIError{Status: 403}, false, false},
		{"429", &APIError{Status: 429}, false, false},
		{"paused", ErrPaused, false, false},
		{"budget", ErrBudgetExhausted, false, false},
		{"pagination loop", fmt.Errorf("%w for the instance audit events", ErrPaginationLoop), false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.transient, Transient(tt.err))
			assert.Equal(t, tt.timeout, TimedOut(tt.err))
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// Resume continues a keyset walk after the pages read, in other created_at
// ranges: the pagers for ranges that cover the window read exactly the
// events the walk had still to read.
func TestPagerResumeReadsTheRestInOtherRanges(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	sim := gitlabsim.New(gitlabsim.Options{Now: func() time.Time { return now }, Seed: 5,
		Tokens: map[string]gitlabsim.Token{listingToken: {UserID: 1, Admin: true}}})
	t.Cleanup(func() { _ = sim.Close() })
	sim.Populate(2, 4)
	sim.GenerateWith(gitlabsim.GenerateOptions{Count: 1000, From: now.Add(-3 * time.Hour), To: now.Add(-time.Minute), NoStream: true, SavedOnly: true})
	c := listingClient(t, sim)
	feed := Feed{Kind: KindInstance}
	w := Window{After: now.Add(-4 * time.Hour), Before: now}
	ctx := context.Background()

	ids := func(body string) []int64 {
		var evs []struct{ ID int64 }
		require.NoError(t, json.Unmarshal([]byte(body), &evs))
		out := make([]int64, len(evs))
		for i, e := range evs {
			out[i] = e.ID
		}
		return out
	}
	all := map[int64]int{}
	p := c.Pages(feed, w)
	for range 3 {
		body, ok, err := p.Next(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		for _, id := range ids(body) {
			all[id]++
		}
	}
	mid := w.After.Add(90 * time.Minute)
	for _, part := range []Window{{After: mid, Before: w.Before}, {After: w.After, Before: mid}} {
		next, ok := p.Resume(part)
		require.True(t, ok)
		assert.Equal(t, part, next.Window())
		for {
			body, ok, err := next.Next(ctx)
			require.NoError(t, err)
			if !ok {
				break
			}
			for _, id := range ids(body) {
				all[id]++
			}
		}
	}
	assert.Len(t, all, 1000, "every event")
	for id, n := range all {
		assert.Equal(t, 1, n, "event %d read %d times", id, n)
	}
}

// A fail-fast pager returns a 5xx at once; another is retried.
func TestPagerFailFast(t *testing.T) {
	for _, failFast := range []bool{true, false} {
		t.Run(fmt.Sprint(failFast), func(t *testing.T) {
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				calls++
				if calls == 1 {
					http.Error(w, `{"message":"500 Internal Server Error"}`, http.StatusInternalServerError)
					return
				}
				_, _ = w.Write([]byte("[]"))
			}))
			t.Cleanup(srv.Close)
			base, _ := url.Parse(srv.URL)
			bo := configretry.NewDefaultBackOffConfig()
			bo.InitialInterval = time.Millisecond
			c := New(Options{HTTPClient: srv.Client(), BaseURL: base, PerPage: 100, BackOff: bo})
			p := c.Pages(Feed{Kind: KindInstance}, Window{After: time.Unix(0, 0), Before: time.Unix(3600, 0)})
			p.SetFailFast(failFast)
			_, _, err := p.Next(context.Background())
			if failFast {
				assert.True(t, Transient(err), "%v", err)
				assert.Equal(t, 1, calls)
				body, ok, err := p.Next(context.Background()) // the same page again
				require.NoError(t, err)
				assert.True(t, ok)
				assert.Equal(t, "[]", body)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, 2, calls)
		})
	}
}

// Offset walks cannot be resumed in another range.
func TestPagerResumeOffset(t *testing.T) {
	c := New(Options{BaseURL: &url.URL{Scheme: "http", Host: "127.0.0.1"}, PerPage: 100})
	c.setOffsetOnly(Feed{Kind: KindInstance}.String())
	p := c.Pages(Feed{Kind: KindInstance}, Window{After: time.Unix(0, 0), Before: time.Unix(3600, 0)})
	_, ok := p.Resume(Window{After: time.Unix(0, 0), Before: time.Unix(60, 0)})
	assert.False(t, ok)
}

func TestHedgeDelayAndBudget(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		name    string
		timeout time.Duration
		samples []time.Duration
		want    time.Duration
	}{
		{"no answers yet", 30 * time.Second, nil, hedgeCold},
		{"too few answers", 30 * time.Second, []time.Duration{100 * ms, 100 * ms}, hedgeCold},
		{"twice the median", 30 * time.Second, []time.Duration{300 * ms, 410 * ms, 250 * ms, 400 * ms, 350 * ms}, 700 * ms},
		{"one slow answer does not move it", 30 * time.Second, append(slices.Repeat([]time.Duration{300 * ms}, 31), 5*time.Second), 600 * ms},
		{"the 95th percentile of a long tail", 30 * time.Second, append(slices.Repeat([]time.Duration{300 * ms}, 28), slices.Repeat([]time.Duration{2 * time.Second}, 4)...), 2 * time.Second},
		{"at least the floor", 30 * time.Second, []time.Duration{2 * ms, 3 * ms, 1 * ms}, hedgeMin},
		{"at most half the timeout", 30 * time.Second, []time.Duration{8 * time.Second, 9 * time.Second, 10 * time.Second}, 15 * time.Second},
		{"short timeout", 500 * ms, nil, 250 * ms},
		{"no timeout", 0, nil, hedgeCold},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHedger(tt.timeout)
			for _, d := range tt.samples {
				h.answered(ClassAuditEvents, d)
			}
			assert.Equal(t, tt.want, h.delay(ClassAuditEvents))
		})
	}

	h := newHedger(time.Second)
	clock := time.Unix(1000, 0)
	h.now = func() time.Time { return clock }
	spent := 0
	for h.take() {
		spent++
	}
	assert.Equal(t, hedgeBurst/2, spent, "a few hedges at start")
	for range 2 * hedgeEvery { // every class's answers earn for all
		h.answered(ClassLookups, time.Millisecond)
		h.answered(ClassAuditEvents, time.Millisecond)
	}
	assert.True(t, h.take())
	assert.True(t, h.take())
	assert.True(t, h.take())
	assert.True(t, h.take())
	assert.False(t, h.take(), "one hedge per %d answers", hedgeEvery)
	// Nothing answered (every request in flight stalls): the trickle pays.
	clock = clock.Add(time.Second / hedgeTrickle / 2)
	assert.False(t, h.take())
	clock = clock.Add(time.Second / hedgeTrickle / 2)
	assert.True(t, h.take(), "%v a second whatever is answered", hedgeTrickle)
	assert.False(t, h.take())
	clock = clock.Add(time.Hour)
	spent = 0
	for h.take() {
		spent++
	}
	assert.Equal(t, hedgeBurst, spent, "saved up to the burst")
}

// Each class of request has its delay from its own answer times: quick
// lookups do not make feed pages, which take longer, look stalled, and a
// class without answers of its own waits the cold delay.
func TestHedgeDelayPerClass(t *testing.T) {
	h := newHedger(30 * time.Second)
	for range hedgeSamples {
		h.answered(ClassLookups, 20*time.Millisecond)
	}
	for range 4 {
		h.answered(ClassAuditEvents, 2*time.Second)
	}
	assert.Equal(t, hedgeMin, h.delay(ClassLookups))
	assert.Equal(t, 4*time.Second, h.delay(ClassAuditEvents), "twice the pages' median, not the lookups'")
	assert.Equal(t, hedgeCold, h.delay(ClassListings), "no answers of its own yet")
}

// Pages that take their usual time are never sent twice, however quick
// the lookups between them are: with one set of answer times for every
// class, 32 lookups answered at once put the delay at its floor (250 ms),
// and 300 ms pages were hedged (the old code sent 8 requests for these 5
// pages).
func TestPagesNotHedgedForQuickLookups(t *testing.T) {
	const pageTime = 300 * time.Millisecond
	var pages, lookups atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/audit_events") {
			pages.Add(1)
			select {
			case <-time.After(pageTime):
			case <-r.Context().Done():
				return
			}
			_, _ = w.Write([]byte("[]"))
			return
		}
		lookups.Add(1)
		_, _ = w.Write([]byte(`{"id":1}`))
	}))
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	client := srv.Client()
	client.Timeout = 30 * time.Second
	c := New(Options{HTTPClient: client, BaseURL: base, PerPage: 100, MaxConcurrent: 4})
	for range hedgeSamples {
		_, err := c.Lookup(context.Background(), "user", "/users/1", nil)
		require.NoError(t, err)
	}
	const n = hedgeMinSamples + 2 // the last two after the pages' own delay is learnt
	for range n {
		_, ok, err := c.Pages(Feed{Kind: KindInstance}, Window{After: time.Unix(0, 0), Before: time.Unix(3600, 0)}).Next(context.Background())
		require.NoError(t, err)
		assert.True(t, ok)
	}
	assert.Equal(t, int32(n), pages.Load(), "each page sent once")
	assert.Equal(t, int32(hedgeSamples), lookups.Load())
}

// A page that stalls is sent again after the hedge delay, and the first
// answer wins; the stalled request is given up.
func TestHedgedPage(t *testing.T) {
	var calls atomic.Int32
	gaveUp := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 4 { // the first page after three answers stalls
			<-r.Context().Done()
			gaveUp <- struct{}{}
			return
		}
		_, _ = w.Write([]byte("[]"))
	}))
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	client := srv.Client()
	client.Timeout = 4 * time.Second // the hedge waits for its floor
	p := warmPages(t, New(Options{HTTPClient: client, BaseURL: base, PerPage: 100, MaxConcurrent: 2}))
	start := time.Now()
	body, ok, err := p().Next(context.Background())
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "[]", body)
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, hedgeMin)
	assert.Less(t, took, client.Timeout, "answered by the hedge, not after the timeout")
	assert.Equal(t, int32(5), calls.Load())
	select {
	case <-gaveUp:
	case <-time.After(5 * time.Second):
		t.Fatal("the stalled request was not given up")
	}
}

// A request sent before any answer is known starts with the cold delay
// (hedgeCold); when answers come back while it stalls, it is hedged after
// what they tell, not after hedgeCold: the first pages of every feed go
// out together at start. The delay is read again every hedgeMin, so
// answers that come after its first reading count too (the old code read
// it once more only, at hedgeMin, and then waited for hedgeCold).
func TestHedgeDelayLearntWhileWaiting(t *testing.T) {
	for _, tt := range []struct {
		name string
		// answerIn is how long the other requests take.
		answerIn time.Duration
	}{
		{"answers at once: hedged at the floor", 0},
		{"answers after the first reading", hedgeMin + 50*time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			arrived := make(chan time.Time, 8)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived <- time.Now()
				if calls.Add(1) == 1 { // the first request stalls
					<-r.Context().Done()
					return
				}
				time.Sleep(tt.answerIn)
				_, _ = w.Write([]byte("[]"))
			}))
			t.Cleanup(srv.Close)
			base, _ := url.Parse(srv.URL)
			client := srv.Client()
			client.Timeout = 4 * time.Second
			c := New(Options{HTTPClient: client, BaseURL: base, PerPage: 100, MaxConcurrent: 4})
			pages := func() *Pager {
				return c.Pages(Feed{Kind: KindInstance}, Window{After: time.Unix(0, 0), Before: time.Unix(3600, 0)})
			}
			stalled := make(chan error, 1)
			go func() {
				_, _, err := pages().Next(context.Background())
				stalled <- err
			}()
			first := <-arrived
			var wg sync.WaitGroup
			for range hedgeMinSamples { // together, as the feeds at start
				wg.Go(func() {
					_, _, err := pages().Next(context.Background())
					assert.NoError(t, err)
				})
			}
			wg.Wait()
			for range hedgeMinSamples {
				<-arrived
			}
			require.NoError(t, <-stalled)
			// Arrival times at the server: the first request arrives a
			// little after the client's delay started counting.
			hedgedAfter := (<-arrived).Sub(first)
			assert.GreaterOrEqual(t, hedgedAfter, hedgeMin*9/10)
			assert.Less(t, hedgedAfter, hedgeCold, "hedged after the learnt delay, not the cold one")
			assert.Equal(t, int32(hedgeMinSamples+2), calls.Load())
		})
	}
}

// A pager whose next page link repeats stays broken: every later Next
// returns the error (a walk that looked finished would end the window
// early), and it cannot be resumed in other ranges.
func TestPagerPaginationLoop(t *testing.T) {
	p := failFastPager(t, func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		q.Set("cursor", "A")
		w.Header().Set("Link", fmt.Sprintf(`<http://%s%s?%s>; rel="next"`, req.Host, req.URL.Path, q.Encode()))
		_, _ = w.Write([]byte("[]"))
	})
	_, ok, err := p.Next(context.Background())
	require.NoError(t, err)
	require.True(t, ok)
	for range 2 {
		_, ok, err = p.Next(context.Background())
		require.ErrorIs(t, err, ErrPaginationLoop)
		assert.False(t, ok)
		assert.False(t, Transient(err), "sending it again does not help")
	}
	_, ok = p.Resume(p.Window())
	assert.False(t, ok)
}

// The walk's first answer bounds how far the checkpoint may move (GitLab's
// clock when it started answering). When the first page fails and the
// window is read in parts (Resume), the first part's answer is the walk's
// first; a later answer never replaces it.
func TestPagerFirstAnswerAfterResume(t *testing.T) {
	dates := []time.Time{time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 10, 5, 0, 0, time.UTC)}
	calls := 0
	p := failFastPager(t, func(w http.ResponseWriter, _ *http.Request) {
		calls++
		if calls == 1 {
			http.Error(w, `{"message":"500 Internal Server Error"}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Date", dates[min(calls-2, 1)].Format(http.TimeFormat))
		_, _ = w.Write([]byte("[]"))
	})
	w := p.Window()
	_, _, err := p.Next(context.Background())
	require.Error(t, err)
	assert.True(t, p.FirstAnswer().IsZero())

	for _, part := range []Window{{After: w.After, Before: time.Unix(1800, 0)}, {After: time.Unix(1800, 0), Before: w.Before}} {
		next, ok := p.Resume(part)
		require.True(t, ok)
		_, ok, err = next.Next(context.Background())
		require.NoError(t, err)
		require.True(t, ok)
	}
	assert.Equal(t, 3, calls)
	assert.Equal(t, dates[0], p.FirstAnswer(), "the first part's answer, not the second's")
}

// A fail-fast page whose original request times out returns that timeout
// at once (the caller splits the range), not a copy's answer and not after
// the copies' own timeouts: a copy refused by a rate limit must not turn a
// range too long for GitLab into a rate-limit pause.
func TestHedgedFailFastPageReportsTheOriginal(t *testing.T) {
	for _, tt := range []struct {
		name string
		copy func(w http.ResponseWriter, r *http.Request)
	}{
		{"copies refused by a rate limit", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "Retry later", http.StatusTooManyRequests)
		}},
		{"copies stall too", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch n := calls.Add(1); {
				case n <= 3:
					_, _ = w.Write([]byte("[]"))
				case n == 4: // the original stalls past the timeout
					<-r.Context().Done()
				default:
					tt.copy(w, r)
				}
			}))
			t.Cleanup(srv.Close)
			base, _ := url.Parse(srv.URL)
			client := srv.Client()
			client.Timeout = 2 * time.Second
			bo := configretry.NewDefaultBackOffConfig()
			bo.InitialInterval = time.Millisecond
			page := warmPages(t, New(Options{HTTPClient: client, BaseURL: base, PerPage: 100, MaxConcurrent: 2, BackOff: bo}))()
			page.SetFailFast(true)
			start := time.Now()
			_, _, err := page.Next(context.Background())
			took := time.Since(start)
			require.Error(t, err)
			assert.True(t, TimedOut(err), "the original's timeout, not a copy's answer: %v", err)
			assert.GreaterOrEqual(t, calls.Load(), int32(5), "hedged")
			assert.Less(t, took, client.Timeout+time.Second, "returned when the original timed out")
		})
	}
}

// warmPages reads three pages of an hour of the instance feed, so that the
// hedge delay is learnt (its floor, for quick answers), and returns a
// maker of pagers over that hour.
func warmPages(t *testing.T, c *Client) func() *Pager {
	t.Helper()
	p := func() *Pager {
		return c.Pages(Feed{Kind: KindInstance}, Window{After: time.Unix(0, 0), Before: time.Unix(3600, 0)})
	}
	for range 3 {
		_, _, err := p().Next(context.Background())
		require.NoError(t, err)
	}
	return p
}

// failFastPager serves h and returns a fail-fast pager over an hour of the
// instance feed.
func failFastPager(t *testing.T, h http.HandlerFunc) *Pager {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	c := New(Options{HTTPClient: srv.Client(), BaseURL: base, PerPage: 100, BackOff: configretry.NewDefaultBackOffConfig()})
	p := c.Pages(Feed{Kind: KindInstance}, Window{After: time.Unix(0, 0), Before: time.Unix(3600, 0)})
	p.SetFailFast(true)
	return p
}
