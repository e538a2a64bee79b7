// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package enrich looks up, in GitLab's API, the objects audit events name
// but do not describe (the expiry and scopes of a new token, the flags of a
// CI/CD variable, the write access of a deploy key) and writes what it
// finds as log record attributes (see package auditevent for the names).
//
// Lookups go through the receiver's API client, and so share its request
// budget, concurrency limit and rate-limit pauses with the polls. Results
// are cached by object, concurrent lookups of one object are made once,
// and a batch waits for its lookups at most the configured time box: a
// lookup that has not answered by then leaves the status "timeout" and
// never delays or drops the event. Responses are decoded into structs
// without a field for a secret, so a CI/CD variable's value never leaves
// the response body.
package enrich // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/enrich"

import (
	"context"
	"net/url"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
)

// Getter reads one object of GitLab's API (gitlabapi.Client.Lookup).
type Getter interface {
	Lookup(ctx context.Context, kind, escapedPath string, q url.Values) (string, error)
}

// Settings configure an Enricher.
type Settings struct {
	// Client reads the objects; nil means enrichment is off.
	Client Getter
	// Off says why enrichment is off when Client is nil; it is the reason
	// written with the status skipped.
	Off string
	// Switches turn the kinds of lookup on and off.
	Switches Switches
	// Timeout bounds how long a batch waits for its lookups, and each lookup.
	Timeout time.Duration
	// CacheEntries and CacheTTL bound the cache of results.
	CacheEntries int
	CacheTTL     time.Duration
	Logger       *zap.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Observe, when set, is called for every record and lookup with the
	// kind and the status written.
	Observe func(kind Kind, status string)
}

// Enricher adds the facts of GitLab's objects to records. It is safe for
// concurrent use.
type Enricher struct {
	s     Settings
	cache *cache

	base   context.Context // ends at Shutdown
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// New returns an Enricher.
func New(s Settings) *Enricher {
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.CacheEntries < 1 {
		s.CacheEntries = 1
	}
	base, cancel := context.WithCancel(context.Background())
	return &Enricher{s: s, cache: newCache(s.CacheEntries, s.CacheTTL, s.Now), base: base, cancel: cancel}
}

// Active reports whether lookups are made (a client is set).
func (e *Enricher) Active() bool { return e.s.Client != nil }

// pendingLookup is a record waiting for the result of a lookup.
type pendingLookup struct {
	record int
	kind   Kind
	author bool
	entry  *entry
}

// Enrich looks up the objects the records' events name and writes the
// results as attributes. It returns within the time box; lookups still in
// flight then go on in the background and fill the cache for later events.
func (e *Enricher) Enrich(ctx context.Context, records plog.LogRecordSlice) {
	var pending []pendingLookup
	if e.s.Client != nil {
		pending = make([]pendingLookup, 0, records.Len())
	}
	for i := 0; i < records.Len(); i++ {
		attrs := records.At(i).Attributes()
		typ, ok := attrs.Get(auditlog.AttrEventType)
		if !ok {
			continue
		}
		if kind, ok := KindOf(typ.Str()); ok {
			switch obj, why, planned := plan(kind, attrs); {
			case e.s.Client == nil:
				e.write(records, i, kind, Result{Status: auditevent.EnrichmentStatusSkipped, Reason: e.s.Off})
			case !e.s.Switches.on(kind):
				e.write(records, i, kind, Result{Status: auditevent.EnrichmentStatusSkipped, Reason: "enrich::lookups::" + switchName(kind) + " is off"})
			case !planned:
				e.write(records, i, kind, Result{Status: auditevent.EnrichmentStatusSkipped, Reason: why})
			default:
				pending = append(pending, pendingLookup{record: i, kind: kind, entry: e.start(obj)})
			}
		}
		if e.s.Client != nil && e.s.Switches.Authors {
			if obj, ok := authorObject(attrs); ok {
				pending = append(pending, pendingLookup{record: i, kind: KindUser, author: true, entry: e.start(obj)})
			}
		}
	}
	if len(pending) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, e.s.Timeout)
	defer cancel()
	for _, p := range pending {
		res := Result{Status: auditevent.EnrichmentStatusTimeout}
		select {
		case <-p.entry.done: // answered (from the cache, mostly): no waiting
			res = p.entry.res
		default:
			select {
			case <-p.entry.done:
				res = p.entry.res
			case <-ctx.Done():
				select {
				case <-p.entry.done: // answered meanwhile
					res = p.entry.res
				default:
				}
			}
		}
		if p.author {
			if e.s.Observe != nil {
				e.s.Observe(KindUser, res.Status)
			}
			if res.Status == auditevent.EnrichmentStatusOK {
				res.applyFacts(records.At(p.record).Attributes())
			}
			continue
		}
		e.write(records, p.record, p.kind, res)
	}
}

func (e *Enricher) write(records plog.LogRecordSlice, i int, kind Kind, res Result) {
	res.apply(records.At(i).Attributes())
	if e.s.Observe != nil {
		e.s.Observe(kind, res.Status)
	}
}

// start returns the cache entry of an object, starting its lookup when no
// fresh result nor flight exists.
func (e *Enricher) start(obj object) *entry {
	en, leader := e.cache.join(obj.key)
	if !leader {
		return en
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.cache.finish(en, Result{Status: auditevent.EnrichmentStatusSkipped, Reason: "the receiver is shutting down"})
		return en
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(e.base, e.s.Timeout)
		defer cancel()
		path := obj.pathOf()
		body, err := e.s.Client.Lookup(ctx, string(obj.kind), path, obj.query)
		res := outcome(obj.kind, body, err, e.s.Now())
		e.cache.finish(en, res)
		// The body may hold a secret (a CI/CD variable's value): it is
		// neither logged nor kept; only the decoded facts are.
		e.s.Logger.Debug("GitLab object looked up", zap.String("kind", string(obj.kind)),
			zap.String("path", path), zap.String("status", res.Status), zap.String("reason", res.Reason))
	}()
	return en
}

// CacheLen returns the number of cached results and lookups in flight.
func (e *Enricher) CacheLen() int { return e.cache.Len() }

// Shutdown stops the lookups in flight and waits for them.
func (e *Enricher) Shutdown() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
}
