// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// detectProcessor tags GitLab audit events. Rules are indexed by canonical
// event type, so a record costs one type resolution and one map lookup,
// plus the rules of its own type: the cost of a record does not grow with
// the number of rules written for other types.
type detectProcessor struct {
	logger      *zap.Logger
	rulesetName string
	env         ruleEnv
	global      *allowlist
	index       map[string]*typeEntry
	anyType     []*customRule // custom rules without event_types: evaluated on every record
	windows     []*windowRule
	events      sync.Pool // of *event
	tel         *telemetry
	ocsf, ecs   bool // write the OCSF and ECS attributes (schema.go)

	// GeoIP (geoip.go, geo.go): nil without geoip::databases.
	geo         *geoDB
	geoProfiles *geoProfiles

	// Baseline persistence (lifecycle.go).
	id           component.ID
	storageID    *component.ID
	saveInterval time.Duration
	store        storage.Client
	stopSaving   chan struct{}
	savingDone   chan struct{}
}

// typeEntry is what the processor knows about one event type.
type typeEntry struct {
	category string
	ocsf     auditevent.OCSF
	rules    []*statelessRule
	windows  []*windowRule
	custom   []*customRule
}

type statelessRule struct {
	meta  *ruleMeta
	match matchFunc
	grade gradeFunc
	allow *allowlist
}

func newDetectProcessor(cfg *Config, set component.TelemetrySettings) (*detectProcessor, error) {
	cc, err := cfg.compile(set)
	if err != nil {
		return nil, err
	}
	p := &detectProcessor{
		logger:      set.Logger,
		rulesetName: cfg.RulesetName,
		env: ruleEnv{
			privilegedRoles:    lowerSet(cfg.PrivilegedRoles),
			privilegedAccounts: trimmed(cfg.PrivilegedAccounts),
			tokenMaxLifetime:   cfg.TokenMaxLifetime,
		},
		index:        map[string]*typeEntry{},
		storageID:    cfg.Storage,
		saveInterval: cfg.Baseline.SaveInterval,
		ocsf:         cfg.OCSF.Enabled,
		ecs:          cfg.ECS.Enabled,
	}
	if p.tel, err = newTelemetry(set); err != nil {
		return nil, err
	}
	automation := lowerSet(cfg.Automation.Accounts)
	if cfg.GeoIP.enabled() {
		p.geo = newGeoDB(cfg.GeoIP, set.Logger)
		p.geoProfiles = newGeoProfiles(cfg.GeoIP, cfg.Baseline, cfg.Baseline.MaxAuthors)
	}
	p.events.New = func() any { return new(event) }
	// Index keys are canonical names only: a name that is an alias (even a
	// catalogued deprecated twin) misses the index and is resolved.
	for _, ti := range auditevent.All() {
		if auditevent.Canonical(ti.Name) == ti.Name {
			p.index[ti.Name] = &typeEntry{category: string(ti.Category), ocsf: ti.OCSF}
		}
	}

	if p.global, err = newAllowlist(cfg.Allowlist); err != nil {
		return nil, fmt.Errorf("allowlist: %w", err)
	}
	perRule := map[string]*allowlist{}
	for id, al := range cfg.RuleAllowlists {
		if perRule[ruleKey(id)], err = newAllowlist(al); err != nil {
			return nil, fmt.Errorf("rule_allowlists[%q]: %w", id, err)
		}
	}
	disabled, overrides := cc.disabled, cc.overrides
	newMeta := func(order int, id, name, indicator, description, reference string, sev Severity, techniques, tactics []string) *ruleMeta {
		if o, ok := overrides[ruleKey(id)]; ok {
			sev = o
		}
		return &ruleMeta{
			id: id, name: name, indicator: indicator, description: description, reference: reference,
			severity: sev, techniques: techniques, tactics: uniqueStrings(append([]string(nil), tactics...)), order: order,
		}
	}

	for i := range builtinRules {
		d := &builtinRules[i]
		if disabled[ruleKey(d.ID)] || (d.Window.geo() && p.geoProfiles == nil) {
			continue
		}
		meta := newMeta(i, d.ID, d.Name, d.Indicator, d.Description, d.Reference, d.Severity, d.Techniques, d.Tactics)
		allow := perRule[ruleKey(d.ID)]
		if d.Window != windowNone {
			w := newWindowRule(meta, d.Window, cfg.Windows, cfg.Baseline, automation)
			w.allow = allow
			if d.Window.geo() {
				w.geo = p.geoProfiles
			}
			p.windows = append(p.windows, w)
			for _, t := range d.EventTypes {
				e := p.entry(t)
				e.windows = append(e.windows, w)
			}
			continue
		}
		r := &statelessRule{meta: meta, match: d.match, grade: d.grade, allow: allow}
		for _, t := range d.EventTypes {
			e := p.entry(t)
			e.rules = append(e.rules, r)
		}
	}

	for i, c := range cfg.CustomRules {
		if disabled[ruleKey(c.ID)] {
			continue
		}
		sev, seq := cc.custom[i].severity, cc.custom[i].seq
		r := &customRule{
			meta: newMeta(len(builtinRules)+i, c.ID, c.Name, c.Indicator, c.Description, c.Reference, sev,
				append([]string(nil), c.Techniques...), tacticsOf(c.Techniques)),
			types: canonicalTypes(c.EventTypes),
			allow: perRule[ruleKey(c.ID)],
			seq:   seq,
		}
		if len(r.types) == 0 {
			p.anyType = append(p.anyType, r)
			continue
		}
		for _, t := range uniqueStrings(r.types) {
			e := p.entry(t)
			e.custom = append(e.custom, r)
		}
	}
	return p, nil
}

