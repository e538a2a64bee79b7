// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Faults make the simulated GitLab slow or failing the way a loaded
// instance is: a share of requests answered late or with a 5xx, and audit
// queries over long time ranges that fail (GitLab's audit event queries
// slow down as the range grows until the database's statement timeout
// turns them into 500s). Which requests are hit is drawn from Seed and the
// request's rank, so the same seed hits the same requests of the same run.
type Faults struct {
	// FailShare is the share of API requests answered FailStatus.
	FailShare float64
	// FailStatus is the status of failed requests; default 500.
	FailStatus int
	// SlowShare is the share of API requests answered only after
	// SlowDelay (or never, if the client gives up first).
	SlowShare float64
	// SlowDelay is how late slow requests are answered.
	SlowDelay time.Duration
	// SlowRange, when set, answers list requests whose range is longer
	// (as MaxRange measures it) only after SlowDelay: GitLab's audit
	// queries slow down as the range grows, every time, whoever asks.
	SlowRange time.Duration
	// Latency, when set, is how long every API request takes to be
	// answered: a healthy GitLab answers in tens to hundreds of
	// milliseconds, not in the microseconds of loopback.
	Latency time.Duration
	// MaxRange, when set, answers 500 to list requests whose range
	// (created_after to created_before, or to the simulator's now when
	// created_before is absent) is longer. A request without created_after
	// counts as unbounded.
	MaxRange time.Duration
	// Path, when set, limits the faults to API requests whose path, as
	// sent (escaped), starts with it: "/api/v4/groups/acme/audit_events"
	// makes GitLab stop serving that one feed (with FailShare 1 and
	// FailStatus 403, as when the token loses its access), the other
	// feeds and lookups still answering.
	Path string
	// Seed draws which requests are failed or slowed.
	Seed uint64
}

// StatusClientClosedRequest is the status logged for a slow request its
// client gave up on before the answer (nginx's 499).
const StatusClientClosedRequest = 499

// Now is the simulator's clock: the time it stamps new events and its
// answers' Date header with (Options.Now; set it apart from the client's
// to simulate clock skew).
func (s *Sim) Now() time.Time { return s.now() }

// SetFaults replaces the faults injected into API requests; the zero value
// turns them off.
func (s *Sim) SetFaults(f Faults) {
	if f.FailStatus == 0 {
		f.FailStatus = http.StatusInternalServerError
	}
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.faults, s.faultRank = f, 0
}

// injectFault applies the configured faults to one API request; it reports
// whether the request was answered (failed) or abandoned by the client.
func (s *Sim) injectFault(w http.ResponseWriter, r *http.Request, now time.Time) bool {
	s.reqMu.Lock()
	f := s.faults
	rank := s.faultRank
	s.faultRank++
	s.reqMu.Unlock()
	if f.Path != "" && !strings.HasPrefix(r.URL.EscapedPath(), f.Path) {
		return false
	}

	delay := f.Latency
	if f.SlowShare > 0 && draw(f.Seed, rank, 1) < f.SlowShare {
		delay = f.SlowDelay
	}
	if f.SlowRange > 0 && queryRange(r, now) > f.SlowRange {
		if rt, ok := matchRoute(r.URL.EscapedPath()); ok && !rt.single {
			delay = f.SlowDelay
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			// Logged as nginx logs a request its client gave up on.
			w.WriteHeader(StatusClientClosedRequest)
			return true
		}
	}
	if f.FailShare > 0 && draw(f.Seed, rank, 2) < f.FailShare {
		writeMessage(w, f.FailStatus, fmt.Sprintf("%d %s", f.FailStatus, http.StatusText(f.FailStatus)))
		return true
	}
	if f.MaxRange > 0 && queryRange(r, now) > f.MaxRange {
		if rt, ok := matchRoute(r.URL.EscapedPath()); ok && !rt.single {
			writeMessage(w, http.StatusInternalServerError, "500 Internal Server Error")
			return true
		}
	}
	return false
}

// queryRange is the length of a list request's created_at range.
func queryRange(r *http.Request, now time.Time) time.Duration {
	q := r.URL.Query()
	after, err := parseDateTime(q.Get("created_after"))
	if err != nil {
		return 1<<63 - 1
	}
	before := now
	if v := q.Get("created_before"); v != "" {
		if b, err := parseDateTime(v); err == nil {
			before = b
		}
	}
	return before.Sub(after)
}

// draw returns a number in [0, 1) fixed by seed, rank and stream
// (splitmix64).
func draw(seed, rank, stream uint64) float64 {
	z := seed + rank*0x9e3779b97f4a7c15 + stream*0xbf58476d1ce4e5b9
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}
