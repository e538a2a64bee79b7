// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
)

const (
	headerEventType = "X-Gitlab-Audit-Event-Type"
	// maxInFlightWait bounds how long a request waits for a concurrent
	// delivery of the same event; GitLab gives up after 8 seconds.
	maxInFlightWait = 5 * time.Second
)

// streamServer is the audit event streaming endpoint.
type streamServer struct {
	cfg    *StreamConfig
	logger *zap.Logger
	emit   *emitter
	tel    *telemetry
	filter *typeFilter
	status *statusTracker
	now    func() time.Time

	tokens   [][sha256.Size]byte // digests of the verification tokens
	required []requiredHeader

	server *http.Server
	addr   string // the address listened on
	wg     sync.WaitGroup
}

type requiredHeader struct {
	name   string
	digest [sha256.Size]byte
}

func (s *streamServer) init() {
	for _, t := range s.cfg.VerificationTokens {
		s.tokens = append(s.tokens, sha256.Sum256([]byte(t)))
	}
	for name, v := range s.cfg.RequiredHeaders {
		s.required = append(s.required, requiredHeader{name: name, digest: sha256.Sum256([]byte(v))})
	}
}

// handler routes the events path and the health path, behind the token
// check.
func (s *streamServer) handler() http.Handler {
	return s.checkToken(s.routes())
}

func (s *streamServer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(s.cfg.Path, s.handleEvents)
	mux.HandleFunc(s.cfg.HealthPath, s.handleHealth)
	return mux
}

// checkToken refuses a POST to the events path without the verification
// token (or a required header) before anything else looks at the request:
// the server's middleware (decompression, body limits) comes after it, so
// a wrong token always gets 401, counted as an auth refusal, whatever else
// is wrong with the request.
func (s *streamServer) checkToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == s.cfg.Path && !s.authorized(r) {
			s.logger.Debug("Refused a streaming request: missing or invalid verification token or required header", zap.String("remote", r.RemoteAddr))
			s.reject(r.Context(), w, http.StatusUnauthorized, reasonAuth, streamAnswer{Error: "missing or invalid verification token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *streamServer) start(ctx context.Context, host component.Host, set component.TelemetrySettings) error {
	ln, err := s.cfg.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("stream: listening on %s: %w", s.cfg.NetAddr.Endpoint, err)
	}
	srv, err := s.cfg.ToServer(ctx, host.GetExtensions(), set, s.routes())
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("stream: %w", err)
	}
	srv.Handler = s.checkToken(srv.Handler) // outermost: see checkToken
	s.server = srv
	s.addr = ln.Addr().String()
	s.logger.Info("Accepting GitLab audit event streaming", zap.String("endpoint", ln.Addr().String()), zap.String("path", s.cfg.Path))
	s.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.status.fatal(fmt.Errorf("stream server: %w", err))
		}
	})
	return nil
}

func (s *streamServer) shutdown(ctx context.Context) error {
	if s.server == nil {
		return nil
	}
	err := s.server.Shutdown(ctx)
	if err != nil {
		_ = s.server.Close()
	}
	s.wg.Wait()
	return err
}

func (s *streamServer) handleHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, streamAnswer{Error: "use GET"})
		return
	}
	// Exactly the documented answer (no counts: nothing was received).
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, "{\"status\":\"ok\"}\n")
	}
}

// authorized checks the verification token and the required headers, in
// constant time: every configured value is compared, and digests of equal
// length hide the length of the expected values.
func (s *streamServer) authorized(r *http.Request) bool {
	ok := 1
	if len(s.tokens) > 0 {
		got := sha256.Sum256([]byte(r.Header.Get(streamTokenHeader)))
		match := 0
		for i := range s.tokens {
			match |= subtle.ConstantTimeCompare(got[:], s.tokens[i][:])
		}
		ok &= match
	}
	for _, h := range s.required {
		got := sha256.Sum256([]byte(r.Header.Get(h.name)))
		ok &= subtle.ConstantTimeCompare(got[:], h.digest[:])
	}
	return ok == 1
}

