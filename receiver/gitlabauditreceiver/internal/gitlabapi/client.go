// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/tick"
)

// maxPageBytes bounds one API answer. A page of 100 events is far smaller.
const maxPageBytes = 64 << 20

// TimeFormat is how created_after and created_before are sent: UTC with milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Options configure a Client.
type Options struct {
	HTTPClient *http.Client
	// BaseURL is the GitLab base URL (scheme and host, no path).
	BaseURL *url.URL
	// Token is sent as PRIVATE-TOKEN, or as a bearer token when Bearer is set.
	Token  string
	Bearer bool
	// PerPage is the page size (1..100).
	PerPage int
	// RequestsPerMinute caps the requests of every feed together; 0 is no cap.
	RequestsPerMinute int
	// MaxConcurrent caps the requests in flight.
	MaxConcurrent int
	// BackOff is the retry policy for 5xx answers and transport errors.
	BackOff configretry.BackOffConfig
	Logger  *zap.Logger
	// OnResponse is called after every request attempt with the HTTP status
	// (0 when no answer came).
	OnResponse func(t Target, status int)
	// OnRateLimited is called when GitLab answers 429.
	OnRateLimited func(t Target, wait time.Duration)
	// Clock learns GitLab's clock from every answer; default a Clock on
	// time.Now.
	Clock *Clock
}

// Client reads audit event feeds. It is safe for concurrent use: every
// feed shares its request budget, concurrency limit and rate-limit pauses.
type Client struct {
	opts    Options
	limiter *rate.Limiter
	sem     chan struct{}

	pauses     *pauses
	hedge      *hedger
	mu         sync.Mutex
	offsetOnly map[string]bool // feeds and listings (by Target.String) whose instance refused keyset pagination
}

// New returns a Client.
func New(opts Options) *Client {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.MaxConcurrent < 1 {
		opts.MaxConcurrent = 1
	}
	if opts.Clock == nil {
		opts.Clock = NewClock(nil)
	}
	var timeout time.Duration
	if opts.HTTPClient != nil {
		timeout = opts.HTTPClient.Timeout
	}
	c := &Client{opts: opts, sem: make(chan struct{}, opts.MaxConcurrent), pauses: newPauses(), hedge: newHedger(timeout), offsetOnly: map[string]bool{}}
	if opts.RequestsPerMinute > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(float64(opts.RequestsPerMinute)/60), 1)
	}
	return c
}

// Clock returns the estimate of GitLab's clock the client keeps.
func (c *Client) Clock() *Clock { return c.opts.Clock }

// Window is the created_at range of one read, both bounds inclusive as in GitLab.
type Window struct {
	After, Before time.Time
}

// Pager walks the pages of one window of one feed, newest events first.
type Pager struct {
	c      *Client
	feed   Feed
	window Window
	query  url.Values // next request; nil when the walk is over
	keyset bool
	pages  int
	// first is the walk's first answer, shared with the pagers Resume
	// gives: when the first page failed, a part's answer is the walk's
	// first.
	first *firstAnswer
	// failFast: a page that fails in a way a shorter time range may cure
	// (a timeout, a transport error, a 5xx) is not retried: the caller
	// reads the rest of the window in shorter windows instead (Resume).
	failFast bool
	// broken: the walk cannot go on (GitLab's pagination looped); every
	// later Next returns it, so the walk never looks finished.
	broken error
}

// ErrPaginationLoop: GitLab sent the same next page link twice. The walk
// cannot go on, and sending the request again does not help (not
// Transient): the poll fails, visibly, rather than end the window early
// and move the checkpoint past the events it did not read.
var ErrPaginationLoop = errors.New("GitLab sent the same next page link twice")

// Pages starts a walk over the window of a feed.
func (c *Client) Pages(feed Feed, w Window) *Pager {
	keyset := !c.isOffsetOnly(feed.String())
	return &Pager{c: c, feed: feed, window: w, query: c.firstQuery(w, keyset), keyset: keyset, first: new(firstAnswer)}
}

func (c *Client) firstQuery(w Window, keyset bool) url.Values {
	q := url.Values{}
	q.Set("created_after", w.After.UTC().Format(TimeFormat))
	q.Set("created_before", w.Before.UTC().Format(TimeFormat))
	q.Set("per_page", strconv.Itoa(c.opts.PerPage))
	if keyset {
		q.Set("pagination", "keyset")
		q.Set("order_by", "id")
		q.Set("sort", "desc")
	} else {
		q.Set("page", "1")
	}
	return q
}

