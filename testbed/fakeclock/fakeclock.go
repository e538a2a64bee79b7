// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package fakeclock is a settable clock for tests: the receiver's
// components take a now function, and tests hand them Clock.Now.
package fakeclock // import "github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"

import (
	"sync"
	"time"
)

// Start is where New clocks start: a fixed instant, so that runs repeat.
var Start = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock at Start.
func New() *Clock { return &Clock{t: Start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
