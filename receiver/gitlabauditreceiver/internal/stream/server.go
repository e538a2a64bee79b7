// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package stream is the audit event streaming path: the HTTP endpoint
// GitLab's streaming destination posts to (token check, body reading,
// batch decoding, the answers), and the stream watch, which tells from
// what polling finds which events the stream missed.
package stream // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/stream"

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
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

const (
	// TokenHeader carries the destination's verification token
	// (GitLab docs: administration/compliance/audit_event_streaming.md).
	TokenHeader     = "X-Gitlab-Event-Streaming-Token"
	headerEventType = "X-Gitlab-Audit-Event-Type"
	// Reasons of refused requests (metric attribute reason).
	reasonAuth            = "auth"
	reasonMalformed       = "malformed"
	reasonTooLarge        = "too_large"
	reasonOverloaded      = "overloaded"
	reasonMethod          = "method"
	reasonPipelineFailure = "pipeline_failure"
	reasonTooManyEvents   = "too_many_events"
	// maxInFlightWait bounds how long a request waits for a concurrent
	// delivery of the same event; GitLab gives up after 8 seconds.
	maxInFlightWait = 5 * time.Second
)

// Settings configure the endpoint.
type Settings struct {
	// Server is the HTTP server: endpoint, tls, max_request_body_size, auth, ...
	Server     confighttp.ServerConfig
	Path       string
	HealthPath string
	// Tokens are the accepted verification tokens; RequiredHeaders must
	// also match.
	Tokens          []configopaque.String
	RequiredHeaders map[string]configopaque.String

	Emitter   *emit.Emitter
	Telemetry *metadata.TelemetryBuilder
	Logger    *zap.Logger
	// Fatal reports that the server stopped on its own.
	Fatal func(error)
	Now   func() time.Time
}

// Server is the audit event streaming endpoint.
type Server struct {
	cfg    Settings
	logger *zap.Logger
	emit   *emit.Emitter
	tel    *metadata.TelemetryBuilder
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

// New returns the endpoint; Start opens it.
func New(set Settings) *Server {
	s := &Server{cfg: set, logger: set.Logger, emit: set.Emitter, tel: set.Telemetry, now: set.Now}
	for _, t := range set.Tokens {
		s.tokens = append(s.tokens, sha256.Sum256([]byte(t)))
	}
	for name, v := range s.cfg.RequiredHeaders {
		s.required = append(s.required, requiredHeader{name: name, digest: sha256.Sum256([]byte(v))})
	}
	return s
}

// handler routes the events path and the health path, behind the token
// check.
// Handler is the endpoint's routes behind the token check, without the
// server's middleware (tests and benchmarks call it directly).
func (s *Server) Handler() http.Handler {
	return s.checkToken(s.routes())
}

func (s *Server) routes() http.Handler {
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
func (s *Server) checkToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == s.cfg.Path && !s.authorized(r) {
			s.logger.Debug("Refused a streaming request: missing or invalid verification token or required header", zap.String("remote", r.RemoteAddr))
			s.reject(r.Context(), w, http.StatusUnauthorized, reasonAuth, streamAnswer{Error: "missing or invalid verification token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Start listens and serves until Shutdown.
func (s *Server) Start(ctx context.Context, host component.Host, set component.TelemetrySettings) error {
	ln, err := s.cfg.Server.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("stream: listening on %s: %w", s.cfg.Server.NetAddr.Endpoint, err)
	}
	srv, err := s.cfg.Server.ToServer(ctx, host.GetExtensions(), set, s.routes(), instrumentationOptions(set)...)
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
			s.cfg.Fatal(fmt.Errorf("stream server: %w", err))
		}
	})
	return nil
}

// Addr is the address listened on, once started.
func (s *Server) Addr() string { return s.addr }

// Shutdown stops accepting requests and waits for those under way.
func (s *Server) Shutdown(ctx context.Context) error {
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

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
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
func (s *Server) authorized(r *http.Request) bool {
	ok := 1
	if len(s.tokens) > 0 {
		got := sha256.Sum256([]byte(r.Header.Get(TokenHeader)))
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

func (s *Server) reject(ctx context.Context, w http.ResponseWriter, status int, reason string, a streamAnswer) {
	metadata.Add(ctx, s.tel.GitlabAuditStreamRequestsRejected, 1, metadata.AttrReason, reason)
	writeJSON(w, status, a)
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.reject(ctx, w, http.StatusMethodNotAllowed, reasonMethod, streamAnswer{Error: "GitLab audit events are POSTed"})
		return
	}
	// The token was checked by checkToken, which wraps every route.

	// GitLab sends JSON as application/x-www-form-urlencoded by default:
	// the body is read as JSON whatever the Content-Type says.
	body, err := readBody(r, s.cfg.Server.MaxRequestBodySize)
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

	var counts emit.Counts
	batch, err := s.decodeBatch(&counts, body, r.Header.Get(headerEventType), pcommon.NewTimestampFromTime(s.now()))
	if err != nil {
		s.reject(ctx, w, http.StatusBadRequest, reasonMalformed, streamAnswer{Error: "the body is not valid JSON: " + err.Error()})
		return
	}
	defer func() { s.emit.Report(ctx, counts) }()
	events := batch.events
	if n, most := len(events), s.emit.MaxInFlight(); n > most {
		// Taken at once, they would flush the de-duplication set.
		s.reject(ctx, w, http.StatusRequestEntityTooLarge, reasonTooManyEvents, streamAnswer{Error: fmt.Sprintf(
			"the request holds %d events; a request may hold at most %d (half of dedup::max_entries): send smaller batches", n, most)})
		return
	}

	accepted, err := s.emit.EmitAll(ctx, &counts, events, maxInFlightWait)
	batch.release()
	answer := streamAnswer{Accepted: accepted, Duplicates: counts.Duplicates, Filtered: counts.Filtered}
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
			batch.refused.n, accepted+counts.Duplicates+counts.Filtered, accepted, counts.Duplicates, counts.Filtered)
		answer.Refused = batch.refused.list()
		s.reject(ctx, w, http.StatusBadRequest, reasonMalformed, answer)
		return
	}
	answer.Status = "ok"
	writeJSON(w, http.StatusOK, answer)
}