// Pages returns how many pages were read so far.
func (p *Pager) Pages() int { return p.pages }

// Window returns the window the pager walks.
func (p *Pager) Window() Window { return p.window }

// SetFailFast makes a page that fails with a transient error (a timeout, a
// transport error, a 5xx) fail at once instead of being retried with the
// client's back-off: for a window the caller can read again in shorter
// windows, a retry of the same long range is the slowest choice (GitLab's
// audit queries slow down as the range grows). Rate limits are still
// waited for.
func (p *Pager) SetFailFast(on bool) { p.failFast = on }

// Resume returns a pager over w, a part of the window, that continues the
// walk after the pages already read: with keyset pagination, the cursor of
// the next page applies to any created_at range, because GitLab
// paginates the filtered relation by the cursor's keys alone
// (config/initializers/active_record_keyset_pagination.rb:
// keyset_paginate(cursor:) on the finder's scope;
// lib/gitlab/pagination/keyset/paginator.rb), so the pagers Resume gives
// for windows that cover p's window together read exactly the events p had
// still to read. ok is false with offset pagination, whose page numbers
// mean nothing in another range: the window must then be read again.
func (p *Pager) Resume(w Window) (next *Pager, ok bool) {
	if !p.keyset || p.broken != nil {
		return nil, false
	}
	q := p.c.firstQuery(w, true)
	if p.query != nil {
		if cursor := p.query.Get("cursor"); cursor != "" {
			q.Set("cursor", cursor)
		}
	} else if p.pages > 0 {
		return nil, false // the walk is over: nothing left to resume
	}
	return &Pager{c: p.c, feed: p.feed, window: w, query: q, keyset: true, failFast: p.failFast, first: p.first}, true
}

// FirstAnswer returns the Date of the walk's first answer (of this pager's
// pages, or of those of the pagers Resume gave for it): GitLab's clock
// read at least this when it started answering the walk, so every event
// created up to then that GitLab had committed was visible to it and to
// every later page. Zero before any answer, or when GitLab sent no Date.
func (p *Pager) FirstAnswer() time.Time { return p.first.date }

// firstAnswer is the Date of a walk's first answer, once it came.
type firstAnswer struct {
	date     time.Time
	answered bool
}

// Next returns the body of the next page (a JSON array), or ok=false at
// the end of the window.
func (p *Pager) Next(ctx context.Context) (body string, ok bool, err error) {
	if p.broken != nil {
		return "", false, p.broken
	}
	if p.query == nil {
		return "", false, nil
	}
	header, body, err := p.c.do(ctx, request{url: apiURL(p.c.opts.BaseURL, p.feed.Path(), p.query), to: FeedTarget(p.feed), failFast: p.failFast})
	if err != nil {
		if p.keyset && p.pages == 0 && refusesKeyset(err) {
			p.c.setOffsetOnly(p.feed.String())
			p.c.opts.Logger.Warn("GitLab refused keyset pagination; reading this feed with offset pagination (deprecated by GitLab since 17.8)",
				zap.String("feed", p.feed.String()), zap.Error(err))
			first, failFast := p.first, p.failFast
			*p = *p.c.Pages(p.feed, p.window)
			p.first, p.failFast = first, failFast
			return p.Next(ctx)
		}
		return "", false, err
	}
	if !p.first.answered {
		*p.first = firstAnswer{date: answerDate(header), answered: true}
	}
	p.pages++
	current := p.query.Encode()
	p.query = nil
	if next := linkNext(header.Get("Link")); next != nil && (!p.keyset || next.Get("cursor") != "") {
		p.query = next
	} else if np := header.Get("X-Next-Page"); np != "" {
		// Offset pagination, or an old instance that ignored pagination=keyset.
		if p.keyset {
			p.c.setOffsetOnly(p.feed.String())
			p.c.opts.Logger.Warn("GitLab ignored keyset pagination; reading this feed with offset pagination (deprecated by GitLab since 17.8)",
				zap.String("feed", p.feed.String()))
			p.keyset = false
		}
		q := p.c.firstQuery(p.window, false)
		q.Set("page", np)
		p.query = q
	}
	if p.query != nil && p.query.Encode() == current {
		p.broken = fmt.Errorf("%w for the %s audit events", ErrPaginationLoop, p.feed)
		return "", false, p.broken
	}
	return body, true, nil
}