// streamAnswer is the JSON body of every answer. GitLab ignores it; it is
// there for people and for senders other than GitLab.
type streamAnswer struct {
	Status     string   `json:"status,omitempty"`
	Accepted   int      `json:"accepted"`
	Duplicates int      `json:"duplicates,omitempty"`
	Filtered   int      `json:"filtered,omitempty"`
	Error      string   `json:"error,omitempty"`
	Refused    []string `json:"refused,omitempty"`
}

func (s *streamServer) reject(ctx context.Context, w http.ResponseWriter, status int, reason string, a streamAnswer) {
	s.tel.count(ctx, s.tel.streamRejected, 1, attrReason, reason)
	writeJSON(w, status, a)
}

func (s *streamServer) handleEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.reject(ctx, w, http.StatusMethodNotAllowed, reasonMethod, streamAnswer{Error: "GitLab audit events are POSTed"})
		return
	}
	// The token was checked by checkToken, which wraps every route.

	// GitLab sends JSON as application/x-www-form-urlencoded by default:
	// the body is read as JSON whatever the Content-Type says.
	body, err := readBody(r, s.cfg.MaxRequestBodySize)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.reject(ctx, w, http.StatusRequestEntityTooLarge, reasonTooLarge,
				streamAnswer{Error: fmt.Sprintf("the body is larger than max_request_body_size (%d bytes)", tooLarge.Limit)})
			return
		}
		s.reject(ctx, w, http.StatusBadRequest, reasonMalformed, streamAnswer{Error: "reading the body: " + err.Error()})
		return
	}

	batch, err := s.decodeBatch(body, r.Header.Get(headerEventType), pcommon.NewTimestampFromTime(s.now()))
	if err != nil {
		s.reject(ctx, w, http.StatusBadRequest, reasonMalformed, streamAnswer{Error: "the body is not valid JSON: " + err.Error()})
		return
	}
	events, filtered := batch.events, batch.filtered
	s.tel.count(ctx, s.tel.filtered, filtered, attrSource, string(auditlog.SourceStream))
	s.tel.count(ctx, s.tel.invalid, batch.refused.n, attrSource, string(auditlog.SourceStream))
	if n, most := len(events), s.emit.dedup.maxInFlight(); n > most {
		// Taken at once, they would flush the de-duplication set.
		s.reject(ctx, w, http.StatusRequestEntityTooLarge, reasonTooManyEvents, streamAnswer{Error: fmt.Sprintf(
			"the request holds %d events; a request may hold at most %d (half of dedup::max_entries): send smaller batches", n, most)})
		return
	}

	accepted, dups, err := s.emit.emitAll(ctx, events, maxInFlightWait)
	s.tel.count(ctx, s.tel.duplicates, dups, attrSource, string(auditlog.SourceStream))
	answer := streamAnswer{Accepted: accepted, Duplicates: dups, Filtered: filtered}
	if err != nil {
		answer.Error = err.Error()
		if consumererror.IsPermanent(err) {
			s.reject(ctx, w, http.StatusBadRequest, reasonPipelineFailure, answer)
		} else {
			s.reject(ctx, w, http.StatusServiceUnavailable, reasonOverloaded, answer)
		}
		return
	}
	if batch.refused.n > 0 {
		answer.Error = fmt.Sprintf("%d event(s) refused; of the %d valid event(s), %d accepted now, %d already accepted before (duplicates), %d filtered out by event_types",
			batch.refused.n, accepted+dups+filtered, accepted, dups, filtered)
		answer.Refused = batch.refused.list()
		s.reject(ctx, w, http.StatusBadRequest, reasonMalformed, answer)
		return
	}
	answer.Status = "ok"
	writeJSON(w, http.StatusOK, answer)
}