// entry returns the index entry of a type, creating it for types missing
// from the catalogue (newer GitLab versions).
func (p *detectProcessor) entry(typ string) *typeEntry {
	e, ok := p.index[typ]
	if !ok {
		e = &typeEntry{category: string(auditevent.CategoryOf(typ)), ocsf: auditevent.OCSFOf(typ)}
		p.index[typ] = e
	}
	return e
}

func (p *detectProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if err := p.processRecord(ctx, rl, sl, lrs.At(k)); err != nil {
					return ld, err
				}
			}
		}
	}
	return ld, nil
}

// matchBufSize is the number of matches a record can have before the
// match list moves to the heap.
const matchBufSize = 8

func (p *detectProcessor) processRecord(ctx context.Context, rl plog.ResourceLogs, sl plog.ScopeLogs, lr plog.LogRecord) error {
	// e stays on the stack: a record whose type no rule lists costs the
	// type resolution, one map lookup and the category attribute.
	var e event
	e.init(lr)
	typ, fromBody, src, gitlabBody := e.resolveType()
	entry, found := p.index[typ]
	if !found {
		if c := auditevent.Canonical(typ); c != typ {
			typ = c
			entry = p.index[typ]
		}
	}
	e.typ = typ

	category := ""
	if entry != nil {
		category = entry.category
	} else {
		category = string(auditevent.CategoryOf(typ))
	}
	attrs := lr.Attributes()
	attrs.PutStr(attrCategory, category)
	if fromBody && gitlabBody {
		attrs.PutStr(attrEventType, typ)
		attrs.PutStr(attrEventTypeSource, string(src))
	}
	if p.geo != nil {
		p.geo.annotate(&e)
	}

	// The OCSF classification and ECS fields, before the rules: custom
	// rules can read them. Not a GitLab audit event: nothing named it and
	// the body does not look like one (or there is no body).
	p.writeSchema(attrs, &e, entry, typ != "" && (!fromBody || gitlabBody))

	if (entry == nil || (len(entry.rules) == 0 && len(entry.windows) == 0 && len(entry.custom) == 0)) && len(p.anyType) == 0 {
		p.writeDetectionSchema(attrs)
		return nil
	}
	// Rule conditions are called through function values, which would move
	// e to the heap; a pooled copy avoids that allocation.
	ev := p.events.Get().(*event)
	*ev = e
	err := p.detect(ctx, rl, sl, lr, ev, entry)
	if err == nil {
		p.writeDetectionSchema(attrs)
	}
	*ev = event{}
	p.events.Put(ev)
	return err
}

func (p *detectProcessor) detect(ctx context.Context, rl plog.ResourceLogs, sl plog.ScopeLogs, lr plog.LogRecord, e *event, entry *typeEntry) error {
	var buf [matchBufSize]match
	ms := buf[:0]
	g := globalCheck{al: p.global}
	if entry != nil {
		for _, r := range entry.rules {
			ok, adj, note := true, gradeSame, ""
			switch {
			case r.match != nil:
				ok, note = r.match(e, &p.env)
			case r.grade != nil:
				ok, adj, note = r.grade(e, &p.env)
			}
			if ok && !g.allowed(e) && !r.allow.matches(e) {
				m := matchOf(r.meta, note)
				m.severity = adj.apply(m.severity)
				ms = append(ms, m)
			}
		}
		for _, w := range entry.windows {
			// Allowlisted events are neither counted nor tagged.
			if g.allowed(e) || w.allow.matches(e) {
				continue
			}
			switch v := w.observe(e); {
			case v.fire:
				m := matchOf(w.meta, v.note)
				if v.raise {
					m.severity = m.severity.raised()
				}
				ms = append(ms, m)
			case v.suppressed != "":
				// Nothing is lost to tuning: the event keeps the rule's id
				// and indicator, at LOW, with the reason in the note.
				m := matchOf(w.meta, v.note)
				if m.severity > SeverityLow {
					m.severity = SeverityLow
				}
				ms = append(ms, m)
				p.tel.suppressed(ctx, w.meta.id, v.suppressed)
			}
		}
	}
	if (entry != nil && len(entry.custom) > 0) || len(p.anyType) > 0 {
		ce := customEval{ctx: ctx, rl: rl, sl: sl, lr: lr}
		var err error
		if entry != nil {
			ms, err = p.evalCustom(&ce, entry.custom, ms, e, &g)
		}
		if err == nil {
			ms, err = p.evalCustom(&ce, p.anyType, ms, e, &g)
		}
		ce.close()
		if err != nil {
			return err
		}
	}
	if len(ms) > 0 {
		top := writeDetections(lr, ms, p.rulesetName)
		p.tel.detected(ctx, top.severity, top.meta.indicator)
	}
	return nil
}

func (p *detectProcessor) evalCustom(ce *customEval, rules []*customRule, ms []match, e *event, g *globalCheck) ([]match, error) {
	for _, r := range rules {
		ok, err := ce.eval(r)
		if err != nil {
			return ms, fmt.Errorf("custom rule %q: %w", r.meta.id, err)
		}
		if ok && !g.allowed(e) && !r.allow.matches(e) {
			ms = append(ms, matchOf(r.meta, ""))
		}
	}
	return ms, nil
}

// globalCheck evaluates the global allowlist at most once per record.
type globalCheck struct {
	al     *allowlist
	done   bool
	result bool
}

func (g *globalCheck) allowed(e *event) bool {
	if !g.done {
		g.done = true
		g.result = g.al.matches(e)
	}
	return g.result
}

func lowerSet(ss []string) map[string]struct{} {
	m := make(map[string]struct{}, len(ss))
	for _, s := range ss {
		m[strings.ToLower(strings.TrimSpace(s))] = struct{}{}
	}
	return m
}

func trimmed(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

func uniqueStrings(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
