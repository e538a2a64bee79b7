// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.yaml.in/yaml/v3"
)

// The built-in rules as Sigma rules (https://sigmahq.io): `make sigma`
// (go test -run TestSigmaRules -update) writes rules/sigma/ from
// builtinRules and sigma_rules_test.go; TestSigmaRules fails when the
// committed files differ, TestSigmaSchema validates every file against the
// Sigma specification's JSON schemas (testdata/sigma, public domain), and
// TestSigmaMatchesFixtures runs every single-event Sigma rule against the
// rule's fixtures.

// sigmaDir is where the Sigma rules are committed.
var sigmaDir = filepath.Join("..", "..", "rules", "sigma")

// sigmaDate is the date written in the Sigma rules (their first release).
const sigmaDate = "2026-12-07"

// sigmaNamespace makes the rules' ids: UUID version 5 of the rule id.
var sigmaNamespace = [16]byte{0x6b, 0x79, 0x72, 0x61, 0x2d, 0x67, 0x69, 0x74, 0x6c, 0x61, 0x62, 0x2d, 0x64, 0x65, 0x74, 0x65}

// Fidelity of a Sigma rule to its gitlab_detect rule.
const (
	fidelityExact    = ""
	fidelityBroader  = "broader"
	fidelityNarrower = "narrower"
)

// sigmaField is one field condition of a search: the field, a Sigma value
// modifier, and values (any of them matches).
type sigmaField struct {
	Field  string
	Mod    string
	Values []any
}

// sigmaSearch is a search identifier: every field condition must hold.
type sigmaSearch struct {
	Name   string
	Fields []sigmaField
}

// sigmaDetection is the detection of a Sigma rule.
type sigmaDetection struct {
	Searches  []sigmaSearch
	Condition string
	Fidelity  string
	// Note says what differs from gitlab_detect, or what to adapt.
	Note string
}

// sigmaDetectionOf returns a stateless rule's detection: its entry in
// sigmaDetections, or its event types when its condition is "always".
func sigmaDetectionOf(t testing.TB, d ruleDef) sigmaDetection {
	if det, ok := sigmaDetections[d.ID]; ok {
		return det
	}
	require.Equal(t, "always", d.Condition, "%s has a condition: give its Sigma form in sigmaDetections", d.ID)
	return sigmaDetection{Searches: []sigmaSearch{sel("selection", typesOf(d.ID))}, Condition: "selection"}
}

// sigmaID is a stable UUID (version 5) for a name.
func sigmaID(name string) string {
	h := sha1.New()
	h.Write(sigmaNamespace[:])
	h.Write([]byte(name))
	u := h.Sum(nil)[:16]
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

var sigmaLevels = map[Severity]string{
	SeverityInfo: "informational", SeverityLow: "low", SeverityMedium: "medium", SeverityHigh: "high", SeverityCritical: "critical",
}

// sigmaTags are the ATT&CK tags of a rule: its tactics (lower case,
// hyphenated, as Sigma's tag appendix writes them) and techniques.
func sigmaTags(d ruleDef) []string {
	var tags []string
	for _, tac := range d.Tactics {
		t := "attack." + strings.ReplaceAll(strings.ToLower(attackTactics[tac].Name), " ", "-")
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	for _, tech := range d.Techniques {
		tags = append(tags, "attack."+strings.ToLower(tech))
	}
	return tags
}

func slug(s string) string {
	s = strings.ToLower(s)
	s = regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(s, "_")
	return strings.Trim(s, "_")
}

func sigmaFileName(d ruleDef) string {
	return strings.ReplaceAll(strings.ToLower(d.ID), "-", "_") + "_" + slug(d.Name) + ".yml"
}

// yaml helpers: a mapping node with keys in the order given.
type ymap struct{ n *yaml.Node }

func newMap() ymap { return ymap{&yaml.Node{Kind: yaml.MappingNode}} }

func (m ymap) set(key string, v any) ymap {
	m.n.Content = append(m.n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, toNode(v))
	return m
}

func toNode(v any) *yaml.Node {
	switch v := v.(type) {
	case ymap:
		return v.n
	case *yaml.Node:
		return v
	case []string:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, s := range v {
			n.Content = append(n.Content, toNode(s))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, s := range v {
			n.Content = append(n.Content, toNode(s))
		}
		return n
	case string:
		n := &yaml.Node{Kind: yaml.ScalarNode, Value: v, Tag: "!!str"}
		return n
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatBool(v), Tag: "!!bool"}
	case int:
		return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.Itoa(v), Tag: "!!int"}
	}
	panic(fmt.Sprintf("toNode: %T", v))
}

func renderYAML(docs ...ymap) string {
	var b bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(4)
		if err := enc.Encode(d.n); err != nil {
			panic(err)
		}
		_ = enc.Close()
	}
	return b.String()
}

