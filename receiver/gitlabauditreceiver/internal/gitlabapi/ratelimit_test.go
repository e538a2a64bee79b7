// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
)

// limitedServer answers GET /users/:id with 429 (header-less, as GitLab's
// application limits do before its newest release,
// lib/api/helpers/rate_limiter.rb; or with Rack::Attack's headers when
// throttleAll) and the audit event feed with an empty page.
func limitedServer(t *testing.T, throttleAll bool) (*Client, *atomic.Int32, *atomic.Int32) {
	t.Helper()
	var users, feeds atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v4/users/1":
			users.Add(1)
			if throttleAll {
				w.Header().Set("RateLimit-Name", "throttle_authenticated_api")
				w.Header().Set("RateLimit-Limit", "600")
				w.Header().Set("Retry-After", "30")
			}
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"message":{"error":"This endpoint has been requested too many times. Try again later."}}`))
		case "/api/v4/audit_events":
			feeds.Add(1)
			_, _ = w.Write([]byte(`[]`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	backOff := configretry.NewDefaultBackOffConfig()
	backOff.InitialInterval = 5 * time.Second
	var limited atomic.Int32
	c := New(Options{HTTPClient: srv.Client(), BaseURL: base, Token: "t", PerPage: 100, MaxConcurrent: 2, BackOff: backOff,
		OnRateLimited: func(Target, time.Duration) { limited.Add(1) }})
	return c, &users, &feeds
}

// TestApplicationLimitPausesOnlyItsClass: a header-less 429 on author
// lookups pauses the lookups of users, not the feeds, and a lookup while
// paused is not sent.
func TestApplicationLimitPausesOnlyItsClass(t *testing.T) {
	c, users, feeds := limitedServer(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Lookup(ctx, "user", "/users/1", nil)
	require.ErrorIs(t, err, ErrPaused, "the pause outlasts the lookup's time box")
	assert.Equal(t, int32(1), users.Load())

	start := time.Now()
	w := Window{After: time.Now().Add(-time.Hour), Before: time.Now()}
	_, _, err = c.Pages(Feed{Kind: KindInstance}, w).Next(context.Background())
	require.NoError(t, err)
	assert.Less(t, time.Since(start), time.Second, "the feed does not wait for the lookups' pause")
	assert.Equal(t, int32(1), feeds.Load())

	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	_, err = c.Lookup(ctx2, "user", "/users/1", nil)
	require.ErrorIs(t, err, ErrPaused)
	assert.Equal(t, int32(1), users.Load(), "not sent while paused")
	ctx3, cancel3 := context.WithTimeout(context.Background(), time.Second)
	defer cancel3()
	_, err = c.Lookup(ctx3, "ci_variable", "/projects/1/variables/X", nil)
	assert.True(t, IsStatus(err, http.StatusNotFound), "another kind of lookup is not paused: %v", err)
}

// TestThrottlePausesEveryRequest: Rack::Attack's throttle counts every
// request of the user (lib/gitlab/rack_attack.rb; it names itself in
// RateLimit-Name): a 429 from it pauses the feeds too.
func TestThrottlePausesEveryRequest(t *testing.T) {
	c, _, feeds := limitedServer(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Lookup(ctx, "user", "/users/1", nil)
	require.ErrorIs(t, err, ErrPaused)
	fctx, fcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer fcancel()
	w := Window{After: time.Now().Add(-time.Hour), Before: time.Now()}
	_, _, err = c.Pages(Feed{Kind: KindInstance}, w).Next(fctx)
	require.True(t, errors.Is(err, ErrPaused) || errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.Zero(t, feeds.Load(), "the feed waits for the throttle's 30 s")
}

// TestUntoldPausesGrow: a 429 without a named wait pauses from the initial
// interval, doubling with each one in a row, with jitter, up to 10
// minutes; GitLab's word (Retry-After) is taken as it is; a request that
// passes starts the count again.
func TestUntoldPausesGrow(t *testing.T) {
	p := newPauses()
	now := time.Now()
	var waits []time.Duration
	for range 9 {
		sent := now
		now = now.Add(time.Millisecond) // each request sent after the last 429: one more in a row
		waits = append(waits, p.limited("lookups:user", false, 0, 5*time.Second, sent, now))
	}
	for i, w := range waits {
		want := min(5*time.Second<<i, maxUntoldPause)
		assert.GreaterOrEqual(t, w, want*3/4, "pause %d", i)
		assert.Less(t, w, want*5/4, "pause %d", i)
	}
	assert.Equal(t, 600*time.Second, p.limited("lookups:user", false, 600*time.Second, 5*time.Second, now, now), "Retry-After as GitLab says it")
	assert.True(t, p.end("lookups:user").After(now.Add(9*time.Minute)))
	assert.False(t, p.end("audit_events").After(now), "other classes are not paused")
	p.answered("lookups:user")
	w := p.limited("lookups:user", false, 0, 5*time.Second, now, now.Add(time.Millisecond))
	assert.Less(t, w, 7*time.Second, "after a request passed, the pauses start small again")
}

// TestBurstRefusedTogetherIsOneStrike: the requests already sent when
// GitLab's first header-less 429 came (concurrent author lookups of a
// batch of events) are refused too; they are the same refusal, not 429s
// in a row, and do not double the pause each (which made a batch of 9
// lookups pause the lookups 2^8 times the initial interval).
func TestBurstRefusedTogetherIsOneStrike(t *testing.T) {
	t.Run("pauses", func(t *testing.T) {
		p := newPauses()
		sent := time.Now()
		first := p.limited("lookups:user", false, 0, 5*time.Second, sent, sent.Add(time.Millisecond))
		for i := range 8 {
			w := p.limited("lookups:user", false, 0, 5*time.Second, sent, sent.Add(time.Duration(2+i)*time.Millisecond))
			assert.LessOrEqual(t, w, first, "a request sent before the first 429 does not lengthen the pause")
		}
		assert.Less(t, p.end("lookups:user").Sub(sent), 7*time.Second)
		// The retry after the pause is the next in a row.
		after := p.end("lookups:user")
		w := p.limited("lookups:user", false, 0, 5*time.Second, after, after.Add(time.Millisecond))
		assert.GreaterOrEqual(t, w, 10*time.Second*3/4, "doubled")
	})

	t.Run("client", func(t *testing.T) {
		// GitLab holds the lookups until both connection slots are busy,
		// then refuses both.
		const slots = 2
		var arrived atomic.Int32
		both := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if arrived.Add(1) == slots {
				close(both)
			}
			select {
			case <-both:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"message":{"error":"This endpoint has been requested too many times. Try again later."}}`))
		}))
		t.Cleanup(srv.Close)
		base, _ := url.Parse(srv.URL)
		backOff := configretry.NewDefaultBackOffConfig()
		backOff.InitialInterval = 5 * time.Second
		c := New(Options{HTTPClient: srv.Client(), BaseURL: base, Token: "t", PerPage: 100, MaxConcurrent: slots, BackOff: backOff})
		start := time.Now()
		errs := make(chan error, slots)
		for i := range slots {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_, err := c.Lookup(ctx, "user", "/users/"+strconv.Itoa(i+1), nil)
				errs <- err
			}()
		}
		for range slots {
			require.ErrorIs(t, <-errs, ErrPaused)
		}
		assert.Equal(t, int32(slots), arrived.Load())
		assert.Less(t, c.pauses.end("lookups:user").Sub(start), 5*time.Second*5/4+time.Second,
			"one strike: the initial pause, not twice it")
	})
}
