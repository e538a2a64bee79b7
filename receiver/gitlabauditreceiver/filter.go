// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"path"
	"sync"
)

// typeFilter applies event_types include/exclude to canonical event types.
// Decisions are cached per type: the set of types is small.
type typeFilter struct {
	include, exclude []string
	cache            sync.Map // type → bool
}

func newTypeFilter(cfg EventTypesConfig) *typeFilter {
	if len(cfg.Include) == 0 && len(cfg.Exclude) == 0 {
		return nil
	}
	return &typeFilter{include: cfg.Include, exclude: cfg.Exclude}
}

// keep reports whether events of type t are kept. A nil filter keeps all.
func (f *typeFilter) keep(t string) bool {
	if f == nil {
		return true
	}
	if v, ok := f.cache.Load(t); ok {
		return v.(bool)
	}
	keep := len(f.include) == 0 || matchAny(f.include, t)
	if keep && matchAny(f.exclude, t) {
		keep = false
	}
	f.cache.Store(t, keep)
	return keep
}

func matchAny(patterns []string, t string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, t); ok {
			return true
		}
	}
	return false
}