// detectionNode renders the detection of a rule.
func detectionNode(det sigmaDetection) ymap {
	m := newMap()
	for _, s := range det.Searches {
		sm := newMap()
		for _, f := range s.Fields {
			key := f.Field
			if f.Mod != "" {
				key += "|" + f.Mod
			}
			if len(f.Values) == 1 {
				sm.set(key, f.Values[0])
			} else {
				sm.set(key, f.Values)
			}
		}
		m.set(s.Name, sm)
	}
	return m.set("condition", det.Condition)
}

func logsource() ymap { return newMap().set("product", "gitlab").set("service", "audit") }

// sigmaRule renders one stateless rule.
func sigmaRule(t testing.TB, d ruleDef) string {
	det := sigmaDetectionOf(t, d)
	desc := d.Description
	if det.Note != "" {
		desc += " " + det.Note
	}
	desc += " Generated from gitlab_detect's " + d.ID + " (" + attackVersion + ")."
	m := newMap().
		set("title", d.Name).
		set("id", sigmaID(d.ID)).
		set("name", strings.ToLower(strings.ReplaceAll(d.ID, "-", "_"))).
		set("status", "experimental").
		set("description", desc).
		set("references", []string{d.Reference}).
		set("author", "KYRA MDR (gitlab_detect "+d.ID+")").
		set("date", sigmaDate).
		set("tags", sigmaTags(d)).
		set("logsource", logsource()).
		set("detection", detectionNode(det)).
		set("fields", []string{sfType, sfUserName, sfClient, sfEntity, sfTarget, sfMessage}).
		set("falsepositives", []string{"Legitimate administration: check who made the change and whether it was planned."}).
		set("level", sigmaLevels[d.Severity])
	return renderYAML(m)
}

