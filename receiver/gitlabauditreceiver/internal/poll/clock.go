// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// skewWarning is the clock skew beyond which the poller warns: the
// checkpoints are right whatever the skew, but the timestamps of records
// (observed time) and of the collector's logs disagree with GitLab's.
const skewWarning = 5 * time.Second

// gitlabClock is GitLab's clock as the poller uses it: learnt by the API
// client from the Date header of every answer.
type gitlabClock struct {
	c      *gitlabapi.Clock
	logger *zap.Logger
	warned atomic.Bool
}

// now is the earliest time GitLab's clock can read now (the collector's
// before GitLab answered once).
func (g *gitlabClock) now() time.Time {
	now, _ := g.c.Now()
	return now
}

// skew is GitLab's clock minus the collector's, once known.
func (g *gitlabClock) skew() (time.Duration, bool) {
	skew, _, ok := g.c.Skew()
	return skew, ok
}

// checkSkew warns once when the clocks of GitLab and the collector differ
// by more than skewWarning.
func (g *gitlabClock) checkSkew() {
	skew, uncertainty, ok := g.c.Skew()
	if !ok || skew.Abs()-uncertainty <= skewWarning || !g.warned.CompareAndSwap(false, true) {
		return
	}
	g.logger.Warn("GitLab's clock and the collector's differ; polling follows GitLab's clock (its Date header), but compare timestamps with care",
		zap.Duration("skew", skew.Round(time.Millisecond)), zap.Duration("uncertainty", uncertainty.Round(time.Millisecond)),
		zap.String("what_to_do", "synchronise both clocks with NTP"))
}
