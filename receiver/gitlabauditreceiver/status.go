// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"errors"
	"sort"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
)

// statusTracker reports the receiver's health to the collector: a
// recoverable error while any feed fails, OK again when all recovered.
type statusTracker struct {
	mu     sync.Mutex
	host   component.Host
	errs   map[string]error
	failed bool
}

func newStatusTracker(host component.Host) *statusTracker {
	return &statusTracker{host: host, errs: map[string]error{}}
}

// set records the state of one part (a feed, a discovery): nil when it
// works again.
func (s *statusTracker) set(part string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, had := s.errs[part]
	if err == nil {
		if !had {
			return
		}
		delete(s.errs, part)
	} else {
		if had && prev.Error() == err.Error() {
			return
		}
		s.errs[part] = err
	}
	if len(s.errs) == 0 {
		s.failed = false
		componentstatus.ReportStatus(s.host, componentstatus.NewEvent(componentstatus.StatusOK))
		return
	}
	s.failed = true
	parts := make([]string, 0, len(s.errs))
	for p := range s.errs {
		parts = append(parts, p)
	}
	sort.Strings(parts)
	all := make([]error, 0, len(parts))
	for _, p := range parts {
		all = append(all, s.errs[p])
	}
	componentstatus.ReportStatus(s.host, componentstatus.NewRecoverableErrorEvent(errors.Join(all...)))
}

func (s *statusTracker) fatal(err error) {
	componentstatus.ReportStatus(s.host, componentstatus.NewFatalErrorEvent(err))
}