// sigmaCorrelation renders a windowed rule as Sigma correlation rules
// over base rules. ok is false for rules Sigma cannot express.
func sigmaCorrelation(d ruleDef, cfg WindowsConfig) (string, bool) {
	name := strings.ToLower(strings.ReplaceAll(d.ID, "-", "_"))
	base := func(id, title string, det sigmaDetection) ymap {
		return newMap().
			set("title", title).
			set("id", sigmaID(d.ID+"/"+id)).
			set("name", id).
			set("status", "experimental").
			set("description", title+": the events "+d.ID+" counts (a base rule of the correlation below).").
			set("author", "KYRA MDR (gitlab_detect "+d.ID+")").
			set("date", sigmaDate).
			set("logsource", logsource()).
			set("detection", detectionNode(det)).
			set("level", "informational")
	}
	corr := func(id, title, typ string, rules []string, groupBy []string, window time.Duration, cond ymap, field string, level, desc string) ymap {
		c := newMap().set("type", typ).set("rules", rules).set("group-by", groupBy).set("timespan", shortDuration(window))
		if field != "" {
			// The specification puts the counted field in the condition;
			// its JSON schema (v2.0.1) also requires it here.
			c.set("field", field)
		}
		c.set("condition", cond)
		m := newMap().
			set("title", title).
			set("id", sigmaID(d.ID+"/"+id)).
			set("name", id).
			set("status", "experimental").
			set("description", desc+" Generated from gitlab_detect's "+d.ID+" with its default window ("+attackVersion+").").
			set("references", []string{d.Reference}).
			set("author", "KYRA MDR (gitlab_detect "+d.ID+")").
			set("date", sigmaDate).
			set("correlation", c)
		return m.set("level", level)
	}
	level := sigmaLevels[d.Severity]
	noBaseline := " gitlab_detect also compares the count with the author's usual peak (baseline) and has a higher threshold for automation accounts: Sigma has neither."
	switch d.Window {
	case windowBruteForce:
		failures := base(name+"_failed_sign_in", "Failed GitLab sign-in", sigmaDetection{Searches: []sigmaSearch{sel("selection", types(loginFailureTypes...))}, Condition: "selection"})
		success := base(name+"_successful_sign_in", "Successful GitLab sign-in", sigmaDetection{Searches: []sigmaSearch{sel("selection", types(loginSuccessTypes...))}, Condition: "selection"})
		many := corr(name+"_failures", "Many failed GitLab sign-ins of one account", "event_count", []string{name + "_failed_sign_in"},
			[]string{sfTargetID}, cfg.BruteForce.Window, newMap().set("gte", cfg.BruteForce.Failures), "", "low",
			"At least "+strconv.Itoa(cfg.BruteForce.Failures)+" failed sign-ins of one account (the user the event targets).")
		then := corr(name, d.Name, "temporal_ordered", []string{name + "_failures", name + "_successful_sign_in"},
			[]string{sfTargetID}, cfg.BruteForce.Window, newMap().set("gte", 2), "", level, d.Description)
		return renderYAML(failures, success, many, then), true
	case windowMassDownload:
		dl := base(name+"_download", "GitLab repository downloaded, exported or cloned", sigmaDetection{Searches: []sigmaSearch{
			sel("selection_download", types("repository_download_operation", "project_export_file_download_started", "public_repository_download_operation")),
			sel("selection_clone", types("repository_git_operation"), mod(sfMessage, "contains", "git-upload-pack")),
		}, Condition: "1 of selection_*"})
		c := corr(name, d.Name, "value_count", []string{name + "_download"}, []string{sfUserID}, cfg.MassDownload.Window,
			newMap().set("field", sfEntity).set("gte", cfg.MassDownload.Count), sfEntity, level, d.Description+noBaseline)
		return renderYAML(dl, c), true
	case windowMassDeletion:
		del := base(name+"_deletion", "GitLab project or group deleted or scheduled for deletion", sigmaDetection{Searches: []sigmaSearch{sel("selection", types(deletionTypes...))}, Condition: "selection"})
		c := corr(name, d.Name, "value_count", []string{name + "_deletion"}, []string{sfUserID}, cfg.MassDeletion.Window,
			newMap().set("field", sfTarget).set("gte", cfg.MassDeletion.Count), sfTarget, level, d.Description+noBaseline)
		return renderYAML(del, c), true
	case windowTokenBurst:
		tok := base(name+"_token", "GitLab access, deploy or agent token created", sigmaDetection{Searches: []sigmaSearch{
			sel("selection", types(tokenTypes...)),
			sel("filter_failed", mod(sfMessage, "startswith", "Attempted to create")),
		}, Condition: "selection and not filter_failed"})
		c := corr(name, d.Name, "event_count", []string{name + "_token"}, []string{sfUserID}, cfg.TokenBurst.Window,
			newMap().set("gte", cfg.TokenBurst.Count), "", level, d.Description+noBaseline)
		return renderYAML(tok, c), true
	}
	// The geo rules compare an event with the user's places over days:
	// no Sigma correlation type keeps such a history.
	return "", false
}

