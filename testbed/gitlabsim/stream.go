// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Streaming defaults, as GitLab's HTTP destinations use them.
const (
	// DefaultStreamContentType is GitLab's default Content-Type, although the body is JSON.
	DefaultStreamContentType = "application/x-www-form-urlencoded"
	// DefaultStreamTimeout is GitLab's open/read/write timeout for destinations.
	DefaultStreamTimeout = 8 * time.Second
	// DefaultBatchSize is the number of events per request in batch mode.
	DefaultBatchSize = 100
	// TokenHeader carries the destination's verification token.
	TokenHeader = "X-Gitlab-Event-Streaming-Token"
	// EventTypeHeader carries the event type in single-event mode.
	EventTypeHeader = "X-Gitlab-Audit-Event-Type"
)

// Streamer delivers events to an HTTP streaming destination the way GitLab
// does: one POST per event (or JSON arrays in batch mode), the verification
// token header, no retry on failure, status codes ignored (but counted).
// It is safe for concurrent use once configured.
type Streamer struct {
	// URL is the destination URL.
	URL string
	// Token is sent as X-Gitlab-Event-Streaming-Token.
	Token string
	// Batch posts JSON arrays of up to BatchSize events (GitLab's NATS
	// mode) without the event type header.
	Batch bool
	// BatchSize is the number of events per request in batch mode; default 100.
	BatchSize int
	// DuplicateRatio is the share of events delivered twice (GitLab
	// streams at least once). Duplicates are sent after the other events of
	// the same Send call, so they also arrive out of order.
	DuplicateRatio float64
	// Seed decides, with each event's stream id, which events are duplicated.
	Seed uint64
	// ExtraHeaders are the destination's custom headers.
	ExtraHeaders map[string]string
	// ContentType overrides the Content-Type header (default
	// application/x-www-form-urlencoded, as GitLab sends it).
	ContentType string
	// Client sends the requests; default a client with an 8 s timeout.
	Client *http.Client
	// Timeout bounds each request; default 8 s.
	Timeout time.Duration
	// OnDelivery, if set, is called after every request.
	OnDelivery func(Delivery)
	// Destination, when set, is how the destination is configured in
	// GitLab: Send delivers only the events its group, event type and
	// namespace filters let through (destinations.go) and counts the others
	// in Stats.Filtered. It must not change once the Streamer is in use.
	Destination *StreamingDestination
}

// Delivery describes one streaming request.
type Delivery struct {
	// StreamIDs are the ids of the events in the request.
	StreamIDs []string
	// EventType is the X-Gitlab-Audit-Event-Type header (single mode).
	EventType string
	// Duplicate is true when the request re-delivers events already sent.
	Duplicate bool
	// Status is the HTTP status, 0 when the request failed before an answer.
	Status int
	// Err is the transport error, if any.
	Err error
	// Duration is how long the request took.
	Duration time.Duration
}

// Stats counts what a Streamer did.
type Stats struct {
	// Events is the number of distinct events delivered (after the
	// destination's filters).
	Events int
	// Filtered counts the events the destination's filters left out.
	Filtered int
	// Deliveries counts event deliveries, duplicates included.
	Deliveries int
	// Duplicates counts extra deliveries.
	Duplicates int
	// Requests counts HTTP requests.
	Requests int
	// Succeeded counts requests answered 2xx.
	Succeeded int
	// Failed counts requests answered otherwise or not answered.
	Failed int
	// TransportErrors counts requests that got no answer (refused, timeout, ...).
	TransportErrors int
	// StatusCodes counts answers by status.
	StatusCodes map[int]int
}

// Add accumulates o into s.
func (s *Stats) Add(o Stats) {
	s.Events += o.Events
	s.Filtered += o.Filtered
	s.Deliveries += o.Deliveries
	s.Duplicates += o.Duplicates
	s.Requests += o.Requests
	s.Succeeded += o.Succeeded
	s.Failed += o.Failed
	s.TransportErrors += o.TransportErrors
	if len(o.StatusCodes) > 0 && s.StatusCodes == nil {
		s.StatusCodes = map[int]int{}
	}
	for k, v := range o.StatusCodes {
		s.StatusCodes[k] += v
	}
}

var defaultStreamClient = &http.Client{Timeout: DefaultStreamTimeout}

type delivery struct {
	ev  *StoredEvent
	dup bool
}

// Send delivers the events. Like GitLab it does not retry and ignores the
// answers; failures show in the Stats. The error is only for an invalid
// destination URL or a cancelled context.
func (st *Streamer) Send(ctx context.Context, events []StoredEvent) (Stats, error) {
	stats := Stats{StatusCodes: map[int]int{}}
	u, err := url.Parse(st.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return stats, fmt.Errorf("gitlabsim: invalid streaming destination URL %q", st.URL)
	}
	items := make([]delivery, 0, len(events))
	var dups []delivery
	for i := range events {
		if len(events[i].StreamJSON) == 0 {
			continue
		}
		if st.Destination != nil && !st.Destination.Streams(&events[i]) {
			stats.Filtered++
			continue
		}
		items = append(items, delivery{ev: &events[i]})
		if st.duplicate(events[i].StreamID) {
			dups = append(dups, delivery{ev: &events[i], dup: true})
		}
	}
	stats.Events = len(items)
	stats.Duplicates = len(dups)
	items = append(items, dups...)
	stats.Deliveries = len(items)

	if !st.Batch {
		for _, it := range items {
			if err := ctx.Err(); err != nil {
				return stats, err
			}
			st.post(ctx, &stats, it.ev.StreamJSON, it.ev.StreamType, []string{it.ev.StreamID}, it.dup)
		}
		return stats, nil
	}
	size := st.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	var body []byte
	for start := 0; start < len(items); start += size {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		chunk := items[start:min(start+size, len(items))]
		body = append(body[:0], '[')
		ids := make([]string, 0, len(chunk))
		allDup := true
		for i, it := range chunk {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, it.ev.StreamJSON...)
			ids = append(ids, it.ev.StreamID)
			allDup = allDup && it.dup
		}
		body = append(body, ']')
		st.post(ctx, &stats, body, "", ids, allDup)
	}
	return stats, nil
}

