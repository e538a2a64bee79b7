// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package tick runs work every interval until a context ends, and sleeps
// in a way a context can cut short: the receiver's one way to do either.
package tick // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/tick"

import (
	"context"
	"time"
)

// Sleep waits for d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Option changes how Every runs.
type Option func(*loop)

type loop struct {
	now    bool
	wake   <-chan struct{}
	minGap time.Duration
}

// Now runs fn once at once, before the first interval has passed.
func Now() Option { return func(l *loop) { l.now = true } }

// WakeOn runs fn early when wake receives, but never sooner than minGap
// after the previous run began; the interval then counts from that run.
func WakeOn(wake <-chan struct{}, minGap time.Duration) Option {
	return func(l *loop) { l.wake, l.minGap = wake, minGap }
}

// Every calls fn every interval until ctx ends. fn runs in the caller's
// goroutine, one call at a time; the next interval counts from the start
// of the previous call.
func Every(ctx context.Context, interval time.Duration, fn func(context.Context), opts ...Option) {
	var l loop
	for _, o := range opts {
		o(&l)
	}
	last := time.Now()
	if l.now {
		fn(ctx)
	}
	next := last.Add(interval)
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
			if soon := last.Add(l.minGap); soon.Before(next) {
				next = soon
				timer.Reset(max(time.Until(next), 0)) // Go 1.23 timers: no stale tick to drain
			}
			continue
		case <-timer.C:
		}
		if ctx.Err() != nil {
			return
		}
		last = time.Now()
		fn(ctx)
		next = last.Add(interval)
		timer.Reset(max(time.Until(next), 0))
	}
}
