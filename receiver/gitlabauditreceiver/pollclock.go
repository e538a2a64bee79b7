// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"time"

	"go.uber.org/zap"
)

// skewWarning is the clock skew beyond which the receiver warns: the
// checkpoints are right whatever the skew, but the timestamps of records
// (observed time) and of the collector's logs disagree with GitLab's.
const skewWarning = 5 * time.Second

// gitlabNow is the earliest time GitLab's clock can read now (the
// collector's before GitLab answered once).
func (p *poller) gitlabNow() time.Time {
	now, _ := p.client.Clock().Now()
	return now
}

// clockSkew reports GitLab's clock minus the collector's, once known.
func (p *poller) clockSkew(observe func(seconds float64)) {
	if skew, _, ok := p.client.Clock().Skew(); ok {
		observe(skew.Seconds())
	}
}

// checkSkew warns once when the clocks of GitLab and the collector differ
// by more than skewWarning.
func (p *poller) checkSkew() {
	skew, uncertainty, ok := p.client.Clock().Skew()
	if !ok || skew.Abs()-uncertainty <= skewWarning || !p.skewWarned.CompareAndSwap(false, true) {
		return
	}
	p.logger.Warn("GitLab's clock and the collector's differ; polling follows GitLab's clock (its Date header), but compare timestamps with care",
		zap.Duration("skew", skew.Round(time.Millisecond)), zap.Duration("uncertainty", uncertainty.Round(time.Millisecond)),
		zap.String("what_to_do", "synchronise both clocks with NTP"))
}