// generateSigma returns the Sigma files, by name.
func generateSigma(t testing.TB) map[string]string {
	out := map[string]string{}
	cfg := defaultConfig()
	for _, d := range builtinRules {
		if d.Window == windowNone {
			out[sigmaFileName(d)] = sigmaRule(t, d)
			continue
		}
		if s, ok := sigmaCorrelation(d, cfg.Windows); ok {
			out[sigmaFileName(d)] = s
		}
	}
	return out
}

// TestSigmaRules: rules/sigma holds exactly what the rules generate.
// `make sigma` rewrites it.
func TestSigmaRules(t *testing.T) {
	want := generateSigma(t)
	if *update {
		require.NoError(t, os.MkdirAll(sigmaDir, 0o755))
		old, _ := filepath.Glob(filepath.Join(sigmaDir, "*.yml"))
		for _, f := range old {
			require.NoError(t, os.Remove(f))
		}
		for name, content := range want {
			require.NoError(t, os.WriteFile(filepath.Join(sigmaDir, name), []byte(content), 0o644))
		}
	}
	have, err := filepath.Glob(filepath.Join(sigmaDir, "*.yml"))
	require.NoError(t, err)
	var names []string
	for _, f := range have {
		names = append(names, filepath.Base(f))
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.Equal(t, want[filepath.Base(f)], string(raw), "%s is out of date: run make sigma", f)
	}
	assert.ElementsMatch(t, sortedKeys(want), names, "rules/sigma lists other rules than the built-in ones: run make sigma")
	// Every single-event rule is there, and the windowed rules Sigma can express.
	for _, d := range builtinRules {
		if d.Window == windowNone || !d.Window.geo() {
			assert.Contains(t, want, sigmaFileName(d), d.ID)
		}
	}
}

// TestSigmaSchema validates every document of every file against the
// Sigma specification's JSON schema: detection rules and correlation
// rules.
func TestSigmaSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	schemas := map[string]*jsonschema.Schema{}
	for _, name := range []string{"sigma-detection-rule-schema.json", "sigma-correlation-rules-schema.json"} {
		f, err := os.Open(filepath.Join("testdata", "sigma", name))
		require.NoError(t, err)
		doc, err := jsonschema.UnmarshalJSON(f)
		require.NoError(t, f.Close())
		require.NoError(t, err)
		require.NoError(t, c.AddResource(name, doc))
		schemas[name], err = c.Compile(name)
		require.NoError(t, err)
	}
	files, err := filepath.Glob(filepath.Join(sigmaDir, "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	documents := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				require.ErrorContains(t, err, "EOF", f)
				break
			}
			documents++
			js, err := json.Marshal(doc)
			require.NoError(t, err)
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
			require.NoError(t, err)
			schema := schemas["sigma-detection-rule-schema.json"]
			if _, ok := doc["correlation"]; ok {
				schema = schemas["sigma-correlation-rules-schema.json"]
			}
			assert.NoError(t, schema.Validate(inst), "%s: %v", f, doc["title"])
			assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, doc["id"])
		}
	}
	t.Logf("%d files, %d documents valid", len(files), documents)
}

// TestSigmaSchemaRejects: the schemas do reject what is not a Sigma rule.
func TestSigmaSchemaRejects(t *testing.T) {
	c := jsonschema.NewCompiler()
	f, err := os.Open(filepath.Join("testdata", "sigma", "sigma-detection-rule-schema.json"))
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, f.Close())
	require.NoError(t, err)
	require.NoError(t, c.AddResource("d.json", doc))
	s, err := c.Compile("d.json")
	require.NoError(t, err)
	for name, bad := range map[string]string{
		"no detection":    `{"title":"x","logsource":{"product":"gitlab"}}`,
		"unknown level":   `{"title":"x","logsource":{},"detection":{"condition":"a","a":{"f":"v"}},"level":"severe"}`,
		"tag not a tag":   `{"title":"x","logsource":{},"detection":{"condition":"a","a":{"f":"v"}},"tags":["T1078"]}`,
		"no condition":    `{"title":"x","logsource":{},"detection":{"a":{"f":"v"}}}`,
		"date not a date": `{"title":"x","logsource":{},"detection":{"condition":"a","a":{"f":"v"}},"date":"2026/12/07"}`,
	} {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		require.NoError(t, err)
		assert.Error(t, s.Validate(inst), name)
	}
}

