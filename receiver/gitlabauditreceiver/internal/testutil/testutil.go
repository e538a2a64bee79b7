// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package testutil holds what the receiver's tests share across its
// packages: a simulated GitLab on loopback, reading back what a pipeline
// received, and a pipeline that refuses on demand. Only tests import it.
package testutil // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"

import (
	"context"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// AdminToken is the simulator's all-seeing token in tests.
const AdminToken = "glpat-admin-0123456789abcdefABCDEF"

// NewSim starts a simulated GitLab on loopback whose clock is now, with
// the admin token unless opts names tokens, 3 groups of 6 projects.
func NewSim(t testing.TB, now func() time.Time, opts gitlabsim.Options) (*gitlabsim.Sim, *httptest.Server) {
	t.Helper()
	if opts.Tokens == nil {
		opts.Tokens = map[string]gitlabsim.Token{AdminToken: {UserID: 1, Admin: true}}
	}
	if opts.Now == nil {
		opts.Now = now
	}
	if opts.Seed == 0 {
		opts.Seed = 42
	}
	sim := gitlabsim.New(opts)
	sim.Populate(3, 6)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	return sim, srv
}

// Record is what a test needs of one emitted record.
type Record struct {
	ID, Type, Source string
	TS               time.Time
}

// Records lists the records a sink received, in order.
func Records(all []plog.Logs) []Record {
	var out []Record
	for _, l := range all {
		for i := 0; i < l.ResourceLogs().Len(); i++ {
			sls := l.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					id, _ := lr.Attributes().Get(auditlog.AttrEventID)
					typ, _ := lr.Attributes().Get(auditlog.AttrEventType)
					src, _ := lr.Attributes().Get(auditlog.AttrSource)
					out = append(out, Record{ID: id.Str(), Type: typ.Str(), Source: src.Str(), TS: lr.Timestamp().AsTime()})
				}
			}
		}
	}
	return out
}

// IDs returns the event ids of records, in order.
func IDs(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// SavedIDs are the ids of the REST-visible events created in [from, to],
// sorted.
func SavedIDs(evs []gitlabsim.StoredEvent, from, to time.Time) []string {
	var out []string
	for _, e := range evs {
		if e.SavedToDatabase && !e.CreatedAt.Before(from) && !e.CreatedAt.After(to) {
			out = append(out, strconv.FormatInt(e.ID, 10))
		}
	}
	slices.Sort(out)
	return out
}

// Sorted returns a sorted copy of s.
func Sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// FlakyConsumer accepts a batch into its sink unless Decide, given the
// call number (from 0), returns an error.
type FlakyConsumer struct {
	mu     sync.Mutex
	Decide func(call int) error
	calls  int
	sink   []plog.Logs
}

var _ consumer.Logs = (*FlakyConsumer)(nil)

// Capabilities: the consumer does not mutate.
func (c *FlakyConsumer) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// ConsumeLogs keeps ld unless Decide refuses it.
func (c *FlakyConsumer) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.calls
	c.calls++
	if c.Decide != nil {
		if err := c.Decide(n); err != nil {
			return err
		}
	}
	c.sink = append(c.sink, ld)
	return nil
}

// SetDecide replaces Decide while batches may be arriving.
func (c *FlakyConsumer) SetDecide(f func(int) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Decide = f
}

// All returns what the consumer kept.
func (c *FlakyConsumer) All() []plog.Logs {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sink)
}