// apiURL builds a request URL from an escaped API path. The path keeps a
// full path's "/" encoded as %2F, as GitLab requires: RawPath carries the
// encoded form.
func apiURL(base *url.URL, escapedPath string, q url.Values) string {
	u := *base
	escaped := strings.TrimSuffix(u.EscapedPath(), "/") + escapedPath
	decoded, err := url.PathUnescape(escaped)
	if err != nil {
		decoded = escaped
	}
	u.Path, u.RawPath = decoded, escaped
	u.RawQuery = q.Encode()
	return u.String()
}

// refusesKeyset reports whether err is how an old instance refuses keyset pagination.
func refusesKeyset(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	if ae.Status == http.StatusMethodNotAllowed {
		return true
	}
	msg := strings.ToLower(ae.Message)
	return ae.Status == http.StatusBadRequest && (strings.Contains(msg, "keyset") || strings.Contains(msg, "pagination"))
}

func (c *Client) isOffsetOnly(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offsetOnly[name]
}

func (c *Client) setOffsetOnly(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offsetOnly[name] = true
}

// request is one request: a page of a feed or of a listing, the lookup of
// one object (GET), or a GraphQL query (POST, body).
type request struct {
	url  string
	to   Target
	body []byte // a POST's JSON body; nil for a GET
	// failFast: transient failures are returned at once (Pager.SetFailFast).
	failFast bool
	// hedge: the second copy of a stalled request (hedge.go), which does
	// not wait for a concurrency slot: the stalled one holds its slot.
	hedge bool
}

func (c *Client) observe(r request, status int) {
	if c.opts.OnResponse != nil {
		c.opts.OnResponse(r.to, status)
	}
}

// do performs one GET with the shared budget, rate-limit pauses and retries.
func (c *Client) do(ctx context.Context, r request) (http.Header, string, error) {
	bo := c.newBackOff()
	start := time.Now()
	for {
		header, body, sent, err := c.send(ctx, r)
		if err == nil {
			return header, body, nil
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		if errors.Is(err, ErrPaused) || errors.Is(err, ErrBudgetExhausted) {
			return nil, "", err // the caller's time box cannot wait that long: retrying cannot help
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
			now := time.Now()
			all := throttleAll(header)
			wait := c.pauses.limited(r.to.pauseKey(), all, retryAfter(header, now), c.initialPause(), sent, now)
			if c.opts.OnRateLimited != nil {
				c.opts.OnRateLimited(r.to, wait)
			}
			paused := "requests of its kind"
			if all {
				paused = "every request"
			}
			c.opts.Logger.Info("GitLab rate limit reached; "+paused+" wait", zap.String("request", r.to.String()),
				zap.String("class", string(r.to.Class)), zap.Duration("wait", wait))
			continue
		}
		if !Transient(err) || !c.opts.BackOff.Enabled || r.failFast {
			return nil, "", err
		}
		wait := bo.NextBackOff()
		if c.opts.BackOff.MaxElapsedTime > 0 && time.Since(start)+wait > c.opts.BackOff.MaxElapsedTime {
			return nil, "", fmt.Errorf("giving up after %s of retries: %w", c.opts.BackOff.MaxElapsedTime, err)
		}
		c.opts.Logger.Debug("GitLab request failed; retrying", zap.String("request", r.to.String()), zap.Duration("wait", wait), zap.Error(err))
		if err := tick.Sleep(ctx, wait); err != nil {
			return nil, "", err
		}
	}
}

// initialPause is the first pause after a 429 that names no wait.
func (c *Client) initialPause() time.Duration {
	if d := c.opts.BackOff.InitialInterval; d > 0 {
		return d
	}
	return 5 * time.Second
}

func (c *Client) newBackOff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	cfg := c.opts.BackOff
	if cfg.InitialInterval > 0 {
		b.InitialInterval = cfg.InitialInterval
	}
	if cfg.MaxInterval > 0 {
		b.MaxInterval = cfg.MaxInterval
	}
	if cfg.Multiplier > 0 {
		b.Multiplier = cfg.Multiplier
	}
	b.RandomizationFactor = cfg.RandomizationFactor
	b.Reset()
	return b
}