// TestSigmaMatchesFixtures runs each single-event Sigma rule on the
// records of its rule's fixtures, as the receiver would deliver them, and
// compares with what gitlab_detect decided.
func TestSigmaMatchesFixtures(t *testing.T) {
	for _, d := range builtinRules {
		if d.Window != windowNone {
			continue
		}
		det := sigmaDetectionOf(t, d)
		f := loadFixture(t, d.ID)
		for _, c := range f.Cases {
			t.Run(d.ID+"/"+c.Name, func(t *testing.T) {
				_, lrs := newLogs()
				lr := appendEvent(t, lrs, c.Event, viaReceiver)
				for k, v := range c.Enrichment {
					require.NoError(t, lr.Attributes().PutEmpty(k).FromRaw(v))
				}
				got := sigmaEval(t, det, lr)
				switch det.Fidelity {
				case fidelityExact:
					assert.Equal(t, c.Match, got, "Sigma and gitlab_detect disagree")
				case fidelityBroader:
					if c.Match {
						assert.True(t, got, "a broader Sigma rule must match what gitlab_detect matches")
					}
				case fidelityNarrower:
					if got {
						assert.True(t, c.Match, "a narrower Sigma rule must match only what gitlab_detect matches")
					}
				}
			})
		}
	}
}

// TestSigmaCorrelationBaseRules: the base rules of the correlations match
// the events the windowed rules count, on the windowed rules' fixtures.
func TestSigmaCorrelationBaseRules(t *testing.T) {
	for _, d := range builtinRules {
		if d.Window == windowNone || d.Window.geo() {
			continue
		}
		doc, ok := sigmaCorrelation(d, defaultConfig().Windows)
		require.True(t, ok)
		dets := baseDetections(t, doc)
		f := loadFixture(t, d.ID)
		for _, s := range f.Sequences {
			for _, batch := range s.Batches {
				for _, raw := range batch {
					_, lrs := newLogs()
					lr := appendEvent(t, lrs, raw, viaReceiver)
					typ := attrStr(lr, attrEventType)
					matched := false
					for _, det := range dets {
						matched = matched || sigmaEval(t, det, lr)
					}
					counted := slices.Contains(d.EventTypes, typ)
					if typ == "repository_git_operation" {
						counted = strings.Contains(attrStr(lr, sfMessage), "git-upload-pack")
					}
					if strings.HasPrefix(attrStr(lr, sfMessage), "Attempted to create") {
						counted = false
					}
					assert.Equal(t, counted, matched, "%s %s: %s", d.ID, s.Name, typ)
				}
			}
		}
	}
}

// baseDetections reads the detections of the base rules of a correlation file.
func baseDetections(t *testing.T, doc string) []sigmaDetection {
	var out []sigmaDetection
	dec := yaml.NewDecoder(strings.NewReader(doc))
	for {
		var m struct {
			Detection yaml.Node `yaml:"detection"`
		}
		if err := dec.Decode(&m); err != nil {
			break
		}
		if m.Detection.Kind == 0 {
			continue
		}
		out = append(out, parseDetection(t, &m.Detection))
	}
	require.NotEmpty(t, out)
	return out
}

