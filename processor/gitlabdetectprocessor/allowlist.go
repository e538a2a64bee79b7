// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
	"net/netip"
	"strings"
)

// allowlist suppresses rules for known-good events. An event matches when
// any entry of any list matches it.
type allowlist struct {
	authors  map[string]struct{} // lower case names, ids, emails
	nets     []netip.Prefix
	groups   []string // clean paths
	projects map[string]struct{}
}

// newAllowlist compiles a validated allowlist; it returns nil when the
// allowlist is empty.
func newAllowlist(cfg AllowlistConfig) (*allowlist, error) {
	if len(cfg.Authors)+len(cfg.IPRanges)+len(cfg.Groups)+len(cfg.Projects) == 0 {
		return nil, nil
	}
	a := &allowlist{authors: map[string]struct{}{}, projects: map[string]struct{}{}}
	for _, s := range cfg.Authors {
		a.authors[strings.ToLower(strings.TrimSpace(s))] = struct{}{}
	}
	for _, s := range cfg.IPRanges {
		p, err := parseIPRange(s)
		if err != nil {
			return nil, err
		}
		a.nets = append(a.nets, p)
	}
	for _, s := range cfg.Groups {
		a.groups = append(a.groups, cleanPath(s))
	}
	for _, s := range cfg.Projects {
		a.projects[cleanPath(s)] = struct{}{}
	}
	return a, nil
}

// matches reports whether the event is allowlisted. A nil allowlist
// matches nothing.
func (a *allowlist) matches(e *event) bool {
	if a == nil {
		return false
	}
	if len(a.authors) > 0 {
		for _, f := range [...]auditevent.Field{fieldAuthorName, fieldAuthorID, fieldAuthorEmail} {
			if s := e.str(f); s != "" {
				if _, ok := a.authors[strings.ToLower(s)]; ok {
					return true
				}
			}
		}
	}
	if len(a.nets) > 0 {
		if addr, err := netip.ParseAddr(strings.TrimSpace(e.str(fieldClientAddress))); err == nil {
			addr = addr.Unmap()
			for _, p := range a.nets {
				if p.Contains(addr) {
					return true
				}
			}
		}
	}
	if len(a.groups) == 0 && len(a.projects) == 0 {
		return false
	}
	paths := [2]string{cleanPath(e.str(fieldEntityPath)), ""}
	if tt := e.str(fieldTargetType); tt == "Project" || tt == "Group" {
		paths[1] = cleanPath(e.str(fieldTargetDetails))
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, ok := a.projects[p]; ok {
			return true
		}
		for _, g := range a.groups {
			if p == g || strings.HasPrefix(p, g+"/") {
				return true
			}
		}
	}
	return false
}
