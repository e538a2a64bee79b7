// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/tick"
)

// States of the destination check (metric attribute status).
const (
	DestinationFound     = "found"
	DestinationNotFound  = "not_found"
	DestinationInactive  = "inactive"
	DestinationUnchecked = "unchecked"
)

// DestinationSettings configure the destination check.
type DestinationSettings struct {
	Client *gitlabapi.Client
	// PublicURL is the address GitLab's destination posts to
	// (stream::public_url); empty: the check cannot tell which destination
	// is this receiver's.
	PublicURL string
	// Groups are the configured groups: their top-level groups hold the
	// group destinations (GitLab keeps destinations on top-level groups).
	Groups []string
	// Admin says whether the token may act as an administrator (instance
	// destinations; an empty instance list means nothing otherwise), and
	// whether that is known yet.
	Admin     func() (admin, known bool)
	Watch     *Watch // nil: no polling alongside
	Interval  time.Duration
	Telemetry *metadata.TelemetryBuilder
	Logger    *zap.Logger
}

// DestinationCheck reads GitLab's audit event streaming destinations, at
// start and every interval, finds the one(s) that deliver to this receiver
// and says what they stream: none, inactive, or found with their filters.
// The stream watch then expects only what they stream; without the
// permission to read them it goes on learning from the stream and says
// once that it cannot check.
type DestinationCheck struct {
	set DestinationSettings

	mu     sync.Mutex
	status string
	said   string
}

// NewDestinationCheck returns the check and registers its gauge.
func NewDestinationCheck(set DestinationSettings) (*DestinationCheck, error) {
	d := &DestinationCheck{set: set, status: DestinationUnchecked}
	tel := set.Telemetry
	return d, tel.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		o.ObserveInt64(tel.GitlabAuditStreamDestination, 1, metric.WithAttributes(attribute.String(metadata.AttrStatus, d.status)))
		return nil
	}, tel.GitlabAuditStreamDestination)
}

// Run checks at once, then every interval, until ctx ends.
func (d *DestinationCheck) Run(ctx context.Context) {
	tick.Every(ctx, d.set.Interval, d.Check, tick.Now())
}

// Status returns the state of the last check.
func (d *DestinationCheck) Status() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// Check reads the destinations once and reports.
func (d *DestinationCheck) Check(ctx context.Context) {
	if d.set.PublicURL == "" {
		d.report(DestinationUnchecked, nil, "set stream::public_url to the address GitLab's destination posts to, so the receiver can find it", nil)
		return
	}
	var all []gitlabapi.Destination
	readable, hidden := 0, []string{}
	for _, g := range rootGroups(d.set.Groups) {
		ds, err := d.set.Client.GroupDestinations(ctx, g)
		switch {
		case errors.Is(err, gitlabapi.ErrNotAllowed):
			hidden = append(hidden, g)
			continue
		case err != nil:
			if ctx.Err() == nil {
				d.set.Logger.Debug("Could not read the streaming destinations of a group", zap.String("group", g), zap.Error(err))
				hidden = append(hidden, g)
			}
			continue
		}
		readable++
		all = append(all, ds...)
	}
	if admin, known := d.set.Admin(); admin && known {
		ds, err := d.set.Client.InstanceDestinations(ctx)
		if err == nil {
			readable++
			all = append(all, ds...)
		} else if ctx.Err() == nil {
			d.set.Logger.Debug("Could not read the instance's streaming destinations", zap.Error(err))
		}
	}
	if ctx.Err() != nil {
		return
	}
	var mine []gitlabapi.Destination
	for _, ds := range all {
		if ds.Category == "http" && sameURL(ds.URL, d.set.PublicURL) {
			mine = append(mine, ds)
		}
	}
	active := 0
	for _, ds := range mine {
		if ds.Active {
			active++
		}
	}
	switch {
	case active > 0:
		d.report(DestinationFound, mine, "", hidden)
	case len(mine) > 0:
		d.report(DestinationInactive, mine, "activate it in GitLab (Group > Settings > Audit events > Streams, or the instance's), and check that GitLab reaches the collector; GitLab may have deactivated it after failed deliveries", hidden)
	case readable > 0:
		d.report(DestinationNotFound, nil, "add a streaming destination posting to stream::public_url with the verification token, or correct stream::public_url", hidden)
	default:
		d.report(DestinationUnchecked, nil, "the token's user may read the destinations only as the Owner of the top-level group or as an administrator", hidden)
	}
}