// parseDetection reads a detection node back (the evaluator's input for
// the base rules).
func parseDetection(t *testing.T, n *yaml.Node) sigmaDetection {
	var det sigmaDetection
	for i := 0; i < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		if key == "condition" {
			det.Condition = val.Value
			continue
		}
		s := sigmaSearch{Name: key}
		for j := 0; j < len(val.Content); j += 2 {
			fieldMod := strings.SplitN(val.Content[j].Value, "|", 2)
			f := sigmaField{Field: fieldMod[0]}
			if len(fieldMod) == 2 {
				f.Mod = fieldMod[1]
			}
			v := val.Content[j+1]
			if v.Kind == yaml.SequenceNode {
				for _, e := range v.Content {
					f.Values = append(f.Values, e.Value)
				}
			} else {
				f.Values = []any{v.Value}
			}
			s.Fields = append(s.Fields, f)
		}
		det.Searches = append(det.Searches, s)
	}
	return det
}

// --- a small evaluator of the Sigma used here ---

// sigmaValues returns the field's values on a record, as text: an
// attribute, or a key of the event's details (the top level of a body
// without details, as audit_json.log lines are).
func sigmaValues(lr plog.LogRecord, field string) ([]string, bool) {
	var v pcommon.Value
	var ok bool
	if key, isDetail := strings.CutPrefix(field, "details."); isDetail {
		if lr.Body().Type() == pcommon.ValueTypeMap {
			body := lr.Body().Map()
			m := body
			if d, has := body.Get("details"); has && d.Type() == pcommon.ValueTypeMap {
				m = d.Map()
			}
			v, ok = m.Get(key)
		}
	} else {
		v, ok = lr.Attributes().Get(field)
	}
	if !ok || v.Type() == pcommon.ValueTypeEmpty {
		return nil, false
	}
	if v.Type() == pcommon.ValueTypeSlice {
		var out []string
		for i := 0; i < v.Slice().Len(); i++ {
			out = append(out, v.Slice().At(i).AsString())
		}
		return out, true
	}
	return []string{v.AsString()}, true
}

func sigmaFieldMatch(t *testing.T, f sigmaField, lr plog.LogRecord) bool {
	vals, present := sigmaValues(lr, f.Field)
	switch f.Mod {
	case "exists":
		return present == f.Values[0].(bool)
	case "fieldref":
		other, ok := sigmaValues(lr, fmt.Sprint(f.Values[0]))
		return present && ok && slices.Equal(vals, other)
	}
	for _, have := range vals {
		for _, want := range f.Values {
			w := fmt.Sprint(want)
			switch f.Mod {
			case "":
				if strings.EqualFold(have, w) {
					return true
				}
			case "contains":
				if strings.Contains(strings.ToLower(have), strings.ToLower(w)) {
					return true
				}
			case "startswith":
				if hasPrefixFold(have, w) {
					return true
				}
			case "re":
				if regexp.MustCompile(w).MatchString(have) {
					return true
				}
			default:
				t.Fatalf("modifier %q not supported by the evaluator", f.Mod)
			}
		}
	}
	return false
}

func sigmaEval(t *testing.T, det sigmaDetection, lr plog.LogRecord) bool {
	results := map[string]bool{}
	for _, s := range det.Searches {
		ok := true
		for _, f := range s.Fields {
			ok = ok && sigmaFieldMatch(t, f, lr)
		}
		results[s.Name] = ok
	}
	p := &condParser{toks: tokenize(det.Condition), results: results, t: t}
	v := p.or()
	require.Equal(t, len(p.toks), p.pos, "condition %q not fully read", det.Condition)
	return v
}

func tokenize(s string) []string {
	s = strings.NewReplacer("(", " ( ", ")", " ) ").Replace(s)
	return strings.Fields(s)
}

// condParser evaluates a Sigma condition: and, or, not, parentheses,
// "1 of x_*", "all of x_*" and search identifiers.
type condParser struct {
	toks    []string
	pos     int
	results map[string]bool
	t       *testing.T
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *condParser) next() string { s := p.peek(); p.pos++; return s }

func (p *condParser) or() bool {
	v := p.and()
	for p.peek() == "or" {
		p.next()
		w := p.and()
		v = v || w
	}
	return v
}

