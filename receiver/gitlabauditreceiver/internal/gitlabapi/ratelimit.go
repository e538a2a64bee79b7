// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GitLab answers 429 for two reasons, and they pause different requests:
//
//   - Its Rack::Attack throttles (lib/gitlab/rack_attack.rb) count every
//     request of a user (or address) and answer with RateLimit-Name,
//     RateLimit-Limit, RateLimit-Reset and Retry-After: every request waits.
//   - Its application limits (check_rate_limit!, lib/api/helpers/rate_limiter.rb;
//     lib/gitlab/application_rate_limiter.rb) count one endpoint per user,
//     e.g. users_get_by_id for GET /users/:id, group_projects_api for
//     GET /groups/:id/projects. They answer without RateLimit headers, and
//     without Retry-After before the newest GitLab, which sends the whole
//     interval (600 s for users_get_by_id). Only requests of the same kind
//     wait: a limit on author lookups must not stall the feeds.
//
// So a 429 pauses the class of the request that got it (each kind of lookup
// on its own), unless it carries Rack::Attack's headers. When GitLab says
// how long (Retry-After, RateLimit-Reset), the pause is that long; when it
// does not, it starts at the retry policy's initial interval and doubles
// with each 429 in a row, up to maxUntoldPause, with jitter so that
// several collectors do not come back together. Requests already sent (or
// waiting for a connection slot) when the first 429 came are answered 429
// too: they are the same refusal, not more in a row, and do not lengthen
// the pause.

// maxUntoldPause bounds a pause GitLab did not name: the longest window of
// its application limits is 10 minutes (users_get_by_id).
const maxUntoldPause = 10 * time.Minute

// allRequests is the pause key of a throttle that counts every request.
const allRequests = ""

// pauseKey is what a 429 of the target pauses.
func (t Target) pauseKey() string {
	if t.Class == ClassLookups {
		return string(ClassLookups) + ":" + t.Name
	}
	return string(t.Class)
}

// pauses holds the rate-limit pauses, by pause key.
type pauses struct {
	mu      sync.Mutex
	until   map[string]time.Time
	strikes map[string]int       // 429s in a row whose wait GitLab did not name
	struck  map[string]time.Time // when the last of them was counted
}

func newPauses() *pauses {
	return &pauses{until: map[string]time.Time{}, strikes: map[string]int{}, struck: map[string]time.Time{}}
}

// until returns when requests of key may go again.
func (p *pauses) end(key string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.until[allRequests]
	if k := p.until[key]; k.After(u) {
		u = k
	}
	return u
}

// limited records at now a 429 for key, to a request sent at sent, and
// returns how long requests wait: told when GitLab named it, else a
// growing pause from initial. A request sent before the last 429 of key
// was counted is part of that refusal: it leaves the pause as it is.
func (p *pauses) limited(key string, all bool, told, initial time.Duration, sent, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if all {
		key = allRequests
	}
	wait := told
	if wait <= 0 {
		if last, ok := p.struck[key]; ok && sent.Before(last) {
			return max(p.until[key].Sub(now), 0)
		}
		n := p.strikes[key]
		p.strikes[key] = n + 1
		p.struck[key] = now
		wait = initial << min(n, 20)
		if wait <= 0 || wait > maxUntoldPause {
			wait = maxUntoldPause
		}
		// Jitter in [0.75, 1.25).
		wait = time.Duration(float64(wait) * (0.75 + rand.Float64()/2)) //nolint:gosec // jitter, not a secret
	}
	if u := now.Add(wait); u.After(p.until[key]) {
		p.until[key] = u
	}
	return wait
}

// answered forgets the 429s in a row of key once a request of it passed.
func (p *pauses) answered(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.strikes[key] != 0 {
		delete(p.strikes, key)
		delete(p.struck, key)
	}
}

// throttleAll reports whether a 429 (or a quota answer) comes from a
// throttle that counts every request: Rack::Attack names itself.
func throttleAll(h http.Header) bool {
	return h.Get("RateLimit-Name") != "" || h.Get("RateLimit-Limit") != ""
}

// retryAfter reads how long GitLab asks to wait: Retry-After (seconds or
// HTTP date), else RateLimit-Reset (Unix time). Zero when neither says.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if ra := strings.TrimSpace(h.Get("Retry-After")); ra != "" {
		if s, err := strconv.Atoi(ra); err == nil && s >= 0 {
			return min(time.Duration(s)*time.Second, time.Hour)
		}
		if t, err := http.ParseTime(ra); err == nil {
			return min(max(t.Sub(now), 0), time.Hour)
		}
	}
	if reset, err := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64); err == nil {
		return min(max(time.Unix(reset, 0).Sub(now), 0), time.Hour)
	}
	return 0
}