// duplicate decides, from the seed and the stream id, whether an event is
// delivered twice.
func (st *Streamer) duplicate(streamID string) bool {
	if st.DuplicateRatio <= 0 {
		return false
	}
	h := fnv.New64a()
	var seed [8]byte
	for i := range seed {
		seed[i] = byte(st.Seed >> (8 * i))
	}
	_, _ = h.Write(seed[:])
	_, _ = h.Write([]byte(streamID))
	return float64(h.Sum64()>>11)/float64(1<<53) < st.DuplicateRatio
}

func (st *Streamer) post(ctx context.Context, stats *Stats, body []byte, eventType string, ids []string, dup bool) {
	timeout := st.Timeout
	if timeout <= 0 {
		timeout = DefaultStreamTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	d := Delivery{StreamIDs: ids, EventType: eventType, Duplicate: dup}
	stats.Requests++
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, st.URL, bytes.NewReader(body))
	if err == nil {
		ct := st.ContentType
		if ct == "" {
			ct = DefaultStreamContentType
		}
		req.Header.Set("Content-Type", ct)
		for k, v := range st.ExtraHeaders {
			req.Header.Set(k, v)
		}
		req.Header.Set(TokenHeader, st.Token)
		if eventType != "" {
			req.Header.Set(EventTypeHeader, eventType)
		}
		client := st.Client
		if client == nil {
			client = defaultStreamClient
		}
		var resp *http.Response
		if resp, err = client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
			d.Status = resp.StatusCode
		}
	}
	d.Err, d.Duration = err, time.Since(start)
	switch {
	case err != nil:
		stats.Failed++
		stats.TransportErrors++
	case d.Status >= 200 && d.Status < 300:
		stats.Succeeded++
		stats.StatusCodes[d.Status]++
	default:
		stats.Failed++
		stats.StatusCodes[d.Status]++
	}
	if st.OnDelivery != nil {
		st.OnDelivery(d)
	}
}

// streamWorker streams the events a Sim inserts, in the background.
type streamWorker struct {
	st     *Streamer
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []StoredEvent
	inflight bool
	closed   bool
	stats    Stats
}

// maxStreamRound bounds the events handed to one Send call.
const maxStreamRound = 1000

func newStreamWorker(st *Streamer) *streamWorker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &streamWorker{st: st, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

func (w *streamWorker) run() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.cond.Wait()
		}
		if w.closed {
			w.mu.Unlock()
			return
		}
		n := min(len(w.queue), maxStreamRound)
		batch := w.queue[:n:n]
		w.queue = w.queue[n:]
		w.inflight = true
		w.mu.Unlock()

		stats, _ := w.st.Send(w.ctx, batch)

		w.mu.Lock()
		w.stats.Add(stats)
		w.inflight = false
		w.mu.Unlock()
	}
}

func (w *streamWorker) push(events []StoredEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.queue = append(w.queue, events...)
	w.cond.Broadcast()
}

func (w *streamWorker) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue) == 0 && !w.inflight
}

func (w *streamWorker) close() {
	w.mu.Lock()
	w.closed = true
	w.queue = nil
	w.cond.Broadcast()
	w.mu.Unlock()
	w.cancel()
	<-w.done
}

func (s *Sim) enqueue(events []StoredEvent) {
	if s.worker != nil && len(events) > 0 {
		s.worker.push(events)
	}
}

// Flush waits until every event inserted so far has been streamed (or its
// delivery failed). It returns at once without Options.StreamTo.
func (s *Sim) Flush(ctx context.Context) error {
	if s.worker == nil {
		return nil
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for !s.worker.idle() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// StreamStats returns what the background streaming did so far.
func (s *Sim) StreamStats() Stats {
	if s.worker == nil {
		return Stats{}
	}
	s.worker.mu.Lock()
	defer s.worker.mu.Unlock()
	out := s.worker.stats
	out.StatusCodes = maps.Clone(out.StatusCodes)
	return out
}

// ErrClosed is returned by Close when called twice.
var ErrClosed = errors.New("gitlabsim: already closed")

// Close stops background streaming; events still queued are dropped (use
// Flush first to deliver them). The HTTP handler keeps working.
func (s *Sim) Close() error {
	if s.worker == nil {
		return nil
	}
	s.worker.mu.Lock()
	closed := s.worker.closed
	s.worker.mu.Unlock()
	if closed {
		return ErrClosed
	}
	s.worker.close()
	return nil
}