func (p *condParser) and() bool {
	v := p.not()
	for p.peek() == "and" {
		p.next()
		w := p.not()
		v = v && w
	}
	return v
}

func (p *condParser) not() bool {
	if p.peek() == "not" {
		p.next()
		return !p.not()
	}
	return p.atom()
}

func (p *condParser) atom() bool {
	tok := p.next()
	switch tok {
	case "(":
		v := p.or()
		require.Equal(p.t, ")", p.next())
		return v
	case "1", "all":
		require.Equal(p.t, "of", p.next())
		pattern := p.next()
		var names []string
		for name := range p.results {
			if ok, _ := filepath.Match(pattern, name); ok {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		require.NotEmpty(p.t, names, "no search matches %q", pattern)
		for _, n := range names {
			if p.results[n] && tok == "1" {
				return true
			}
			if !p.results[n] && tok == "all" {
				return false
			}
		}
		return tok == "all"
	}
	v, ok := p.results[tok]
	require.True(p.t, ok, "unknown search identifier %q", tok)
	return v
}

// TestSigmaEvaluator checks the evaluator itself on hand-made records.
func TestSigmaEvaluator(t *testing.T) {
	_, lrs := newLogs()
	lr := lrs.AppendEmpty()
	lr.Attributes().PutStr(sfType, "member_created")
	lr.Attributes().PutStr(sfUserID, "7")
	lr.Attributes().PutStr(sfTargetID, "7")
	lr.Attributes().PutEmptySlice("gitlab.token.scopes").AppendEmpty().SetStr("api")
	details := lr.Body().SetEmptyMap().PutEmptyMap("details")
	details.PutBool("to", false)
	details.PutStr("as", "Default role: Owner")
	for _, tt := range []struct {
		det  sigmaDetection
		want bool
	}{
		{sigmaDetection{Searches: []sigmaSearch{sel("s", eq(sfType, "MEMBER_CREATED"))}, Condition: "s"}, true},
		{sigmaDetection{Searches: []sigmaSearch{sel("s", eq(sfTo, sFalse...))}, Condition: "s"}, true},
		{sigmaDetection{Searches: []sigmaSearch{sel("s", eq(sfTo, sTrue...))}, Condition: "s"}, false},
		{sigmaDetection{Searches: []sigmaSearch{sel("s", mod(sfAs, "startswith", "default role:"))}, Condition: "s"}, true},
		{sigmaDetection{Searches: []sigmaSearch{sel("s", mod(sfUserID, "fieldref", sfTargetID))}, Condition: "not s"}, false},
		{sigmaDetection{Searches: []sigmaSearch{sel("s", mod(sfErrors, "exists", true))}, Condition: "s"}, false},
		{sigmaDetection{Searches: []sigmaSearch{sel("s", eq("gitlab.token.scopes", "write_repository", "api"))}, Condition: "s"}, true},
		{sigmaDetection{Searches: []sigmaSearch{sel("a_1", eq(sfType, "x")), sel("a_2", eq(sfType, "member_created")), sel("b", eq(sfType, "y"))},
			Condition: "1 of a_* and not b"}, true},
		{sigmaDetection{Searches: []sigmaSearch{sel("a_1", eq(sfType, "x")), sel("a_2", eq(sfType, "member_created"))},
			Condition: "all of a_*"}, false},
		{sigmaDetection{Searches: []sigmaSearch{sel("a", eq(sfType, "x")), sel("b", eq(sfType, "member_created")), sel("c", eq(sfType, "y"))},
			Condition: "(a or b) and not c"}, true},
	} {
		assert.Equal(t, tt.want, sigmaEval(t, tt.det, lr), tt.det.Condition)
	}
	assert.NotEqual(t, sigmaID("GLD-001"), sigmaID("GLD-002"))
	first := sigmaID("GLD-001")
	assert.Equal(t, first, sigmaID("GLD-001"), "stable")
}