// report sets the state, the stream watch's expectation, and says what
// changed.
func (d *DestinationCheck) report(status string, mine []gitlabapi.Destination, advice string, hidden []string) {
	if d.set.Watch != nil {
		if status == DestinationUnchecked {
			d.set.Watch.Expect(nil)
		} else {
			d.set.Watch.Expect(NewExpectation(mine))
		}
	}
	var desc []string
	for _, ds := range mine {
		desc = append(desc, describeDestination(ds))
	}
	sort.Strings(desc)
	said := status + "\n" + strings.Join(desc, "\n") + "\n" + strings.Join(hidden, ",")
	d.mu.Lock()
	d.status = status
	changed := said != d.said
	d.said = said
	d.mu.Unlock()
	if !changed {
		return
	}
	fields := []zap.Field{zap.String("public_url", d.set.PublicURL), zap.Strings("destinations", desc)}
	if len(hidden) > 0 {
		fields = append(fields, zap.Strings("groups_not_readable", hidden))
	}
	if advice != "" {
		fields = append(fields, zap.String("what_to_do", advice))
	}
	switch status {
	case DestinationFound:
		d.set.Logger.Info("Found the streaming destination that delivers here; the stream watch expects what it streams", fields...)
	case DestinationUnchecked:
		d.set.Logger.Info("Cannot check which streaming destination delivers here; the stream watch counts as missed only kinds of events the stream has delivered", fields...)
	case DestinationInactive:
		d.set.Logger.Warn("The streaming destination that delivers here is inactive: GitLab streams nothing to it", fields...)
	default:
		d.set.Logger.Warn("No streaming destination delivers here: GitLab streams nothing to this receiver", fields...)
	}
}

// describeDestination says what a destination streams: never its secret.
func describeDestination(ds gitlabapi.Destination) string {
	scope := "instance"
	if ds.Group != "" {
		scope = "group " + ds.Group
	}
	types, namespaces := "every event type", "the whole "+scope
	if len(ds.EventTypes) > 0 {
		types = "event types " + strings.Join(ds.EventTypes, ", ")
	}
	if len(ds.Namespaces) > 0 {
		namespaces = "namespaces " + strings.Join(ds.Namespaces, ", ")
	}
	state := ""
	if !ds.Active {
		state = ", inactive"
	}
	return fmt.Sprintf("%q of %s: %s, %s%s", ds.Name, scope, types, namespaces, state)
}

// rootGroups returns the top-level groups of the configured groups (full
// paths; a numeric id cannot be split and is read as given).
func rootGroups(groups []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range groups {
		root, _, _ := strings.Cut(g, "/")
		if !seen[strings.ToLower(root)] {
			seen[strings.ToLower(root)] = true
			out = append(out, root)
		}
	}
	return out
}

// sameURL compares two URLs as GitLab would post to them: scheme and host
// without case, the default port implied, the path without a trailing
// slash.
func sameURL(a, b string) bool {
	ua, err1 := url.Parse(strings.TrimSpace(a))
	ub, err2 := url.Parse(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return false
	}
	norm := func(u *url.URL) string {
		host := strings.ToLower(u.Hostname())
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
		}
		return strings.ToLower(u.Scheme) + "://" + host + ":" + port + strings.TrimSuffix(u.EscapedPath(), "/") + "?" + u.RawQuery
	}
	return norm(ua) == norm(ub)
}