// attempt sends one request. On a non-2xx answer it returns the response
// headers and an *APIError. sent, when not nil, is called once the
// request has its turn (rate-limit pauses, budget, concurrency) and goes
// out; sentAt is when it went out (on the clock of the rate-limit pauses),
// zero when it did not.
func (c *Client) attempt(ctx context.Context, r request, sent func()) (_ http.Header, _ string, sentAt time.Time, _ error) {
	if err := c.waitTurn(ctx, r.to.pauseKey()); err != nil {
		return nil, "", sentAt, err
	}
	if !r.hedge {
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, "", sentAt, ctx.Err()
		}
		defer func() { <-c.sem }()
	}

	method, body := http.MethodGet, io.Reader(http.NoBody)
	if r.body != nil {
		method, body = http.MethodPost, bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.url, body)
	if err != nil {
		return nil, "", sentAt, err
	}
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.opts.Token != "" {
		if c.opts.Bearer {
			req.Header.Set("Authorization", "Bearer "+c.opts.Token)
		} else {
			req.Header.Set("PRIVATE-TOKEN", c.opts.Token)
		}
	}
	if sent != nil {
		sent()
	}
	local, sentAt := c.opts.Clock.Local(), time.Now()
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		c.observe(r, 0)
		return nil, "", sentAt, fmt.Errorf("requesting %s: %w", r.to.what(), redactURLError(err))
	}
	defer resp.Body.Close()
	c.opts.Clock.Observe(resp.Header.Get("Date"), local, c.opts.Clock.Local())
	c.observe(r, resp.StatusCode)
	c.noteQuota(resp.Header)
	if resp.StatusCode != http.StatusTooManyRequests {
		c.pauses.answered(r.to.pauseKey())
	}

	var sb strings.Builder
	if resp.ContentLength > 0 && resp.ContentLength < maxPageBytes {
		sb.Grow(int(resp.ContentLength))
	}
	n, err := io.Copy(&sb, io.LimitReader(resp.Body, maxPageBytes+1))
	if err != nil {
		return resp.Header, "", sentAt, fmt.Errorf("reading %s: %w", r.to.what(), err)
	}
	if n > maxPageBytes {
		return resp.Header, "", sentAt, fmt.Errorf("the answer for %s is larger than %d bytes", r.to.what(), maxPageBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.Header, "", sentAt, &APIError{Target: r.to, Status: resp.StatusCode, Message: errorMessage([]byte(sb.String()))}
	}
	c.hedge.answered(r.to.Class, time.Since(sentAt))
	return resp.Header, sb.String(), sentAt, nil
}

// waitTurn waits for the rate-limit pauses of key (and of every request)
// to end, and for the request budget. When ctx has a deadline the wait
// cannot meet, it returns ErrPaused or ErrBudgetExhausted at once rather
// than wait in vain.
func (c *Client) waitTurn(ctx context.Context, key string) error {
	for {
		until := c.pauses.end(key)
		wait := time.Until(until)
		if wait <= 0 {
			break
		}
		if d, ok := ctx.Deadline(); ok && d.Before(until) {
			return fmt.Errorf("%w for %s", ErrPaused, wait.Round(time.Second))
		}
		if err := tick.Sleep(ctx, wait); err != nil {
			return err
		}
	}
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			if ctx.Err() == nil {
				return fmt.Errorf("%w: %w", ErrBudgetExhausted, err)
			}
			return err
		}
	}
	return nil
}

// noteQuota pauses every request until the reset when GitLab's throttle
// says no request is left.
func (c *Client) noteQuota(h http.Header) {
	if h.Get("RateLimit-Remaining") != "0" {
		return
	}
	reset, err := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64)
	if err != nil {
		return
	}
	now := time.Now()
	if d := time.Unix(reset, 0).Sub(now); d > 0 {
		c.pauses.limited(allRequests, true, min(d, time.Hour), 0, now, now)
	}
}

// linkNext returns the query of the rel="next" link, or nil. Only the query
// is used: the link's host is GitLab's external URL, which may not be the
// address the receiver reaches GitLab at.
func linkNext(header string) url.Values {
	for _, part := range strings.Split(header, ",") {
		segs := strings.Split(part, ";")
		if len(segs) < 2 {
			continue
		}
		isNext := false
		for _, s := range segs[1:] {
			s = strings.TrimSpace(s)
			if s == `rel="next"` || s == "rel=next" {
				isNext = true
			}
		}
		if !isNext {
			continue
		}
		raw := strings.TrimSpace(segs[0])
		raw = strings.TrimSuffix(strings.TrimPrefix(raw, "<"), ">")
		u, err := url.Parse(raw)
		if err != nil {
			return nil
		}
		return u.Query()
	}
	return nil
}

// redactURLError drops the URL of a transport error's message; it holds no
// secret, but the query is long and says nothing useful.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
